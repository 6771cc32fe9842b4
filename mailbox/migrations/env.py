"""Alembic environment: always given an engine by ``qiaoqiao.mailbox.schema``."""

from alembic import context
from sqlmodel import SQLModel

from qiaoqiao.mailbox import tables  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise RuntimeError("run migrations through `qiaoqiao migrate`")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
