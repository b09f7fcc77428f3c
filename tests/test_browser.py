"""The app in a real browser: Playwright + Debian's Chromium against `python app.py` on localhost.

One server per module, opened on a copy of the shipped demo run. One browser context plays the
visitor who trains (the "owner", whose token lives in its localStorage), another a second visitor.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    runs = tmp_path_factory.mktemp("browser_runs")
    for demo in (ROOT / "trained").glob("demo-*"):
        shutil.copytree(demo, runs / demo.name, ignore=shutil.ignore_patterns("student"))
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", KDEMO_RUNS=str(runs), HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", KDEMO_TEXT_CHARS="4000", KDEMO_UPLOAD_MB="2", KDEMO_UPLOAD_ROWS="40000")
    log = open(tmp_path_factory.mktemp("logs") / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited early, see {log.name}") from None
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("app.py did not answer within 240 s")
    yield {"url": url, "runs": runs, "pid": proc.pid, "log": Path(log.name)}
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _open(browser, server):  # -> Page
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(server["url"])
    page.locator("#compare-summary").get_by_text("sentences").wait_for(timeout=240_000)
    return page


@pytest.fixture(scope="module")
def owner(browser, server):
    """The visitor who trains: one browser context (one localStorage token) for the whole module."""
    page = _open(browser, server)
    yield page
    page.context.close()


@pytest.fixture()
def visitor(browser, server):
    """Somebody else, in a fresh browser context."""
    page = _open(browser, server)
    yield page
    page.context.close()


def _points_js(elem_id: str) -> str:
    return f"""() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');
            if (!el || !el._fullData) return 0;
            return el._fullData.reduce((n, t) => n + (t.x && t.x.length ? t.x.length : 0), 0); }}"""


def _plot_json(page, elem_id: str) -> str:
    return page.evaluate(f"""() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');
        return el && el._fullData ? JSON.stringify(el._fullData.map(t => [t.x, t.y])) : ''; }}""")


def _wait_points(page, elem_id: str, at_least: int, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(f"() => ({_points_js(elem_id)})() >= {at_least}", timeout=timeout_ms)


def _wait_text(page, selector: str, text: str, timeout_ms: int) -> None:
    """Wait until the element's visible text contains ``text`` (Gradio tables render cells lazily)."""
    page.wait_for_function("([sel, text]) => { const el = document.querySelector(sel); return el && el.innerText.includes(text); }",
                           arg=[selector, text], timeout=timeout_ms)


def _rows(page, elem_id: str) -> list[list[str]]:
    """The body cells of a Gradio dataframe (rendered as div rows with grid cells)."""
    return page.evaluate(f"""() => [...document.querySelectorAll('#{elem_id} div[role=row]')]
        .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))""")


def _toast(page, text: str, timeout_ms: int = 30_000) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout_ms)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_compare_renders_map_and_tables(visitor) -> None:
    summary = visitor.locator("#compare-summary")
    assert "39 sentences" in summary.inner_text()
    _wait_points(visitor, "compare-map", 39)
    pairs = visitor.locator("#compare-pairs")
    for pair in ("en–de", "en–zh", "en–ar"):
        assert pairs.get_by_text(pair).count() >= 1
    assert visitor.locator("#compare-heatmaps .js-plotly-plot").count() == 1
    visitor.get_by_label("Your text").check()
    visitor.locator("#compare-text textarea").fill("en: Hello there.\nthis line has no tag")
    visitor.locator("#compare-btn").click()
    _toast(visitor, "Line 2: write 'lang: sentence'")
    visitor.locator("#compare-text textarea").fill("en: A very long line.\nde: Eine sehr lange Zeile.\n" * 100)
    visitor.locator("#compare-btn").click()
    _toast(visitor, "the limit here is 4,000")
    assert "Traceback" not in visitor.content()


@pytest.mark.parametrize(("lang", "row"), [("de", 3), ("zh", 7)])
def test_search_finds_the_english_sentence_from_another_language(visitor, lang: str, row: int) -> None:
    """A German and a Chinese sentence of the built-in test split find their English original in the student's top 3."""
    from kdemo.data import builtin_split, load_corpus

    test = builtin_split(load_corpus("builtin"))[1]
    query, english = test.texts[lang][row], test.texts["en"][row]
    visitor.get_by_role("tab", name="Search").click()
    visitor.locator("#search-query textarea, #search-query input").first.fill(query)
    visitor.locator("#search-btn").click()
    _wait_text(visitor, "#search-results", "student", 120_000)
    visitor.wait_for_function("() => document.querySelector('#search-summary').innerText.includes('English sentences')", timeout=120_000)
    rows = _rows(visitor, "search-results")
    student_top3 = [row[3] for row in rows[:3]]
    teacher_top3 = [row[1] for row in rows[:3]]
    assert english in student_top3, (query, english, student_top3)
    assert all(teacher_top3)  # the teacher's list is shown beside it


