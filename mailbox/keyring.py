"""Audience keys: created at setup, wrapped per member, unlocked into memory.

Each staff member has a keypair of their own, its private half wrapped under
their passphrase (Argon2id). An audience's private key is sealed to each
member's public key and, once, wrapped under the school's recovery key.
A :class:`Keyring` is what a logged-in staff member holds: the private keys of
the audiences they belong to. It lives only in server memory, for the length
of the staff session; it is never serialised, logged or put in a cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.errors import KeysLocked
from qiaoqiao.mailbox.tables import Audience, MemberKeyWrap, StaffUser

COUNSELLORS = "counsellors"
TEACHERS = "teachers"
AUDIENCES = (COUNSELLORS, TEACHERS)


@dataclass(frozen=True)
class Keyring:
    """Unlocked audience keys of one person in one school."""

    school_id: str
    keys: dict[str, crypto.Keypair] = field(default_factory=dict, repr=False)  # audience id → keypair
    names: dict[str, str] = field(default_factory=dict)  # audience name → audience id

    def has(self, audience_name: str) -> bool:
        return audience_name in self.names

    def keypair(self, audience_name: str) -> crypto.Keypair:
        try:
            return self.keys[self.names[audience_name]]
        except KeyError:
            raise KeysLocked(audience_name) from None


def member_aad(school_id: str, audience_id: str, user_id: str) -> bytes:
    return crypto.bind(school_id, "member_wrap", audience_id, user_id)


def recovery_aad(school_id: str, audience_id: str) -> bytes:
    return crypto.bind(school_id, "recovery_wrap", audience_id)


def create_audience(
    *, school_id: str, name: str, recovery_key: str, now: datetime
) -> tuple[Audience, crypto.Keypair]:
    """A new audience with a fresh keypair, its private half wrapped under the recovery key."""
    keypair = crypto.generate_keypair()
    audience = Audience(school_id=school_id, name=name, public_key=keypair.public_bytes(), recovery_wrap=b"", created_at=now)
    audience.recovery_wrap = crypto.wrap_with_recovery_key(
        keypair.private_bytes(), recovery_key, recovery_aad(school_id, audience.id)
    )
    return audience, keypair


def personal_aad(school_id: str, user_id: str) -> bytes:
    return crypto.bind(school_id, "personal_key", user_id)


def set_personal_keys(user: StaffUser, passphrase: str, kdf: crypto.KdfParams) -> crypto.Keypair:
    """Give ``user`` a fresh keypair whose private half is wrapped under their passphrase.

    Audience keys are sealed to the public half, so a member who has a key
    unlocked can grant it to a colleague without knowing their passphrase.
    """
    keypair = crypto.generate_keypair()
    user.public_key = keypair.public_bytes()
    user.private_wrap = crypto.wrap_with_passphrase(
        keypair.private_bytes(), passphrase, personal_aad(user.school_id, user.id), kdf
    )
    return keypair


def wrap_for_member(
    *, audience: Audience, keypair: crypto.Keypair, user: StaffUser, granted_by: str | None, now: datetime
) -> MemberKeyWrap:
    """A member's copy of an audience's private key, sealed to their own public key."""
    if user.public_key is None:
        raise KeysLocked("personal")
    return MemberKeyWrap(
        school_id=audience.school_id,
        audience_id=audience.id,
        user_id=user.id,
        wrap=crypto.seal_to(user.public_key, keypair.private_bytes(), member_aad(audience.school_id, audience.id, user.id)),
        granted_by=granted_by,
        created_at=now,
    )


def audiences_of(session: Session, school_id: str) -> dict[str, Audience]:
    """The school's audiences by name."""
    rows = session.exec(select(Audience).where(Audience.school_id == school_id)).all()
    return {row.name: row for row in rows}


def unlock_member(session: Session, *, school_id: str, user_id: str, passphrase: str) -> Keyring:
    """Open every audience key the member holds; ``CannotOpen`` if the passphrase is wrong."""
    user = session.get(StaffUser, user_id)
    if user is None or user.school_id != school_id or user.private_wrap is None:
        raise crypto.CannotOpen()
    personal = crypto.load_private_key(
        crypto.unwrap_with_passphrase(user.private_wrap, passphrase, personal_aad(school_id, user_id))
    )
    audiences = {a.id: a for a in audiences_of(session, school_id).values()}
    wraps = session.exec(
        select(MemberKeyWrap).where(MemberKeyWrap.school_id == school_id, MemberKeyWrap.user_id == user_id)
    ).all()
    keys: dict[str, crypto.Keypair] = {}
    names: dict[str, str] = {}
    for wrap in wraps:
        audience = audiences.get(wrap.audience_id)
        if audience is None:
            continue
        raw = crypto.open_sealed(personal, wrap.wrap, member_aad(school_id, audience.id, user_id))
        keys[audience.id] = crypto.load_private_key(raw)
        names[audience.name] = audience.id
    return Keyring(school_id=school_id, keys=keys, names=names)


def unlock_with_recovery(session: Session, *, school_id: str, recovery_key: str) -> Keyring:
    """Open every audience key of the school with the printed recovery key."""
    keys: dict[str, crypto.Keypair] = {}
    names: dict[str, str] = {}
    for name, audience in audiences_of(session, school_id).items():
        raw = crypto.unwrap_with_recovery_key(audience.recovery_wrap, recovery_key, recovery_aad(school_id, audience.id))
        keys[audience.id] = crypto.load_private_key(raw)
        names[name] = audience.id
    return Keyring(school_id=school_id, keys=keys, names=names)
