"""The command line: train, eval on the run's own dev split, runs, reproduce from a saved config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdemo.cli import build_parser, config_from_args, eval_dev, main
from kdemo.data import load_corpus, train_dev_split
from kdemo.runs import list_runs

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, tiny_teacher) -> str:
    folder = tmp_path_factory.mktemp("cli_teacher")
    tiny_teacher.save(str(folder))
    return str(folder)


def _train(teacher_dir: str, student_dir: Path, *extra: str) -> int:
    return main(["train", "--teacher", teacher_dir, "--student", str(student_dir), "--corpus", str(DATA / "tiny.tsv"), "--steps", "2",
                 "--batch-size", "8", "--eval-every", "1", "--english", "", "--precision", "fp32", *extra])


def test_eval_scores_only_the_runs_dev_rows(teacher_dir, tiny_student_dir, capsys) -> None:
    """Trained with seed 7: `kdemo eval` must use the seed-7 split, never rows the run trained on."""
    assert _train(teacher_dir, tiny_student_dir, "--seed", "7", "--name", "seven") == 0
    run = list_runs()[0]
    train, dev = train_dev_split(load_corpus(DATA / "tiny.tsv"), run.config)
    evaluated = eval_dev(run, None, [])
    assert evaluated.ids == dev.ids and not set(evaluated.ids) & set(train.ids)
    other_seed = load_corpus(DATA / "tiny.tsv").split(0.15, 42)[1]
    assert set(other_seed.ids) & set(train.ids)  # what the old hard-coded split would have scored
    capsys.readouterr()
    assert main(["eval", run.run_id]) == 0
    assert f"{len(dev)} rows (seed 7" in capsys.readouterr().out


def test_train_prints_the_report_and_reproduces_from_config(teacher_dir, tiny_student_dir, capsys) -> None:
    assert _train(teacher_dir, tiny_student_dir, "--name", "first") == 0
    out = capsys.readouterr().out
    assert "On the dev split (higher is better)" in out and "English fidelity" in out and "Saved" in out
    run = list_runs()[0]
    args = build_parser().parse_args(["train", "--config", str(run.layout.file("config.json"))])
    assert config_from_args(args) == run.config


def test_errors_are_one_line_and_exit_2(capsys) -> None:
    assert main(["train", "--corpus", "/no/such/file.tsv", "--english", ""]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Corpus not found: /no/such/file.tsv") and "Traceback" not in err
    assert main(["eval", "../etc"]) == 2
