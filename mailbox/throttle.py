"""Slowing and then refusing repeated wrong guesses (pickup codes, access codes).

The counter lives in the database, so it holds across processes and restarts.
A few mistakes are free (children miscopy codes); then each answer is slowed;
then guesses are refused for a while.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.tables import Throttle

WINDOW = timedelta(minutes=15)
FREE_FAILURES = 3
REFUSE_AFTER = 10
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class Verdict:
    """Whether a guess may be tried now, and how long to wait before answering."""

    refused_until: datetime | None
    delay_seconds: float

    @property
    def refused(self) -> bool:
        return self.refused_until is not None


def _row(session: Session, key: str, now: datetime) -> Throttle:
    row = session.get(Throttle, key, with_for_update=True)
    if row is None:
        row = Throttle(key=key, failures=0, window_started_at=now)
    elif now - as_utc(row.window_started_at) > WINDOW and not _locked(row, now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    return row


def _locked(row: Throttle, now: datetime) -> bool:
    return row.locked_until is not None and as_utc(row.locked_until) > now


def verdict(*, session: Session, key: str, clock: Clock) -> Verdict:
    """What to do with the next guess under ``key`` (before checking it)."""
    now = clock()
    row = session.get(Throttle, key)
    if row is None:
        return Verdict(None, 0.0)
    if _locked(row, now):
        return Verdict(as_utc(row.locked_until), 0.0)
    if now - as_utc(row.window_started_at) > WINDOW:
        return Verdict(None, 0.0)
    extra = row.failures - FREE_FAILURES
    return Verdict(None, 0.0 if extra < 0 else min(0.5 * 2**extra, 8.0))


def record_failure(*, session: Session, key: str, clock: Clock) -> None:
    """Count one wrong guess; lock the key once there have been too many."""
    for attempt in range(2):
        now = clock()
        row = _row(session, key, now)
        row.failures += 1
        if row.failures >= REFUSE_AFTER:
            row.locked_until = now + LOCKOUT
        session.add(row)
        try:
            session.commit()
            return
        except IntegrityError:
            # Another process counted the first failure at the same moment.
            session.rollback()
            if attempt:
                raise


def record_success(*, session: Session, key: str, clock: Clock) -> None:
    """A right answer clears the slate for that key."""
    row = session.get(Throttle, key)
    if row is not None and not _locked(row, clock()):
        session.delete(row)
        session.commit()
