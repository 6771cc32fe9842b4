"""`qiaoqiao audit verify`: intact chains pass, an edited one names its first broken event."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.tables import AuditEvent
from test_cli import run


def test_audit_verify_reports_the_first_broken_link(tmp_path: Path):
    data = str(tmp_path / "data")
    for name in ("阳光小学", "希望小学"):
        assert run(tmp_path, "init", "--school", name, "--admin", "zhang", "--data", data, input="sunflowers face the morning\n").returncode == 0
    intact = run(tmp_path, "audit", "verify", "--data", data)
    assert intact.returncode == 0 and intact.stdout.count("the chain is intact") == 2

    engine = make_engine(sqlite_url(tmp_path / "data"))
    with Session(engine) as session:
        event = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).first()
        event.detail = '{"forged": true}'
        session.add(event)
        session.commit()
    engine.dispose()
    broken = run(tmp_path, "audit", "verify", "--data", data)
    assert broken.returncode == 1
    assert "阳光小学" in broken.stdout and "broken at event 1" in broken.stdout
    assert "the chain is intact" in broken.stdout  # the other school's chain is untouched