def _start_run(page, steps: str, languages: tuple[str, ...] = ("de", "zh"), english: bool = False, every: str = "8") -> None:
    """A run of the small teacher copy (the default student is covered by the demo run's tests)."""
    page.get_by_role("tab", name="Train").click()
    _pick(page, "train-student", "teacher-copy")
    page.locator("#train-corpus").get_by_label("Built-in").check()
    langs = page.locator("#train-langs")
    for box in langs.get_by_role("checkbox").all():
        name = box.evaluate("el => el.parentElement.innerText.trim()")
        if (name in languages) != box.is_checked():
            box.click()
    page.locator("#train-budget-kind").get_by_label("steps").check()
    page.locator("#train-budget input").fill(steps)
    page.locator("#train-advanced").get_by_text("Advanced").first.click()
    english_box = page.locator("#train-english input[type=checkbox]")
    if english_box.is_checked() != english:
        english_box.click()
    page.locator("#train-eval-every input").fill(every)
    page.locator("#start-btn").click()


def test_a_short_run_shows_live_metrics_replay_and_the_card(owner, server) -> None:
    _start_run(owner, "40")
    status = owner.locator("#train-status")
    status.get_by_text(re.compile(r"step [1-9]")).wait_for(timeout=300_000)
    first = owner.evaluate(f"({_points_js('loss-plot')})()")
    owner.wait_for_function("() => /step (1[6-9]|[2-9][0-9])/.test(document.querySelector('#train-status').innerText)", timeout=180_000)
    assert owner.evaluate(f"({_points_js('loss-plot')})()") > first  # the loss curve moved
    _wait_points(owner, "live-plot", 6)  # at least two evaluations of the headline metrics
    # The replay during the run: two or more frames; going back to the first redraws the map.
    owner.wait_for_function("() => Number(document.querySelector('#train-replay-slider input[type=number]').max) >= 2",
                            timeout=120_000)
    latest = _plot_json(owner, "train-replay-map")
    slider = owner.locator("#train-replay-slider input[type=number]")
    slider.fill("0")
    slider.press("Enter")
    owner.wait_for_function("(before) => { const el = document.querySelector('#train-replay-map .js-plotly-plot');"
                            " return el && el.layout && el.layout.title && el.layout.title.text.startsWith('Step 0'); }",
                            arg=latest, timeout=30_000)
    assert _plot_json(owner, "train-replay-map") != latest
    _wait_text(owner, "#result-table", "student after", 300_000)
    card = owner.locator("#result-table").inner_text()
    assert "teacher" in card and "student before (alone)" in card and "agreement" in card
    assert "Saved as" in status.inner_text()
    runs = [p for p in server["runs"].iterdir() if not p.name.startswith(".") and not p.name.startswith("demo-")]
    assert len(runs) == 1 and (runs[0] / "student" / "modules.json").exists() and (runs[0] / "probe.npz").exists()
    # After the run: the replay still moves.
    slider.fill("1")
    slider.press("Enter")
    owner.wait_for_function("() => document.querySelector('#train-replay-map .js-plotly-plot').layout.title.text.startsWith('Step 8')",
                            timeout=30_000)


def _pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()


def test_failures_table_lists_pairs_and_a_click_fills_compare(owner, server) -> None:
    run_id = next(p.name for p in server["runs"].iterdir() if not p.name.startswith((".", "demo-")))
    owner.get_by_role("tab", name="Inspect").click()
    _wait_text(owner, "#failures-table", "found instead", 60_000)  # the preselected demo run, filled at page load
    demo_rows = owner.locator("#failures-table").inner_text()
    _pick(owner, "inspect-run", run_id)
    owner.wait_for_function("(before) => { const t = document.querySelector('#failures-table').innerText;"
                            " return t !== before && t.includes('found instead'); }", arg=demo_rows, timeout=60_000)
    time.sleep(1.0)  # let the new rows finish rendering before one is read and clicked
    _wait_text(owner, "#failures-table", "found instead", 60_000)
    english = _rows(owner, "failures-table")[0][1]
    owner.locator("#failures-table div[role=row] [role=gridcell]").nth(2).click()
    owner.wait_for_function("() => document.querySelector('#compare-text textarea') && "
                            "document.querySelector('#compare-text textarea').value.startsWith('en: ')", timeout=60_000)
    assert english.strip()[:20] in owner.locator("#compare-text textarea").input_value()
    _wait_text(owner, "#compare-summary", "your sentences", 60_000)


