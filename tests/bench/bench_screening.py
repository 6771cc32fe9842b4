"""How fast notes are screened, and how long an urgent note takes from the child's submit to the SMTP server.

Run by hand, never by pytest (the name does not match ``test_*.py``)::

    /tmp/venv/bin/python tests/bench/bench_screening.py                 # both parts
    /tmp/venv/bin/python tests/bench/bench_screening.py --notes 50000 --repeat 10
    /tmp/venv/bin/python tests/bench/bench_screening.py --skip-alert    # screening only

Screening: the shipped lexicon is loaded and compiled once (timed), then the
texts of ``tests/data/screening/corpus.jsonl``, repeated, are screened one
after another on one thread pinned to one core.

Alert latency: a real app (``create_app`` with ``run_dispatcher=True``) under
uvicorn on 127.0.0.1 in a thread, an aiosmtpd server, the school's SMTP and
the admin's e-mail channel configured. An urgent note is posted through the
child's real form with httpx; the clock runs from the POST until the SMTP
server holds the alert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))  # receivers.py: the same SMTP server the tests use

import httpx  # noqa: E402
from sqlmodel import Session  # noqa: E402

from qiaoqiao.crypto import KdfParams  # noqa: E402
from qiaoqiao.intake.settings import Secret, Settings  # noqa: E402
from qiaoqiao.mailbox.channels import add_channel, save_alert_settings  # noqa: E402
from qiaoqiao.mailbox.clock import system_clock  # noqa: E402
from qiaoqiao.mailbox.database import make_engine, sqlite_url  # noqa: E402
from qiaoqiao.mailbox.lexicon import Lexicon  # noqa: E402
from qiaoqiao.mailbox.schema import migrate  # noqa: E402
from qiaoqiao.mailbox.schools import create_school  # noqa: E402
from qiaoqiao.mailbox.screening import Screener  # noqa: E402

CORPUS = TESTS / "data" / "screening" / "corpus.jsonl"
URGENT_NOTE = "我不想活了，今晚就从楼顶跳下去"
ADMIN, PASSPHRASE = "zhang", "sunflowers face the morning"


def machine() -> list[str]:
    """The figures that make the timings comparable between machines."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"CPU:      {model}",
        f"cores:    {os.cpu_count()} (usable by this process: {usable})",
        f"Python:   {platform.python_implementation()} {platform.python_version()} ({platform.system()} {platform.machine()})",
    ]


