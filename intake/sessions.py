"""Staff sessions: a random cookie token, the unlocked keys kept in process memory.

The keys a passphrase unlocked never leave this process: not in the cookie,
not in the database. The database row of the session (``staff_sessions``)
is what any process checks for revocation and idleness; this store only keeps
the keys. A restart forgets every key (staff log in again), a session idle
for longer than the limit is gone, and logging out drops the keys at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.keyring import Keyring
from qiaoqiao.mailbox.staff_sessions import session_hash

COOKIE = "qq_staff"


@dataclass
class StaffSession:
    user_id: str
    school_id: str
    username: str
    roles: frozenset[str]
    keyring: Keyring = field(repr=False)
    last_seen: datetime


class SessionStore:
    """The live staff sessions of this process, keyed by a hash of the cookie token."""

    def __init__(self, *, idle: timedelta, clock: Clock) -> None:
        self._idle = idle
        self._clock = clock
        self._sessions: dict[str, StaffSession] = {}
        self._lock = threading.Lock()

    def keep(self, token: str, *, user_id: str, school_id: str, username: str, roles: frozenset[str], keyring: Keyring) -> None:
        """Hold the keys of a new login under its token."""
        with self._lock:
            self._sessions[session_hash(token)] = StaffSession(
                user_id=user_id, school_id=school_id, username=username, roles=roles, keyring=keyring, last_seen=self._clock()
            )

    def add_keys(self, token: str, keyring: Keyring) -> None:
        """Merge keys unlocked later (the recovery key) into a live session."""
        with self._lock:
            found = self._sessions.get(session_hash(token))
            if found is not None:
                found.keyring = Keyring(
                    school_id=found.keyring.school_id,
                    keys={**found.keyring.keys, **keyring.keys},
                    names={**found.keyring.names, **keyring.names},
                )

    def get(self, token: str | None) -> StaffSession | None:
        """The session for ``token`` if it is alive; touching it resets the idle timer."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            self._expire(now)
            found = self._sessions.get(session_hash(token))
            if found is not None:
                found.last_seen = now
            return found

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(session_hash(token), None)

    def drop_user(self, user_id: str) -> None:
        """Revoke every session of one user (a disabled account, a changed passphrase)."""
        with self._lock:
            for key in [k for k, s in self._sessions.items() if s.user_id == user_id]:
                del self._sessions[key]

    def _expire(self, now: datetime) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self._idle]:
            del self._sessions[key]