def test_limits_and_refusals_in_the_train_form(visitor, tmp_path: Path) -> None:
    visitor.get_by_role("tab", name="Train").click()
    visitor.locator("#train-corpus").get_by_label("Upload").check()
    big = tmp_path / "big.tsv"
    big.write_text("en\tde\n" + "".join(f"Sentence number {i} is here.\tSatz Nummer {i} ist hier.\n" for i in range(60_000)),
                   encoding="utf-8")
    visitor.locator("#train-upload input[type=file]").set_input_files(str(big))
    visitor.locator("#train-upload").get_by_text("big.tsv").first.wait_for(timeout=60_000)
    visitor.locator("#start-btn").click()
    _toast(visitor, "the limit here is 2 MB")
    visitor.locator("#train-corpus").get_by_label("datasets id").check()
    visitor.locator("#train-hf input, #train-hf textarea").first.fill("csv")
    visitor.locator("#start-btn").click()
    _toast(visitor, "'csv' is not a datasets id")
    assert "Traceback" not in visitor.content()


def test_cancel_during_embedding_stops_the_cpu_within_two_seconds(owner, server, tmp_path: Path) -> None:
    owner.reload()
    owner.locator("#compare-summary").get_by_text("sentences").wait_for(timeout=120_000)
    owner.get_by_role("tab", name="Train").click()
    owner.locator("#train-corpus").get_by_label("Upload").check()
    upload = tmp_path / "many.tsv"  # 1.6 MB: under the 2 MB limit, minutes of teacher embedding
    upload.write_text("en\tde\n" + "".join(f"Row {i} says something new about topic {i % 97}.\tZeile {i} sagt etwas.\n"
                                            for i in range(24_000)), encoding="utf-8")
    assert upload.stat().st_size < 2e6
    owner.locator("#train-upload input[type=file]").set_input_files(str(upload))
    owner.locator("#train-upload").get_by_text("many.tsv").first.wait_for(timeout=60_000)
    owner.locator("#start-btn").click()
    owner.wait_for_timeout(1000)
    errors = [t for t in owner.locator(".toast-body").all_inner_texts() if t.startswith("Error")]
    assert not errors, errors
    owner.locator("#train-status").get_by_text("Embedding English").wait_for(timeout=120_000)
    owner.wait_for_timeout(3000)  # well inside the embedding
    clicked = time.time()
    owner.locator("#cancel-btn").click()
    owner.locator("#train-status").get_by_text("nothing was saved").wait_for(timeout=10_000)
    assert time.time() - clicked < 3.0  # the status says so within 2 s (plus the 1 s refresh)
    before = _cpu_seconds(server["pid"])
    time.sleep(2.0)
    assert _cpu_seconds(server["pid"]) - before < 0.6  # the server is idle again


def test_a_run_belongs_to_the_browser_that_started_it(owner, visitor, server) -> None:
    owned = next(p.name for p in server["runs"].iterdir() if not p.name.startswith((".", "demo-")))
    # Someone else cannot delete it...
    visitor.get_by_role("tab", name="Runs").click()
    _pick(visitor, "runs-run", owned)
    visitor.locator("#runs-confirm input").check()
    visitor.locator("#delete-btn").click()
    _toast(visitor, "Only the person who trained")
    assert (server["runs"] / owned).exists()
    # ...nor cancel a run in progress, which its owner still can after a reload.
    _start_run(owner, "100000", languages=("de",), every="1000")
    owner.locator("#train-status").get_by_text(re.compile(r"step [1-9]")).wait_for(timeout=300_000)
    visitor.get_by_role("tab", name="Train").click()
    visitor.locator("#train-status").get_by_text("Someone else's run").wait_for(timeout=30_000)
    assert not visitor.locator("#cancel-btn").is_enabled()
    owner.reload()
    owner.get_by_role("tab", name="Train").click()
    owner.locator("#train-status").get_by_text("Your run").wait_for(timeout=60_000)
    owner.wait_for_function("() => !document.querySelector('#cancel-btn').disabled", timeout=30_000)
    owner.locator("#cancel-btn").click()
    owner.locator("#train-status").get_by_text("nothing was saved").wait_for(timeout=30_000)
    # The owner deletes their saved run after the reload.
    owner.get_by_role("tab", name="Runs").click()
    _wait_text(owner, "#runs-table", "✓", 30_000)
    _pick(owner, "runs-run", owned)
    owner.locator("#runs-confirm input").check()
    owner.locator("#delete-btn").click()
    _toast(owner, f"Deleted {owned}")
    assert not (server["runs"] / owned).exists()


def test_runs_lists_and_downloads_the_demo_student(visitor, tmp_path: Path) -> None:
    visitor.get_by_role("tab", name="Runs").click()
    _wait_text(visitor, "#runs-table", "demo", 30_000)
    visitor.locator("#download-btn").click()
    link = visitor.locator("#download-file a").first
    link.or_(visitor.locator(".toast-body")).first.wait_for(timeout=180_000)
    assert link.is_visible(), visitor.locator(".toast-body").all_inner_texts()  # an error toast fails at once, with its text
    with visitor.expect_download() as info:
        link.click()
    target = tmp_path / "student.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as z:
        assert "student/modules.json" in z.namelist()
