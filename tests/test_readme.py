"""The README's two commands are the ones that are run."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL_AND_SERVE = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/qiaoqiao serve"
TEST = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def test_the_readme_gives_both_commands_in_both_languages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(INSTALL_AND_SERVE) == 2
    assert readme.count(TEST) == 2


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI adds -q to pip only; the command is otherwise the README's, word for word.
    assert TEST.replace("pip install -e", "pip install -q -e") in ci
