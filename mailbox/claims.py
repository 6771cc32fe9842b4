"""Claims and statuses: who is answering a letter, and where it stands.

A claim is taken with one conditional UPDATE, so two counsellors pressing
"I'll take it" at the same moment cannot both get it. A claim older than two
hours is stale and may be taken over, so a letter is never stuck behind a
colleague who went home.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import ClaimedByOther, InvalidInput, NotFound
from qiaoqiao.mailbox.keyring import Keyring
from qiaoqiao.mailbox.queue import STATUSES
from qiaoqiao.mailbox.staff import shown_name
from qiaoqiao.mailbox.sealing import unwrap_content_key
from qiaoqiao.mailbox.tables import Letter, School, StaffUser
from qiaoqiao.mailbox.threads import STALE_CLAIM

STALE_AFTER = STALE_CLAIM


def _letter(session: Session, school: School, letter_id: str) -> Letter:
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.id == letter_id)).first()
    if letter is None:
        raise NotFound("letter")
    return letter


def _readable(session: Session, school: School, letter_id: str, keyring: Keyring) -> Letter:
    """The letter, if ``keyring`` can open it: only a reader may take or close a letter."""
    letter = _letter(session, school, letter_id)
    unwrap_content_key(session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys)
    return letter


def claim_letter(*, session: Session, school: School, keyring: Keyring, letter_id: str, user_id: str, clock: Clock) -> Letter:
    """Take the letter (or keep it); :class:`ClaimedByOther` if a colleague holds a fresh claim."""
    _readable(session, school, letter_id, keyring)
    now = clock()
    taken = session.execute(
        update(Letter)
        .where(
            Letter.school_id == school.id,
            Letter.id == letter_id,
            or_(
                col(Letter.claimed_by).is_(None),
                Letter.claimed_by == user_id,
                col(Letter.claimed_at) < now - STALE_AFTER,
            ),
        )
        .values(claimed_by=user_id, claimed_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if taken != 1:
        session.rollback()
        holder = _letter(session, school, letter_id).claimed_by
        raise ClaimedByOther(shown_name(session.get(StaffUser, holder) if holder else None))
    record_event(session, school_id=school.id, action="letter.claimed", now=now, actor_user_id=user_id, target_type="letter", target_id=letter_id)
    session.commit()
    letter = _letter(session, school, letter_id)
    session.refresh(letter)
    return letter


def release_letter(*, session: Session, school: School, letter_id: str, user_id: str, clock: Clock) -> None:
    """Give a claim back (only the holder can; anyone else changes nothing)."""
    released = session.execute(
        update(Letter)
        .where(Letter.school_id == school.id, Letter.id == letter_id, Letter.claimed_by == user_id)
        .values(claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if released:
        record_event(
            session, school_id=school.id, action="letter.released", now=clock(), actor_user_id=user_id,
            target_type="letter", target_id=letter_id,
        )
    session.commit()


def set_status(
    *,
    session: Session,
    school: School,
    keyring: Keyring,
    letter_id: str,
    status: str,
    follow_up_on: date | None,
    user_id: str,
    clock: Clock,
) -> Letter:
    """Move a letter to ``status``; a follow-up needs its due date."""
    if status not in STATUSES:
        raise InvalidInput("status", "unknown")
    if status == "follow_up" and follow_up_on is None:
        raise InvalidInput("follow_up_on", "empty")
    letter = _readable(session, school, letter_id, keyring)
    letter.status = status
    letter.follow_up_on = follow_up_on if status == "follow_up" else None
    session.add(letter)
    record_event(
        session, school_id=school.id, action="letter.status", now=clock(), actor_user_id=user_id,
        target_type="letter", target_id=letter_id, detail={"status": status},
    )
    session.commit()
    return letter
