"""Opening the database: the embedded SQLite file or a server such as PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import create_engine


class DatabaseUnusable(Exception):
    """The database URL cannot be used; the message is one line fit for a person."""


def sqlite_url(data_dir: Path) -> str:
    """The embedded default: one file in the data directory."""
    return f"sqlite:///{(Path(data_dir) / 'qiaoqiao.sqlite3').resolve()}"


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the child pages write while staff pages read; a busy timeout
    # makes a second writer wait instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` that has been shown to connect; :class:`DatabaseUnusable` if not."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUnusable("the database URL is not a valid URL") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnusable(f"cannot create the data directory {folder}: {exc.strerror}") from None
    try:
        kwargs = {"connect_args": {"timeout": 10}} if is_sqlite else {"pool_pre_ping": True}
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise DatabaseUnusable(
            f"unsupported database URL scheme '{parsed.drivername}' "
            "(use sqlite:///path or postgresql+psycopg://user@host/db)"
        ) from exc
    if is_sqlite:
        event.listen(engine, "connect", _on_sqlite_connect)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseUnusable(
            f"cannot connect to the database {parsed.render_as_string(hide_password=True)}: {reason}"
        ) from None
    return engine


def is_empty(engine: Engine) -> bool:
    """True when the database has no tables at all (a first start)."""
    return not inspect(engine).get_table_names()
