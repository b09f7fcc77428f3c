"""Malformed corpora are rejected with a message that names the file, the line and the reason.

Every input in tests/data/bad/ has a row in BAD_INPUTS: the file (or folder) given to
``load_corpus`` and a fragment of the message it must raise, with the folder prefix removed. The
inputs are small files written by hand, binary ones included; line-aligned cases keep their
sibling files beside them. Inputs that look odd but are valid are in the tests after the table.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pytest

from kdemo.data import MAX_CHARS, load_corpus
from kdemo.data.tables import FIELD_LIMIT
from kdemo.errors import KdemoError

BAD = Path(__file__).resolve().parent / "data" / "bad"
TRACEBACK = re.compile(r"Traceback|File \"|line \d+, in |\b[A-Za-z]*(?:Error|Exception)\b|<\w+ object")

BAD_INPUTS: list[tuple[str, str]] = [
    # text and encoding
    ("sep2028.en", "sep2028.de has 4 lines but sep2028.en has 3; line-aligned files must have one translation"),
    ("old_mac.tsv", "old_mac.tsv, line 1: a carriage return (\\r) that does not end a line"),
    ("stray_cr.tsv", "stray_cr.tsv, line 3: a carriage return (\\r) that does not end a line"),
    ("latin1.tsv", "latin1.tsv, line 3: bytes that are not UTF-8 (at byte 23)"),
    ("utf16.tsv", "utf16.tsv is UTF-16 text, not UTF-8 text"),
    ("utf16_nobom.tsv", "utf16_nobom.tsv, line 1: a NUL byte, so this is not UTF-8 text"),
    ("nul_byte.tsv", "nul_byte.tsv, line 3: a NUL byte"),
    ("excel.csv", "excel.csv is a zip archive (an Excel .xlsx or OpenDocument workbook?), not UTF-8 text"),
    ("gzipped.tsv", "gzipped.tsv is gzip-compressed, not UTF-8 text"),
    ("bom_middle.tsv", "bom_middle.tsv, line 3: a byte-order mark (U+FEFF) after the start of the file"),
    ("control_char.tsv", "control_char.tsv, line 2: the control character U+0007"),
    ("empty.tsv", "empty.tsv is empty."),
    ("blank_only.csv", "blank_only.csv is empty."),
    ("header_only.tsv", "header_only.tsv: a header but no rows."),
    # headers
    ("header_trailing_tab.tsv", "header_trailing_tab.tsv, line 1: the header has an empty column name at column 3"),
    ("header_index_col.csv", "header_index_col.csv, line 1: the header has an empty column name at column 1"),
    ("dup_header.tsv", "dup_header.tsv, line 1: columns 2 and 3 of the header: 'de' and 'deu' both mean German (de)"),
    ("dup_header_case.csv", "dup_header_case.csv, line 1: columns 1 and 3 of the header: 'en' and 'EN' both mean English"),
    ("unknown_code.tsv", "unknown_code.tsv, line 1: unknown language code 'xq' in the header (column 2)"),
    ("no_english.tsv", "no_english.tsv, line 1 was read as a header of language codes (id<TAB>de<TAB>fr), and it has "
                       "no 'en' column"),
    ("codes_first_row.tsv", "codes_first_row.tsv, line 1 was read as a header of language codes (de<TAB>fr), and it "
                            "has no 'en' column; kdemo distils from English. If line 1 is data rather than a header"),
    ("word_first_row.tsv", "word_first_row.tsv, line 1: unknown language code 'non' in the header (column 2). Use ISO "
                           "639-1 codes such as en, de, fr, zh. If line 1 is data rather than a header"),
    ("only_english.tsv", "only_english.tsv, line 1: the header (id<TAB>en) has English but no translation column"),
    ("quoted_header.tsv", "quoted_header.tsv, line 1: the header is in double quotes"),
    ("quoted_rows.tsv", "quoted_rows.tsv, line 2: the 'en' cell has CSV quoting"),
    ("semicolon.csv", "semicolon.csv, line 1: the columns seem to be separated by semicolons, but .csv files must "
                      "use commas"),
    ("commas.tsv", "commas.tsv, line 1: the columns seem to be separated by commas, but .tsv files must use tabs"),
    ("header_vs_name.en-fr.tsv", "header_vs_name.en-fr.tsv, line 1: the header (en<TAB>de) does not match the "
                                 "languages in the file name (en-fr)"),
    # rows
    ("ragged.tsv", "ragged.tsv, line 3: 3 columns but the header has 2 (en, de)"),
    ("empty_cell.tsv", "empty_cell.tsv, line 3: the 'de' text is empty"),
    ("ids_repeat.tsv", "ids_repeat.tsv: the id 'row' occurs 60 times (first on lines 2 and 3); ids must be unique"),
    ("empty_id.tsv", "empty_id.tsv, line 3: the id is empty"),
    # headerless files, named for their pair
    ("no_header.tsv", "no_header.tsv has no header: line 1 ('Hello there.<TAB>Hallo.') is not a row of language codes"),
    ("pairs.en-xq.tsv", "pairs.en-xq.tsv has no header, and its name gives the pair en-xq, but 'xq' is not a language "
                        "code kdemo knows"),
    ("talks.de-fr.tsv", "talks.de-fr.tsv: neither column is English ('en')"),
    ("three_cols.en-de.tsv", "three_cols.en-de.tsv, line 1: 3 columns, but a file without a header holds the two "
                             "languages its name gives (en-de)"),
    ("twice.en-eng.tsv", "twice.en-eng.tsv: in the file name, 'en' and 'eng' both mean English (en)"),
    ("headerless_ragged.en-de.tsv", "headerless_ragged.en-de.tsv, line 2: 1 columns but the file name "
                                    "headerless_ragged.en-de.tsv gives 2 (en, de)"),
    # CSV quoting
    ("unclosed_quote.csv", "unclosed_quote.csv, line 2: 1 columns but the header has 2 (en, de). Check for a missing "
                           "or extra comma. The row runs on to line 3: a quote is probably not closed."),
    ("multiline_cell.csv", "multiline_cell.csv, line 2: the 'en' cell runs over lines 2-3"),
    # JSONL
    ("dup_keys_case.jsonl", "dup_keys_case.jsonl, line 2: keys 'en' and 'EN' both mean English (en); keep one."),
    ("dup_keys_code.jsonl", "dup_keys_code.jsonl, line 1: keys 'de' and 'deu' both mean German (de); keep one."),
    ("dup_keys_exact.jsonl", "dup_keys_exact.jsonl, line 1: the key 'en' appears twice in one object"),
    ("value_list.jsonl", "value_list.jsonl, line 3: the 'de' value is a list; every value must be a string."),
    ("value_object.jsonl", "value_object.jsonl, line 1: the 'de' value is an object; every value must be a string."),
    ("value_number.jsonl", "value_number.jsonl, line 2: the 'de' value is a number; every value must be a string."),
    ("value_bool.jsonl", "value_bool.jsonl, line 1: the 'en' value is a boolean; every value must be a string."),
    ("value_null.jsonl", "value_null.jsonl, line 2: the 'de' value is null; every value must be a string."),
    ("id_float.jsonl", "id_float.jsonl, line 1: the id is a number (1.5); an id must be a string or a whole number."),
    ("id_bool.jsonl", "id_bool.jsonl, line 1: the id is a boolean (true); an id must be a string or a whole number."),
    ("id_keys_twice.jsonl", "id_keys_twice.jsonl, line 1: keys 'id' and 'ID' both name the row id; keep one."),
    ("ids_repeat_mixed.jsonl", "ids_repeat_mixed.jsonl: the id '1' occurs 2 times (first on lines 1 and 3)"),
    ("line_is_list.jsonl", "line_is_list.jsonl, line 2: a list, not an object."),
    ("line_is_string.jsonl", "line_is_string.jsonl, line 1: a string, not an object."),
    ("empty_object.jsonl", "empty_object.jsonl, line 1: an empty object."),
    ("json_array.jsonl", "json_array.jsonl, line 1: not valid JSON (Expecting value) (the file looks like one JSON "
                         "document; JSONL needs one object per line)."),
    ("bad_json.jsonl", "bad_json.jsonl, line 2: not valid JSON (Expecting ',' delimiter)."),
    ("unknown_key.jsonl", "unknown_key.jsonl, line 1: the key 'source' is not a language code kdemo knows."),
    ("keys_differ.jsonl", "keys_differ.jsonl, line 2: keys ['en', 'fr'] differ from the first row's ['de', 'en']."),
    ("jsonl_no_en.jsonl", "jsonl_no_en.jsonl, line 1: no 'en' key; kdemo distils from English."),
    ("jsonl_only_en.jsonl", "jsonl_only_en.jsonl, line 1: English but no translation."),
    ("jsonl_empty_text.jsonl", "jsonl_empty_text.jsonl, line 1: the 'de' text is empty."),
    ("escaped_nul.jsonl", "escaped_nul.jsonl, line 2: the 'de' text holds the control character U+0000"),
    ("lone_surrogate.jsonl", "lone_surrogate.jsonl, line 1: the 'en' text holds a lone surrogate U+D83D"),
    # line-aligned files and other extensions
    ("lonely.en", "lonely: line-aligned corpora need an English file and at least one translation"),
    ("dup_lang.en", "dup_lang.deu: files 'dup_lang.de' and 'dup_lang.deu' both mean German (de); keep one."),
    ("stray.en", "stray.txt shares its name with the line-aligned files stray.*, so kdemo reads it as a translation, "
                 "but 'txt' is not a language code"),
    ("gaps.en", "gaps.de, line 2: the 'de' text is empty."),
    ("tabbed.en", "tabbed.de: every line holds a tab, so this looks like a table"),
    ("odd[1].en", "odd[1].de has 1 lines but odd[1].en has 2"),
    ("unknown.json", "unknown.json: kdemo cannot tell the format from the extension '.json'."),
    ("noext", "noext: kdemo cannot tell the format from the extension '(none)'."),
    # folders
    ("folder_mixed", "folder_mixed: b.tsv has languages ['en', 'fr'] but a.tsv has ['de', 'en']"),
    ("folder_nothing", "folder_nothing: no corpus files. kdemo reads .tsv, .csv and .jsonl files"),
    ("folder_dup_ids", "folder_dup_ids: the id 'x2' is used in both a.tsv and b.tsv; ids must be unique"),
    ("folder_bad_inside", "folder_bad_inside/bad.jsonl, line 2: the 'de' value is null"),
    ("folder_aligned_bad", "folder_aligned_bad/b: line-aligned corpora need an English file and at least one"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: (size, sha1), to prove a reader wrote nothing."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("name", "expected"), BAD_INPUTS, ids=[name for name, _ in BAD_INPUTS])
def test_bad_input_is_rejected_with_its_reason(
    name: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    runs.mkdir()
    cache.mkdir()
    monkeypatch.setenv("KDEMO_RUNS", str(runs))
    monkeypatch.setenv("KDEMO_CACHE", str(cache))
    before = _snapshot(BAD)
    field_limit = csv.field_size_limit()
    with pytest.raises(KdemoError) as caught:
        load_corpus(BAD / name)
    message = str(caught.value)
    shown = message.replace(f"{BAD}/", "")
    assert expected in shown
    assert Path(name).stem in shown  # the file or folder is named
    assert not TRACEBACK.search(message), message
    assert _snapshot(BAD) == before
    assert not any(runs.iterdir()) and not any(cache.iterdir())
    assert csv.field_size_limit() == field_limit


def test_every_bad_input_has_a_case() -> None:
    stems = {Path(name).stem for name, _ in BAD_INPUTS}
    files = [p for p in BAD.iterdir()]
    assert len(files) >= 30 and len(BAD_INPUTS) >= 30
    assert not [p.name for p in files if p.stem not in stems]


def test_cell_over_the_field_limit_is_located(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("en,de\nHello.,Hallo.\n" + "a" * (FIELD_LIMIT + 10) + ",b\n", encoding="utf-8")
    field_limit = csv.field_size_limit()
    with pytest.raises(KdemoError, match=r"huge.csv, line 3: the row cannot be read: a cell longer than 4,194,304 "
                                         r"characters. Check for a quote"):
        load_corpus(path)
    assert csv.field_size_limit() == field_limit


def test_quote_never_closed_in_a_big_csv_is_located(tmp_path: Path) -> None:
    path = tmp_path / "runaway.csv"
    path.write_text('en,de\nHello.,Hallo.\n"Bye.,Tschüss.\n' + ("word, " * 100 + "\n") * 8000, encoding="utf-8")
    with pytest.raises(KdemoError, match=r"runaway.csv, line 3: the row cannot be read: a cell longer than 4,194,304 "
                                         r"characters \(it runs on to line \d+\)"):
        load_corpus(path)


# --- inputs that look odd but are valid -----------------------------------------------------------

SEPARATORS = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c"]


def test_unicode_line_separators_stay_inside_a_line(tmp_path: Path) -> None:
    en = [f"English sentence {i}." for i in range(34)]
    de = [f"Deutscher Satz {i}." for i in range(34)]
    for i, sep in enumerate(SEPARATORS):  # at different lines in the two files, so a split would misalign
        en[2 * i] = f"First half{sep}second half {i}."
        de[30 - 3 * i] = f"Erste Hälfte{sep}zweite Hälfte {i}."
    (tmp_path / "y.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    (tmp_path / "y.de").write_text("\n".join(de) + "\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "y.en")
    assert len(corpus) == 34
    assert corpus.texts["en"][0] == "First half second half 0."
    assert corpus.texts["de"][30] == "Erste Hälfte zweite Hälfte 0."
    assert corpus.texts["de"][1] == "Deutscher Satz 1."


def test_unicode_line_separators_in_tsv_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "s.tsv").write_text("en\tde\nOne\u2028two.\tEins\u2029zwei.\nThree.\tDrei.\n", encoding="utf-8")
    assert load_corpus(tmp_path / "s.tsv").texts["en"] == ["One two.", "Three."]
    (tmp_path / "s.jsonl").write_text('{"en": "One\u2028two.", "de": "Eins\u0085zwei."}\n', encoding="utf-8")
    assert load_corpus(tmp_path / "s.jsonl").texts["de"] == ["Eins zwei."]


def test_crlf_and_mixed_line_endings(tmp_path: Path) -> None:
    (tmp_path / "w.tsv").write_bytes("\ufeffid\ten\tde\r\nr1\tHello.\tHallo.\r\nr2\tBye.\tTschüss.\n".encode())
    corpus = load_corpus(tmp_path / "w.tsv")
    assert corpus.ids == ["r1", "r2"] and corpus.texts["de"] == ["Hallo.", "Tschüss."]
    (tmp_path / "w.csv").write_bytes(b'en,de\r\n"Hello, you.",Hallo.\r\n')
    assert load_corpus(tmp_path / "w.csv").texts["en"] == ["Hello, you."]
    (tmp_path / "w.jsonl").write_bytes(b'{"en": "One.", "de": "Eins."}\r\n{"en": "Two.", "de": "Zwei."}\r\n')
    assert load_corpus(tmp_path / "w.jsonl").texts["en"] == ["One.", "Two."]
    (tmp_path / "n.en").write_bytes(b"One.\r\nTwo.\r\n")
    (tmp_path / "n.de").write_bytes(b"Eins.\nZwei.")
    assert load_corpus(tmp_path / "n.en").texts["de"] == ["Eins.", "Zwei."]


def test_jsonl_ids_may_be_integers(tmp_path: Path) -> None:
    rows = [{"id": 7, "en": "One.", "de": "Eins."}, {"ID": "x8", "EN": "Two.", "deu": "Zwei."}]
    (tmp_path / "i.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "i.jsonl")
    assert corpus.ids == ["7", "x8"] and corpus.texts["de"] == ["Eins.", "Zwei."]


@pytest.mark.parametrize("stem", ["x[1]", "a*b?", "[de]"])
def test_glob_characters_in_line_aligned_names(tmp_path: Path, stem: str) -> None:
    (tmp_path / f"{stem}.en").write_text("One.\nTwo.\n", encoding="utf-8")
    (tmp_path / f"{stem}.de").write_text("Eins.\nZwei.\n", encoding="utf-8")
    (tmp_path / "x1.fr").write_text("Un.\n", encoding="utf-8")  # what the glob "x[1].*" would have matched
    corpus = load_corpus(tmp_path / f"{stem}.en")
    assert corpus.languages == ("de",) and corpus.ids[0] == f"{stem}-00001"


def test_megabyte_cell_is_truncated_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("en,de\n" + "word " * 200_000 + ",Wort.\nHello.,Hallo.\n", encoding="utf-8")
    corpus = load_corpus(path)
    assert len(corpus.texts["en"][0]) == MAX_CHARS and corpus.texts["en"][1] == "Hello."
    assert any("truncated" in note for note in corpus.notes)


def test_folder_reads_every_line_aligned_pair_and_skips_other_files(tmp_path: Path) -> None:
    for stem, n in (("a", 2), ("b", 3)):
        (tmp_path / f"{stem}.en").write_text("".join(f"{stem} one {i}.\n" for i in range(n)), encoding="utf-8")
        (tmp_path / f"{stem}.de").write_text("".join(f"{stem} eins {i}.\n" for i in range(n)), encoding="utf-8")
    (tmp_path / "README.md").write_text("# about\n", encoding="utf-8")
    (tmp_path / "._a.en").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata beside a copied file
    corpus = load_corpus(tmp_path)
    assert len(corpus) == 5 and corpus.ids[0] == "a-00001" and corpus.ids[-1] == "b-00003"


def test_single_line_aligned_pair_in_a_folder_keeps_folder_ids(tmp_path: Path) -> None:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "train.en").write_text("One.\n", encoding="utf-8")
    (tmp_path / "news" / "train.de").write_text("Eins.\n", encoding="utf-8")
    assert load_corpus(tmp_path / "news").ids == ["news-00001"]


def test_indonesian_column_is_not_the_id_column(tmp_path: Path) -> None:
    (tmp_path / "i.tsv").write_text("id\ten\tind\nr1\tHello.\tHalo.\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "i.tsv")
    assert corpus.ids == ["r1"] and corpus.texts["id"] == ["Halo."]


def test_headerless_named_file_whose_first_row_is_short_words(tmp_path: Path) -> None:
    (tmp_path / "short.en-fr.tsv").write_text("no\tnon\nYes.\tOui.\n", encoding="utf-8")
    assert load_corpus(tmp_path / "short.en-fr.tsv").texts["fr"] == ["non", "Oui."]


def test_tsv_quotes_inside_sentences_are_kept(tmp_path: Path) -> None:
    (tmp_path / "q.tsv").write_text('en\tde\n"Stop!" she said.\t"Halt!", sagte sie.\n"Hi."\t"Hallo."\n', encoding="utf-8")
    assert load_corpus(tmp_path / "q.tsv").texts["en"] == ['"Stop!" she said.', '"Hi."']
