"""How long a counsellor waits for the Friday queue and for one letter, with N letters in the box.

Run by hand, never by pytest (the name does not match ``test_*.py``)::

    /tmp/venv/bin/python tests/bench/bench_queue.py                     # 2000 letters, temporary SQLite file
    /tmp/venv/bin/python tests/bench/bench_queue.py --db postgresql+psycopg://postgres@127.0.0.1:5432/qq_bench

The school, its staff and its letters are made through the real domain
functions; the pages are fetched through the real app with real HTTP requests
(Starlette's TestClient, in process: the time is the server's, without a
network). Give ``--db`` an empty database: the schema is created in it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session

from qiaoqiao.crypto import KdfParams
from qiaoqiao.mailbox.lexicon import Lexicon
from qiaoqiao.mailbox.screening import Screener, ScreenerCache
from qiaoqiao.intake.settings import Secret, Settings
from qiaoqiao.mailbox.clock import system_clock
from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.queue import QueueFilters, build_queue, open_mailbox_now
from qiaoqiao.mailbox.schema import migrate
from qiaoqiao.mailbox.schools import create_school
from qiaoqiao.mailbox.staff import login
from qiaoqiao.mailbox.tables import Letter

ADMIN = "zhang"
PASSPHRASE = "sunflowers face the morning"
SLOW_MS = 300.0

# Screening's verdict as it might fall on a real week: most letters routine.
LEVELS = (0, 1, 2, 3)
LEVEL_WEIGHTS = (70, 20, 7, 3)
CATEGORIES = ("homesick", "bullying", "family", "study", "self_harm", "sleep")
SENTENCES = (
    "老师，我好想爸爸妈妈，他们在广东打工，过年才回来。",
    "同桌总是拿走我的橡皮，我不敢跟他说。",
    "今天数学考试我考了九十分，想告诉你。",
    "晚上宿舍熄灯以后，我老是睡不着。",
    "奶奶的腿又疼了，我周末要帮她干活，作业写不完。",
    "有几个同学叫我外号，我很难过。",
    "我想当一名医生，可是我怕自己学不好。",
)
CLASSES = ("三年级一班", "四年级二班", "五年级一班", "六年级三班")
NAMES = ("小明", "小红", "王芳", "李强", "陈静", "刘洋")
ADDRESSEES = ("father", "mother", "both", "guardian")


def machine(engine) -> list[str]:
    """The figures that make the timings comparable between machines."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if engine.dialect.name == "sqlite":
        database = f"SQLite {sqlite3.sqlite_version}"
    else:
        version = ".".join(str(part) for part in engine.dialect.server_version_info or ())
        database = f"{engine.dialect.name} {version}".strip()
    return [
        f"CPU:      {model}",
        f"cores:    {os.cpu_count()} (usable by this process: {usable})",
        f"Python:   {platform.python_implementation()} {platform.python_version()}",
        f"database: {database} ({engine.url.render_as_string(hide_password=True)})",
    ]


def _letter(rng: random.Random) -> tuple[LetterForm, int, str]:
    """One letter's form and the screening level and categories it will get."""
    kind = "parent" if rng.random() < 0.2 else "whisper"
    named = kind == "parent" or rng.random() < 0.375  # about half of all letters, every letter home
    text = "".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 6)))
    form = LetterForm(
        kind=kind,
        text=text,
        sender_name=rng.choice(NAMES) if named else "",
        sender_class=rng.choice(CLASSES) if named else "",
        mood=rng.choice(("", "sad", "homesick", "happy", "worried")),
        addressed_to=rng.choice(ADDRESSEES) if kind == "parent" else "",
    )
    level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
    categories = "" if level == 0 else ",".join(sorted(rng.sample(CATEGORIES, rng.randint(1, 2))))
    if level == 3 and "self_harm" not in categories:
        categories = "self_harm"
    return form, level, categories


def seed(engine, settings: Settings, letters: int, rng: random.Random):
    """A school and ``letters`` letters over the past week; returns the school, admin and its keyring."""
    now = system_clock()
    with Session(engine, expire_on_commit=False) as session:
        school = create_school(
            session=session, name=f"阳光小学 {now:%H%M%S}", admin_username=ADMIN, admin_passphrase=PASSPHRASE,
            kdf=settings.kdf, clock=system_clock,
        ).school
    # Pickup codes cost one Argon2id each; at the real cost seeding 2000
    # letters would take minutes and measure nothing the queue does.
    seeding = Settings(
        database_url=settings.database_url, data_dir=settings.data_dir, secret_key=settings.secret_key,
        kdf=KdfParams.fast_for_tests(),
    ).sealing
    screeners = ScreenerCache(Screener(Lexicon.load()))
    screened = []
    with Session(engine, expire_on_commit=False) as session:
        for _ in range(letters):
            form, level, categories = _letter(rng)
            at = now - timedelta(seconds=rng.uniform(0, 7 * 24 * 3600))
            receipt = submit_letter(session=session, school=school, form=form, sealing=seeding, clock=lambda at=at: at, screeners=screeners)
            screened.append({"id": receipt.letter_id, "level": level, "categories": categories})
        # The spread of levels is set on the rows, so every run has the same batch.
        session.execute(update(Letter), screened)
        session.commit()
        unlocked = login(
            session=session, school_id=school.id, username=ADMIN, passphrase=PASSPHRASE, kdf=settings.kdf, clock=system_clock
        )
        open_mailbox_now(session=session, school=school, clock=system_clock, actor_user_id=unlocked.user.id)
    return school, unlocked


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, list[float], object]:
    """The first (cold) run and ``repeat`` further runs, in milliseconds."""
    started = time.perf_counter()
    result = fn()
    cold = (time.perf_counter() - started) * 1000
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - started) * 1000)
    return cold, runs, result


