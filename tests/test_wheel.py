"""The built wheel works on its own: package data inside, a server from a fresh venv.

The wheel is built from a copy of the checkout, so the build's ``build/`` and
``*.egg-info`` never appear in the working tree. Installing it downloads the
dependencies from the package registry the first time; pip's cache makes
later runs fast.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parents[1]
PIP_TIMEOUT = 600
PACKAGE_DATA = [
    "qiaoqiao/templates/child/base.html",
    "qiaoqiao/intake/locale/zh_Hans/LC_MESSAGES/messages.po",
    "qiaoqiao/intake/static/child.css",
    "qiaoqiao/mailbox/migrations/versions/0001_first_tables.py",
]
# Left out of the copy that is built: what a build or a test run leaves behind.
_NOT_SOURCE = {".git", "tests", "build", "dist", "data", ".venv", ".pytest_cache", ".hypothesis", ".ci"}


# -- helpers -----------------------------------------------------------------


def clean_env() -> dict[str, str]:
    # Nothing from the test's own virtualenv may leak into the fresh one.
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {name: value for name, value in os.environ.items() if not name.startswith("QIAOQIAO_") and name not in dropped}


def run_checked(args: list, *, timeout: float, cwd: Path | None = None) -> str:
    """Run a command; on failure or timeout the test fails showing everything it printed."""
    try:
        result = subprocess.run(
            [str(arg) for arg in args],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output or ""
        pytest.fail(f"{args} did not finish within {timeout} s:\n{output}")
    if result.returncode != 0:
        pytest.fail(f"{args} ended with status {result.returncode}:\n{result.stdout}")
    return result.stdout


def _ignore_outside_source(folder: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name == "__pycache__" or name.endswith(".egg-info")}
    if Path(folder) == PROJECT:
        ignored |= _NOT_SOURCE.intersection(names)
    return ignored


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
def serving(command: Path, cwd: Path) -> Iterator[str]:
    """Run ``<command> serve`` on a free port; yields its base URL and always stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [str(command), "serve", "--port", str(port)],
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


# -- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(PROJECT, source, ignore=_ignore_outside_source)
    run_checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", root / "dist", source], timeout=PIP_TIMEOUT)
    (built,) = (root / "dist").glob("qiaoqiao-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    folder = tmp_path_factory.mktemp("venv") / "venv"
    run_checked([sys.executable, "-m", "venv", folder], timeout=PIP_TIMEOUT)
    run_checked([folder / "bin" / "python", "-m", "pip", "install", wheel], timeout=PIP_TIMEOUT)
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """An empty working directory outside the checkout."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not folder.resolve().is_relative_to(PROJECT.resolve())
    return folder


# -- tests -------------------------------------------------------------------


def test_wheel_holds_templates_translations_static_files_and_migrations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [name for name in PACKAGE_DATA if name not in names]
    assert not missing, f"missing from {wheel.name}: {missing}"


def test_installed_package_comes_from_the_venv(venv: Path, elsewhere: Path) -> None:
    python = venv / "bin" / "python"
    site_packages = Path(
        run_checked([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=elsewhere, timeout=60).strip()
    )
    printed = run_checked(
        [python, "-c", "import qiaoqiao.mailbox, sys; print(qiaoqiao.mailbox.__file__)"], cwd=elsewhere, timeout=60
    )
    location = Path(printed.strip()).resolve()
    assert location.is_relative_to(site_packages.resolve()), location
    assert not location.is_relative_to(PROJECT.resolve()), location


def test_installed_command_serves_the_setup_page(venv: Path, elsewhere: Path) -> None:
    with serving(venv / "bin" / "qiaoqiao", elsewhere) as base:
        home = httpx.get(base, follow_redirects=False, timeout=10)
        assert home.status_code == 303
        assert home.headers["location"] == "/setup"
        setup = httpx.get(base + "setup", follow_redirects=False, timeout=10)
        assert setup.status_code == 200
        assert 'action="/setup"' in setup.text
        assert "设置" in setup.text
        css = httpx.get(base + "static/child.css", timeout=10)
        assert css.status_code == 200
    assert (elsewhere / "data" / "qiaoqiao.sqlite3").exists()
