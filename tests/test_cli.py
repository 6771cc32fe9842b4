"""The installed ``qiaoqiao`` command, run for real in subprocesses.

Every run gets a clean environment (no ``QIAOQIAO_*`` from the developer's
shell) and a temporary working directory, so the default ``./data`` never
lands in the checkout.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.schema import is_current
from qiaoqiao.mailbox.schools import list_schools

QIAOQIAO = Path(sys.executable).parent / "qiaoqiao"
PASSPHRASE = "sunflowers face the morning"
RECOVERY_KEY = re.compile(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){7}")
BAD_URLS = {
    "not-a-url": "::::",
    "unknown-scheme": "nonsense://x",
    "postgres-closed-port": "postgresql+psycopg://nobody@127.0.0.1:1/x",
    # /proc refuses new directories, even to root.
    "sqlite-uncreatable-dir": "sqlite:////proc/qiaoqiao-nowhere/data/qiaoqiao.sqlite3",
}


# -- helpers -----------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("QIAOQIAO_")}
    env.update(extra)
    return env


def run(cwd: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(QIAOQIAO), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_refused(result: subprocess.CompletedProcess) -> str:
    """Exit status 2, one ``qiaoqiao:`` line on stderr, no traceback; returns that line."""
    shown = f"stdout={result.stdout!r} stderr={result.stderr!r}"
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("qiaoqiao: "), shown
    return lines[0]


def recovery_key_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    found = RECOVERY_KEY.search(result.stdout)
    assert found, result.stdout
    return found.group(0)


def school_names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [school.name for school in list_schools(session)]
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pump(stream, lines: queue.Queue) -> None:
    # Drains the pipe for the whole life of the server so it never blocks on a full pipe.
    for line in stream:
        lines.put(line)
    lines.put(None)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 30) -> list[str]:
    """Lines printed until one contains ``needle``; fails with the output if it never comes."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            pytest.fail(f"the server ended (status {proc.wait()}) before printing {needle!r}:\n{''.join(seen)}")
        seen.append(line)
        if needle in line:
            return seen
    pytest.fail(f"no line with {needle!r} within {timeout} s:\n{''.join(seen)}")


