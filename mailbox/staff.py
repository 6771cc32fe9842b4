"""Staff users and logging in."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import InvalidInput, LoginFailed
from qiaoqiao.mailbox.keyring import Keyring, set_personal_keys, unlock_member
from qiaoqiao.mailbox.tables import StaffUser

ROLES = ("admin", "counsellor", "teacher")
_USERNAME = re.compile(r"^[\w.\-@]{2,64}$")



def clean_username(username: str) -> str:
    """Normalise a user name (NFKC, trimmed, case-folded); ``InvalidInput`` if unusable."""
    cleaned = unicodedata.normalize("NFKC", username).strip().casefold()
    if not cleaned:
        raise InvalidInput("username", "empty")
    if not _USERNAME.match(cleaned):
        raise InvalidInput("username", "malformed")
    return cleaned


def shown_name(user: StaffUser | None) -> str:
    """How a colleague is named on staff pages."""
    return (user.display_name or user.username) if user is not None else ""


def staff_names(session: Session, *, school_id: str) -> dict[str, str]:
    """Every staff member of a school by id, as shown on staff pages."""
    return {u.id: shown_name(u) for u in session.exec(select(StaffUser).where(StaffUser.school_id == school_id))}


def roles_of(user: StaffUser) -> frozenset[str]:
    return frozenset(r for r in user.roles.split(",") if r)


def new_staff_user(
    *, school_id: str, username: str, roles: set[str], passphrase: str | None, kdf: crypto.KdfParams, now: datetime
) -> StaffUser:
    """A user row; with a passphrase, its Argon2id verifier and the user's own keypair.

    Without one (an invitation), the user chooses it later with
    :func:`set_passphrase`.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    user = StaffUser(
        school_id=school_id,
        username=clean_username(username),
        roles=",".join(r for r in ROLES if r in roles),
        created_at=now,
    )
    if passphrase is not None:
        user.passphrase_hash = crypto.hash_passphrase(passphrase, kdf)
        set_personal_keys(user, passphrase, kdf)
    return user


@dataclass(frozen=True)
class Unlocked:
    """A successful login: who, and the keys their passphrase opened."""

    user: StaffUser
    keyring: Keyring


def login(
    *, session: Session, school_id: str, username: str, passphrase: str, kdf: crypto.KdfParams, clock: Clock
) -> Unlocked:
    """Check the passphrase and unlock the member's audience keys; ``LoginFailed`` otherwise."""
    try:
        name = clean_username(username)
    except InvalidInput:
        name = ""
    user = session.exec(
        select(StaffUser).where(StaffUser.school_id == school_id, StaffUser.username == name)
    ).first()
    if user is None or user.disabled or not user.passphrase_hash:
        # Spend the same Argon2id work as for a real user, so timing does not
        # reveal which user names exist.
        crypto.hash_passphrase(passphrase, kdf)
        raise LoginFailed()
    if not crypto.verify_passphrase(passphrase, user.passphrase_hash):
        record_event(session, school_id=school_id, action="login.failed", now=clock(), actor_user_id=user.id)
        session.commit()
        raise LoginFailed()
    try:
        keyring = unlock_member(session, school_id=school_id, user_id=user.id, passphrase=passphrase)
    except crypto.CannotOpen:
        # The verifier matched but a wrap did not: a damaged wrap, never a wrong
        # passphrase. Refuse rather than log in with missing keys silently.
        raise LoginFailed() from None
    record_event(session, school_id=school_id, action="login", now=clock(), actor_user_id=user.id)
    session.commit()
    return Unlocked(user=user, keyring=keyring)
