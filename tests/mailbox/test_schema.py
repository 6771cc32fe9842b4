"""Migrations and models agree, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from qiaoqiao.mailbox import tables  # noqa: F401
from qiaoqiao.mailbox.database import is_empty, make_engine
from qiaoqiao.mailbox.schema import current_revision, head_revision, is_current, migrate


def test_the_migrations_build_exactly_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrate_is_idempotent_and_reports_current(engine):
    migrate(engine)
    assert is_current(engine)
    assert current_revision(engine) == head_revision()


def test_an_empty_database_is_recognised(database_url):
    fresh = make_engine(database_url)
    try:
        assert is_empty(fresh)
        assert current_revision(fresh) is None
        migrate(fresh)
        assert not is_empty(fresh)
    finally:
        fresh.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    from qiaoqiao.mailbox.database import sqlite_url

    engine = make_engine(sqlite_url(tmp_path))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