def line(label: str, cold: float, runs: list[float]) -> str:
    return (
        f"  {label:<34} min {min(runs):8.1f}  median {statistics.median(runs):8.1f}  max {max(runs):8.1f} ms"
        f"   (first, cold: {cold:.1f} ms)"
    )


def http_login(client, school) -> None:
    page = client.get("/staff/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/staff/login",
        data={"csrf": token, "school": school.slug, "username": ADMIN, "passphrase": PASSPHRASE},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise SystemExit(f"logging in through /staff/login failed: HTTP {response.status_code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=2000, help="letters in the mailbox (default 2000)")
    parser.add_argument("--db", default="", help="database URL (default: a temporary SQLite file); give an empty database")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each measurement (default 5)")
    parser.add_argument("--seed", type=int, default=20261127, help="random seed for the letters")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one build_queue (printed anyway when the page is slow)")
    args = parser.parse_args(argv)

    from starlette.testclient import TestClient

    from qiaoqiao.intake.app import create_app

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qq-bench-")))
        url = args.db or sqlite_url(folder)
        settings = Settings(database_url=url, data_dir=folder, secret_key=Secret(os.urandom(32)))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)

        print("bench_queue: the Friday queue page and one letter")
        for text in machine(engine):
            print("  " + text)
        print(f"  letters:  {args.letters} (seed {args.seed}); timed runs: {args.repeat}")
        started = time.perf_counter()
        school, unlocked = seed(engine, settings, args.letters, random.Random(args.seed))
        print(
            f"  seeded in {time.perf_counter() - started:.1f} s through submit_letter, with the pickup-code Argon2id "
            "at KdfParams.fast_for_tests() (seeding only; staff log-in uses the real cost)"
        )

        keyring, user_id = unlocked.keyring, unlocked.user.id

        def domain_queue():
            with Session(engine, expire_on_commit=False) as session:
                return build_queue(session=session, school=school, keyring=keyring, filters=QueueFilters(), clock=system_clock)

        view = domain_queue()
        first_id = view.items[0].letter.id
        print(f"  queue: {view.total} letters in this batch, {view.pages} pages of {len(view.items)}; "
              f"{view.waiting} waiting; letter opened: {first_id} (level {view.items[0].letter.level})")

        def domain_open():
            with Session(engine, expire_on_commit=False) as session:
                return open_letter(
                    session=session, school=school, keyring=keyring, letter_id=first_id, actor_user_id=user_id, clock=system_clock
                )

        app = create_app(settings, engine=engine)
        client = stack.enter_context(TestClient(app))
        http_login(client, school)

        def get(path: str) -> Callable[[], object]:
            def fetch():
                response = client.get(path, follow_redirects=False)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path}: HTTP {response.status_code}")
                return response

            return fetch

        print("HTTP (TestClient, in process):")
        cold, runs, page = timed(get("/staff/"), args.repeat)
        queue_median = statistics.median(runs)
        if page.text.count("data-letter=") != len(view.items):
            raise SystemExit("GET /staff/ did not show the queue's first page")
        print(line("GET /staff/ (queue, page 1)", cold, runs))
        cold, runs, page = timed(get(f"/staff/letters/{first_id}"), args.repeat)
        if 'id="letter-text"' not in page.text:
            raise SystemExit("GET /staff/letters/<id> did not show the letter")
        print(line("GET /staff/letters/<id>", cold, runs))
        print("domain only (one fresh Session each):")
        cold, runs, _ = timed(domain_queue, args.repeat)
        print(line("build_queue", cold, runs))
        cold, runs, _ = timed(domain_open, args.repeat)
        print(line("open_letter", cold, runs))

        if args.profile or queue_median > SLOW_MS:
            if not args.profile:
                print(f"the queue page took over {SLOW_MS:.0f} ms: profiling build_queue")
            profile_queue(domain_queue)
    return 0


def profile_queue(domain_queue: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    domain_queue()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
