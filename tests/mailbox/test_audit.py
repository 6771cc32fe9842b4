"""The audit chain: appended in order, and any edit is found."""

from __future__ import annotations

from sqlmodel import col, select

from qiaoqiao.mailbox.audit import record_event, verify_chain
from qiaoqiao.mailbox.tables import AuditEvent


def test_events_chain_and_verify(session, school, clock):
    for n in range(4):
        clock.advance(minutes=1)
        record_event(session, school_id=school.school.id, action="letter.opened", now=clock(), target_type="letter", target_id=f"l{n}")
    session.commit()
    report = verify_chain(session, school_id=school.school.id)
    assert report.intact and report.events == 5  # school.created + 4


def test_an_edited_event_breaks_the_chain_at_that_event(session, school, clock):
    for n in range(3):
        record_event(session, school_id=school.school.id, action="letter.opened", now=clock(), target_id=f"l{n}")
    session.commit()
    events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    events[2].target_id = "someone-else"
    session.add(events[2])
    session.commit()
    assert verify_chain(session, school_id=school.school.id).first_broken_seq == events[2].seq


def test_a_deleted_event_breaks_the_chain(session, school, clock):
    for n in range(3):
        record_event(session, school_id=school.school.id, action="letter.opened", now=clock(), target_id=f"l{n}")
    session.commit()
    events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    session.delete(events[1])
    session.commit()
    assert verify_chain(session, school_id=school.school.id).first_broken_seq == events[2].seq
