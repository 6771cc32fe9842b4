"""Shared fixtures: a real database per test (SQLite, and PostgreSQL when configured).

``QIAOQIAO_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) adds a PostgreSQL run
of every database test, each in a database of its own that is dropped
afterwards. With ``QIAOQIAO_REQUIRE_POSTGRES=1`` an unset or unreachable
server fails those tests instead of skipping them.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from qiaoqiao.crypto import KdfParams
from qiaoqiao.intake.settings import Secret, Settings
from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.schema import migrate
from qiaoqiao.mailbox.schools import SetupResult, create_school

PG_URL = os.environ.get("QIAOQIAO_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("QIAOQIAO_REQUIRE_POSTGRES") == "1"
ADMIN_PASSPHRASE = "sunflowers face the morning"


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@functools.lru_cache(maxsize=1)
def shipped_screeners():
    """The screener built from the shipped lexicon, compiled once for the whole test run."""
    from qiaoqiao.mailbox.lexicon import Lexicon
    from qiaoqiao.mailbox.screening import Screener, ScreenerCache

    return ScreenerCache(Screener(Lexicon.load()))


@pytest.fixture
def clock() -> FixedClock:
    # A Wednesday morning in Beijing.
    return FixedClock(datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc))


def _postgres_database() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("QIAOQIAO_REQUIRE_POSTGRES=1 but QIAOQIAO_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set QIAOQIAO_TEST_POSTGRES_URL)")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"qq_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # an unreachable server
        admin.dispose()
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at QIAOQIAO_TEST_POSTGRES_URL is not usable: {type(exc).__name__}")
        pytest.skip("PostgreSQL not reachable")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data")
    else:
        yield from _postgres_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    built = make_engine(database_url)
    migrate(built)
    yield built
    built.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=Secret(b"test server key, never used live"),
        kdf=KdfParams.fast_for_tests(),
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as opened:
        yield opened


@pytest.fixture
def school(session: Session, settings: Settings, clock: FixedClock) -> SetupResult:
    """A school set up the way the first-run page does it."""
    return create_school(
        session=session,
        name="阳光小学",
        admin_username="zhang",
        admin_passphrase=ADMIN_PASSPHRASE,
        kdf=settings.kdf,
        clock=clock,
        first_run=True,
    )


class RecordedSleep:
    """Notes each delay the app asks for instead of waiting it out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def slept() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def client(engine: Engine, settings: Settings, clock: FixedClock, slept: RecordedSleep):
    """The real app over the test database, through Starlette's TestClient."""
    from starlette.testclient import TestClient

    from qiaoqiao.intake.app import create_app

    with TestClient(create_app(settings, engine=engine, clock=clock, sleep=slept)) as test_client:
        yield test_client


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


def page_text(html: str) -> str:
    """What a reader sees: tags and pinyin annotations removed, entities decoded."""
    import html as html_module
    import re

    without_pinyin = re.sub(r"<rt>.*?</rt>", "", html, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", "", without_pinyin))
