"""Staff sessions: a random cookie token, the unlocked keys kept in process memory.

The keys a passphrase unlocked never leave this process: not in the cookie,
not in the database. A restart forgets every session (staff log in again),
a session idle for longer than the limit is gone, and logging out drops the
keys at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.keyring import Keyring

COOKIE = "qq_staff"


@dataclass
class StaffSession:
    user_id: str
    school_id: str
    username: str
    roles: frozenset[str]
    keyring: Keyring = field(repr=False)
    last_seen: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class SessionStore:
    """The live staff sessions of this process, keyed by a hash of the cookie token."""

    def __init__(self, *, idle: timedelta, clock: Clock) -> None:
        self._idle = idle
        self._clock = clock
        self._sessions: dict[str, StaffSession] = {}
        self._lock = threading.Lock()

    def create(self, *, user_id: str, school_id: str, username: str, roles: frozenset[str], keyring: Keyring) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[_digest(token)] = StaffSession(
                user_id=user_id, school_id=school_id, username=username, roles=roles, keyring=keyring, last_seen=self._clock()
            )
        return token

    def get(self, token: str | None) -> StaffSession | None:
        """The session for ``token`` if it is alive; touching it resets the idle timer."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            self._expire(now)
            found = self._sessions.get(_digest(token))
            if found is not None:
                found.last_seen = now
            return found

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(_digest(token), None)

    def drop_user(self, user_id: str) -> None:
        """Revoke every session of one user (a disabled account, a changed passphrase)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user_id == user_id]:
                del self._sessions[key]

    def _expire(self, now: datetime) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self._idle]:
            del self._sessions[key]