def wait_until_answering(url: str, timeout: float = 30) -> None:
    # The address is printed just before uvicorn binds the port.
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, follow_redirects=False, timeout=5)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@contextmanager
def serving(cwd: Path, *args: str) -> Iterator[str]:
    """Run ``qiaoqiao serve`` on a free port; yields its base URL and always stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [str(QIAOQIAO), "serve", "--port", str(port), *args],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_for_line(proc, base)
        wait_until_answering(base)
        yield base
    finally:
        stop(proc)


def assert_setup_gate(base: str) -> None:
    home = httpx.get(base, follow_redirects=False, timeout=10)
    assert home.status_code == 303
    assert home.headers["location"] == "/setup"
    setup = httpx.get(base + "setup", follow_redirects=False, timeout=10)
    assert setup.status_code == 200
    assert 'action="/setup"' in setup.text
    assert "no-store" in setup.headers["cache-control"]


# -- unusable databases ------------------------------------------------------


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
@pytest.mark.parametrize("command", ["migrate", "serve", "init"])
def test_unusable_database_url_ends_with_one_line_and_status_2(tmp_path: Path, command: str, url: str) -> None:
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n", encoding="utf-8")
    extra = ["--school", "阳光小学", "--admin", "zhang", "--passphrase-file", "pass.txt"] if command == "init" else []
    # serve gets a port of its own in case it wrongly goes on to listen.
    extra += ["--port", str(free_port())] if command == "serve" else []
    assert_refused(run(tmp_path, command, "--db", url, *extra))


def test_unusable_database_url_from_the_environment(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", env=clean_env(QIAOQIAO_DATABASE_URL="nonsense://x"))
    assert "nonsense" in assert_refused(result)


def test_db_option_overrides_the_environment(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "chosen")
    result = run(tmp_path, "migrate", "--db", url, env=clean_env(QIAOQIAO_DATABASE_URL="nonsense://x"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chosen" / "qiaoqiao.sqlite3").exists()


# -- where the options go ----------------------------------------------------


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_db_option_before_or_after_the_command(tmp_path: Path, before: bool) -> None:
    url = sqlite_url(tmp_path / "elsewhere")
    args = ["--db", url, "migrate"] if before else ["migrate", "--db", url]
    result = run(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "elsewhere" / "qiaoqiao.sqlite3").exists()
    assert not (tmp_path / "data" / "qiaoqiao.sqlite3").exists()

    refused = ["--db", BAD_URLS["unknown-scheme"], "migrate"] if before else ["migrate", "--db", BAD_URLS["unknown-scheme"]]
    assert_refused(run(tmp_path, *refused))


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_data_option_before_or_after_the_command(tmp_path: Path, before: bool) -> None:
    args = ["--data", "store", "migrate"] if before else ["migrate", "--data", "store"]
    result = run(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "store" / "qiaoqiao.sqlite3").exists()
    assert not (tmp_path / "data").exists()


def test_db_after_the_command_wins_over_db_before(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "later")
    result = run(tmp_path, "--db", BAD_URLS["unknown-scheme"], "migrate", "--db", url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "later" / "qiaoqiao.sqlite3").exists()


# -- migrate -----------------------------------------------------------------


def test_migrate_twice_is_fine(tmp_path: Path) -> None:
    for _ in range(2):
        result = run(tmp_path, "migrate")
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    engine = make_engine(sqlite_url(tmp_path / "data"))
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


# -- init --------------------------------------------------------------------


def test_init_with_a_passphrase_file_prints_a_recovery_key(tmp_path: Path) -> None:
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n", encoding="utf-8")
    result = run(tmp_path, "init", "--school", "阳光小学", "--admin", "zhang", "--passphrase-file", "pass.txt")
    recovery_key_of(result)
    assert "阳光小学" in result.stdout
    assert PASSPHRASE not in result.stdout + result.stderr
    assert school_names(sqlite_url(tmp_path / "data")) == ["阳光小学"]


def test_init_reads_the_passphrase_from_stdin(tmp_path: Path) -> None:
    result = run(tmp_path, "init", "--school", "阳光小学", "--admin", "zhang", input=PASSPHRASE + "\n")
    recovery_key_of(result)
    assert PASSPHRASE not in result.stdout + result.stderr
    assert school_names(sqlite_url(tmp_path / "data")) == ["阳光小学"]


def test_second_init_creates_a_second_school(tmp_path: Path) -> None:
    # Unlike the one-time web setup page, the command may add schools.
    first = run(tmp_path, "init", "--school", "阳光小学", "--admin", "zhang", input=PASSPHRASE)
    second = run(tmp_path, "init", "--school", "希望小学", "--admin", "li", input="another long sentence here")
    assert recovery_key_of(first) != recovery_key_of(second)
    assert sorted(school_names(sqlite_url(tmp_path / "data"))) == sorted(["阳光小学", "希望小学"])


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_weak_passphrase_creates_no_school(tmp_path: Path, via: str) -> None:
    args = ["init", "--school", "阳光小学", "--admin", "zhang"]
    if via == "file":
        (tmp_path / "weak.txt").write_text("short\n", encoding="utf-8")
        weak = run(tmp_path, *args, "--passphrase-file", "weak.txt")
    else:
        weak = run(tmp_path, *args, input="short\n")
    assert "passphrase" in assert_refused(weak)
    assert not RECOVERY_KEY.search(weak.stdout)
    url = sqlite_url(tmp_path / "data")
    assert school_names(url) == []

    recovery_key_of(run(tmp_path, *args, input=PASSPHRASE))
    assert school_names(url) == ["阳光小学"]
    migrated = run(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr


def test_init_with_a_missing_passphrase_file(tmp_path: Path) -> None:
    result = run(tmp_path, "init", "--school", "阳光小学", "--admin", "zhang", "--passphrase-file", "absent.txt")
    assert "absent.txt" in assert_refused(result)


# -- serve -------------------------------------------------------------------


def test_serve_migrates_a_new_sqlite_database_and_leads_to_setup(tmp_path: Path) -> None:
    with serving(tmp_path, "--data", str(tmp_path / "data")) as base:
        assert (tmp_path / "data" / "qiaoqiao.sqlite3").exists()
        assert_setup_gate(base)
        setup = httpx.get(base + "setup", timeout=10)
        assert "设置" in setup.text  # Chinese unless the browser asks otherwise


def test_serve_on_each_database(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, "--db", database_url, "--data", str(tmp_path / "data")) as base:
        assert_setup_gate(base)
    engine = make_engine(database_url)
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


def test_serve_on_a_port_in_use_says_so_and_does_not_claim_to_run(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, "serve", "--port", str(port), "--data", str(tmp_path / "data"))
    line = assert_refused(result)
    assert f"127.0.0.1:{port}" in line
    assert "running" not in result.stdout