def spread(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    shown = [v * scale for v in values]
    return f"min {min(shown):8.1f} {unit}   median {statistics.median(shown):8.1f} {unit}   max {max(shown):8.1f} {unit}"


# --- screening -----------------------------------------------------------------


def bench_screening(notes: int, repeat: int) -> None:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    batch = (texts * (notes // len(texts) + 1))[:notes]
    chars = sum(len(t) for t in batch) / len(batch)

    started = time.perf_counter()
    lexicon = Lexicon.load()
    loaded = time.perf_counter()
    screener = Screener(lexicon)
    compiled = time.perf_counter()

    pinned, original = "not pinned", None
    if hasattr(os, "sched_setaffinity"):
        original = os.sched_getaffinity(0)
        core = min(original)
        os.sched_setaffinity(0, {core})
        pinned = f"pinned to core {core}"

    for text in texts:  # warm up: first-use caches (pinyin tables, folding)
        screener.screen(text)
    levels = [0, 0, 0, 0]
    for text in texts:
        levels[screener.screen(text).level] += 1

    runs = []
    for _ in range(repeat):
        begin = time.perf_counter()
        for text in batch:
            screener.screen(text)
        runs.append(time.perf_counter() - begin)

    best, median = min(runs), statistics.median(runs)
    print("Screening")
    print(f"  lexicon:  {len(lexicon.risk)} risk terms, {len(lexicon.safe)} safe, {len(lexicon.context)} context, "
          f"{len(lexicon.slang)} slang, {len(lexicon.emoji)} emoji")
    print(f"  patterns: {screener.compiled.patterns} in the Aho-Corasick automaton")
    print(f"  load {1000 * (loaded - started):.0f} ms, compile {1000 * (compiled - loaded):.0f} ms")
    print(f"  corpus:   {len(texts)} notes (levels 0/1/2/3: {'/'.join(map(str, levels))}), "
          f"mean {chars:.0f} characters; {notes} notes per run, {repeat} runs, one thread {pinned}")
    print(f"  median:   {notes / median:9.0f} notes/s   {1e6 * median / notes:7.1f} µs/note")
    print(f"  best:     {notes / best:9.0f} notes/s   {1e6 * best / notes:7.1f} µs/note")
    if original is not None:
        os.sched_setaffinity(0, original)


# --- submit to SMTP -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerThread:
    """uvicorn serving one app on 127.0.0.1 in a thread, until the context ends."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _post_urgent_note(web: httpx.Client, slug: str) -> float:
    """The child's way: open the form, write, send. Returns when the POST started."""
    form = web.get(f"/s/{slug}/write/whisper")
    form.raise_for_status()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    submission = re.search(r'name="submission" value="([^"]+)"', form.text).group(1)
    started = time.perf_counter()
    sent = web.post(
        f"/s/{slug}/write/whisper",
        data={"csrf": csrf, "submission": submission, "text": URGENT_NOTE, "sender_name": "", "sender_class": ""},
    )
    sent.raise_for_status()
    if 'id="safety"' not in sent.text:
        raise RuntimeError("the note did not screen urgent: no safety message on the receipt page")
    return started


def bench_alert(repeat: int, db: str | None, fast_kdf: bool, timeout: float, seed: int) -> None:
    from receivers import MailReceiver

    from qiaoqiao.intake.app import create_app

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qq-bench-")))
        url = db or sqlite_url(folder / "data")
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)
        kdf = KdfParams.fast_for_tests() if fast_kdf else KdfParams()
        port = _free_port()
        settings = Settings(
            database_url=url, data_dir=folder / "data", secret_key=Secret(os.urandom(32)), kdf=kdf,
        ).with_(run_dispatcher=True, public_url=f"http://127.0.0.1:{port}")
        mail = stack.enter_context(MailReceiver())
        key = settings.secret_key.reveal()
        with Session(engine, expire_on_commit=False) as session:
            setup = create_school(
                session=session, name=f"阳光小学 {time.strftime('%H%M%S')}", admin_username=ADMIN,
                admin_passphrase=PASSPHRASE, kdf=kdf, clock=system_clock, first_run=True,
            )
            save_alert_settings(
                session=session, school=setup.school, smtp_password=None, server_key=key, clock=system_clock,
                actor_user_id=setup.admin.id,
                values={
                    "day_start_hour": "0", "day_end_hour": "24", "ack_minutes_level3": "10", "ack_minutes_level2": "60",
                    "smtp_host": "127.0.0.1", "smtp_port": str(mail.port), "smtp_security": "none",
                },
            )
            add_channel(
                session=session, school=setup.school, kind="email", target="zhang@yangguang.example.cn", secret="",
                label="bench", user_id=setup.admin.id, server_key=key, clock=system_clock, actor_user_id=setup.admin.id,
            )
        app = create_app(settings, engine=engine)
        stack.enter_context(ServerThread(app, port))
        web = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30))

        # The dispatcher wakes every 2 s. Sending each note right after the last
        # alert arrived would always land just after a round (the worst case);
        # a random pause puts the notes at random points of the cycle, as children do.
        rng = random.Random(seed)
        posts, totals = [], []
        for _ in range(repeat):
            time.sleep(rng.uniform(0.0, 2.0))
            before = len(mail.envelopes)
            started = _post_urgent_note(web, setup.school.slug)
            posted = time.perf_counter()
            deadline = started + timeout
            while len(mail.envelopes) == before:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no alert reached the SMTP server within {timeout:.0f} s")
                time.sleep(0.002)
            arrived = time.perf_counter()
            posts.append(posted - started)
            totals.append(arrived - started)

        if engine.dialect.name == "sqlite":
            database = f"SQLite {sqlite3.sqlite_version}"
        else:
            database = f"{engine.dialect.name} {'.'.join(map(str, engine.dialect.server_version_info or ()))}"
        print("Urgent note: child's submit → alert at the SMTP server")
        print(f"  setup:    uvicorn + real app on 127.0.0.1:{port}, in-process dispatcher (polls every 2 s), "
              f"aiosmtpd on 127.0.0.1:{mail.port}, {database}")
        print(f"  kdf:      pickup code sealed with Argon2id "
              f"{kdf.memory_kib} KiB × {kdf.iterations} × {kdf.lanes} lanes{' (fast_for_tests)' if fast_kdf else ''}")
        print(f"  runs:     {repeat}, each after a random pause of 0–2 s (seed {seed}), so at a random point of the poll")
        print(f"  POST:     {spread(posts)}   (the child's page back)")
        print(f"  to SMTP:  {spread(totals)}   (from the POST until the server holds the message)")
        print(f"  each:     {', '.join(f'{1000 * t:.0f}' for t in totals)} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=20000, help="notes per screening run (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="screening runs, and urgent notes sent (default 5)")
    parser.add_argument("--db", help="an empty database for the alert part (default: a temporary SQLite file)")
    parser.add_argument("--fast-kdf", action="store_true", help="seal pickup codes at the test suite's Argon2id cost")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses between urgent notes")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one alert (default 30)")
    parser.add_argument("--skip-screening", action="store_true")
    parser.add_argument("--skip-alert", action="store_true")
    args = parser.parse_args(argv)

    print("\n".join(machine()))
    print()
    if not args.skip_screening:
        bench_screening(args.notes, args.repeat)
        print()
    if not args.skip_alert:
        bench_alert(args.repeat, args.db, args.fast_kdf, args.timeout, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
