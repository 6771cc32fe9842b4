"""The audit log: append-only, each event chained to the one before by hash.

Who opened which letter, who logged in, who was granted a key. Details carry
ids and codes, never letter text, names or secrets. Editing or deleting a row
breaks the chain, and :func:`verify_chain` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.clock import as_utc
from qiaoqiao.mailbox.tables import AuditEvent, School, StaffUser

GENESIS = "0" * 64


def _digest(event: AuditEvent) -> str:
    canonical = json.dumps(
        [
            event.school_id,
            event.seq,
            as_utc(event.at).isoformat(timespec="microseconds"),
            event.actor_user_id,
            event.action,
            event.target_type,
            event.target_id,
            event.detail,
            event.prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record_event(
    session: Session,
    *,
    school_id: str,
    action: str,
    now: datetime,
    actor_user_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Append one event to the school's chain (in the caller's transaction)."""
    # Lock the school's row first: a second writer waits here until the first
    # commits and then, in a new statement, sees the event it added, so two
    # transactions never take the same place in the chain. (SQLite has one
    # writer at a time already.)
    session.exec(select(School.id).where(School.id == school_id).with_for_update()).first()
    last = session.exec(
        select(AuditEvent)
        .where(AuditEvent.school_id == school_id)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
        .with_for_update()
    ).first()
    event = AuditEvent(
        school_id=school_id,
        seq=(last.seq + 1) if last else 1,
        at=as_utc(now),
        actor_user_id=actor_user_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        prev_hash=last.hash if last else GENESIS,
        hash="",
    )
    event.hash = _digest(event)
    session.add(event)
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_broken_seq: int | None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


def verify_chain(session: Session, *, school_id: str) -> ChainReport:
    """Walk the school's chain from the start; report the first event that does not fit."""
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for event in session.exec(
        select(AuditEvent).where(AuditEvent.school_id == school_id).order_by(col(AuditEvent.seq))
    ):
        count += 1
        if event.seq != expected_seq or event.prev_hash != expected_prev or event.hash != _digest(event):
            return ChainReport(events=count, first_broken_seq=event.seq)
        expected_prev = event.hash
        expected_seq += 1
    return ChainReport(events=count, first_broken_seq=None)


@dataclass(frozen=True)
class EventView:
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: str


def recent_events(session: Session, *, school_id: str, limit: int) -> list[EventView]:
    """The newest events first, with the actor's name for the admin's page."""
    names = {u.id: (u.display_name or u.username) for u in session.exec(select(StaffUser).where(StaffUser.school_id == school_id))}
    rows = session.exec(
        select(AuditEvent).where(AuditEvent.school_id == school_id).order_by(col(AuditEvent.seq).desc()).limit(limit)
    ).all()
    return [
        EventView(
            seq=row.seq, at=as_utc(row.at), actor=names.get(row.actor_user_id or "", ""), action=row.action,
            target_type=row.target_type, target_id=row.target_id, detail=row.detail,
        )
        for row in rows
    ]
