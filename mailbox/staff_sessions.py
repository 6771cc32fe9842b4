"""Staff logins as rows, so every process sees a revoked or idle session as gone.

The row holds no key: the keys a passphrase unlocked stay in the memory of the
process that served the login. The row is what lets an admin end a colleague's
sessions, and what expires a session left idle on a shared staff-room computer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.tables import StaffSessionRow

# Touching last_seen on every request would write on every page view.
_TOUCH_EVERY = timedelta(seconds=30)


def session_hash(token: str) -> str:
    return crypto.token_hash(token, "staff session")


def start_session(*, session: Session, school_id: str, user_id: str, clock: Clock) -> str:
    """A new login; returns the cookie token (only its hash is stored)."""
    token = crypto.new_token()
    now = clock()
    session.add(
        StaffSessionRow(token_hash=session_hash(token), school_id=school_id, user_id=user_id, created_at=now, last_seen_at=now)
    )
    session.commit()
    return token


def check_session(*, session: Session, token: str, idle: timedelta, clock: Clock) -> StaffSessionRow | None:
    """The live row for ``token``, touched; None if unknown, revoked or idle too long."""
    row = session.get(StaffSessionRow, session_hash(token))
    now = clock()
    if row is None or row.revoked_at is not None:
        return None
    if now - as_utc(row.last_seen_at) > idle:
        row.revoked_at = now
        session.add(row)
        session.commit()
        return None
    if now - as_utc(row.last_seen_at) > _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.commit()
    return row


def end_session(*, session: Session, token: str, clock: Clock) -> None:
    row = session.get(StaffSessionRow, session_hash(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock()
        session.add(row)
        session.commit()


def revoke_user_sessions(*, session: Session, school_id: str, user_id: str, now: datetime) -> int:
    """End every live session of a user (disabled, reset, or asked for); not committed."""
    rows = session.exec(
        select(StaffSessionRow).where(
            StaffSessionRow.school_id == school_id,
            StaffSessionRow.user_id == user_id,
            StaffSessionRow.revoked_at == None,  # noqa: E711  (SQL IS NULL)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)
