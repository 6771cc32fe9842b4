"""Staff accounts: invitations, passphrases, key grants, resets.

The admin invites a colleague with a link; the colleague chooses their own
passphrase (which creates their keypair); a member who has an audience's key
unlocked grants it to them, and the audit log records who granted what. A
forgotten passphrase is a reset: the old keys are dropped and a counsellor (or
the recovery key) grants them again, so the letters are never lost with one
person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, NotFound
from qiaoqiao.mailbox.keyring import Keyring, audiences_of, set_personal_keys, unlock_with_recovery, wrap_for_member
from qiaoqiao.mailbox.passphrases import check_passphrase
from qiaoqiao.mailbox.staff import ROLES, clean_username, new_staff_user, roles_of
from qiaoqiao.mailbox.staff_sessions import revoke_user_sessions
from qiaoqiao.mailbox.tables import MemberKeyWrap, School, StaffUser

INVITE_DAYS = 7
# Which audience key a role needs.
ROLE_AUDIENCE = {"counsellor": "counsellors", "teacher": "teachers"}


def _invite_hash(token: str) -> str:
    return crypto.token_hash(token, "invite")


@dataclass(frozen=True)
class Invitation:
    user: StaffUser
    token: str


def _issue(user: StaffUser, now: datetime) -> str:
    token = crypto.new_token()
    user.invite_hash = _invite_hash(token)
    user.invite_expires_at = now + timedelta(days=INVITE_DAYS)
    return token


def invite_user(
    *,
    session: Session,
    school: School,
    username: str,
    display_name: str,
    roles: set[str],
    kdf: crypto.KdfParams,
    clock: Clock,
    actor_user_id: str,
) -> Invitation:
    """A new account waiting for its owner to choose a passphrase through the link."""
    now = clock()
    name = clean_username(username)
    if not roles or not set(roles) <= set(ROLES):
        raise InvalidInput("roles", "empty" if not roles else "unknown")
    taken = session.exec(select(StaffUser).where(StaffUser.school_id == school.id, StaffUser.username == name)).first()
    if taken is not None:
        raise InvalidInput("username", "taken")
    user = new_staff_user(school_id=school.id, username=name, roles=set(roles), passphrase=None, kdf=kdf, now=now)
    user.display_name = " ".join(display_name.split())[:100]
    token = _issue(user, now)
    session.add(user)
    session.flush()
    record_event(session, school_id=school.id, action="user.invited", now=now, actor_user_id=actor_user_id, target_type="user", target_id=user.id, detail={"roles": sorted(roles)})
    session.commit()
    return Invitation(user=user, token=token)


def user_by_invite(session: Session, *, token: str, clock: Clock) -> StaffUser:
    """The account an invitation or reset link is for; :class:`NotFound` if unknown or expired."""
    user = session.exec(select(StaffUser).where(StaffUser.invite_hash == _invite_hash(token))).first()
    if user is None or user.disabled or user.invite_expires_at is None or as_utc(user.invite_expires_at) < clock():
        raise NotFound("invite")
    return user


def accept_invite(*, session: Session, token: str, passphrase: str, kdf: crypto.KdfParams, clock: Clock) -> StaffUser:
    """The invited person chooses their passphrase; their keypair is made now."""
    user = user_by_invite(session, token=token, clock=clock)
    check_passphrase(passphrase, username=user.username)
    now = clock()
    user.passphrase_hash = crypto.hash_passphrase(passphrase, kdf)
    set_personal_keys(user, passphrase, kdf)
    user.invite_hash = None
    user.invite_expires_at = None
    session.add(user)
    record_event(session, school_id=user.school_id, action="user.passphrase_set", now=now, actor_user_id=user.id, target_type="user", target_id=user.id)
    session.commit()
    return user


def grant_key(
    *, session: Session, school: School, keyring: Keyring, audience_name: str, user_id: str, clock: Clock, actor_user_id: str
) -> MemberKeyWrap:
    """Seal an audience key the granter holds unlocked to a colleague's public key."""
    user = session.exec(select(StaffUser).where(StaffUser.school_id == school.id, StaffUser.id == user_id)).first()
    if user is None:
        raise NotFound("user")
    if user.public_key is None or user.disabled:
        raise InvalidInput("user", "not_ready")
    if ROLE_AUDIENCE.get("counsellor") == audience_name and "counsellor" not in roles_of(user):
        raise Forbidden("role")
    if ROLE_AUDIENCE.get("teacher") == audience_name and not ({"teacher", "counsellor", "admin"} & roles_of(user)):
        raise Forbidden("role")
    audience = audiences_of(session, school.id)[audience_name]
    existing = session.exec(
        select(MemberKeyWrap).where(MemberKeyWrap.audience_id == audience.id, MemberKeyWrap.user_id == user.id)
    ).first()
    now = clock()
    if existing is not None:
        session.delete(existing)
        session.flush()
    wrap = wrap_for_member(audience=audience, keypair=keyring.keypair(audience_name), user=user, granted_by=actor_user_id, now=now)
    session.add(wrap)
    record_event(
        session, school_id=school.id, action="key.granted", now=now, actor_user_id=actor_user_id,
        target_type="user", target_id=user.id, detail={"audience": audience_name},
    )
    session.commit()
    return wrap


def reset_user(*, session: Session, school: School, user_id: str, clock: Clock, actor_user_id: str) -> Invitation:
    """A forgotten passphrase: drop the old keys and sessions, issue a new link."""
    user = session.exec(select(StaffUser).where(StaffUser.school_id == school.id, StaffUser.id == user_id)).first()
    if user is None:
        raise NotFound("user")
    now = clock()
    for wrap in session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == user.id)).all():
        session.delete(wrap)
    user.passphrase_hash = None
    user.public_key = None
    user.private_wrap = None
    token = _issue(user, now)
    session.add(user)
    revoke_user_sessions(session=session, school_id=school.id, user_id=user.id, now=now)
    record_event(session, school_id=school.id, action="user.reset", now=now, actor_user_id=actor_user_id, target_type="user", target_id=user.id)
    session.commit()
    return Invitation(user=user, token=token)


def set_disabled(*, session: Session, school: School, user_id: str, disabled: bool, clock: Clock, actor_user_id: str) -> StaffUser:
    """Switch an account off (its sessions end at once) or on again."""
    if user_id == actor_user_id and disabled:
        raise Forbidden("self")
    user = session.exec(select(StaffUser).where(StaffUser.school_id == school.id, StaffUser.id == user_id)).first()
    if user is None:
        raise NotFound("user")
    now = clock()
    user.disabled = disabled
    session.add(user)
    if disabled:
        revoke_user_sessions(session=session, school_id=school.id, user_id=user.id, now=now)
    record_event(session, school_id=school.id, action="user.disabled" if disabled else "user.enabled", now=now, actor_user_id=actor_user_id, target_type="user", target_id=user.id)
    session.commit()
    return user


@dataclass(frozen=True)
class Member:
    user: StaffUser
    roles: frozenset[str]
    audiences: frozenset[str]

    @property
    def pending(self) -> bool:
        return self.user.public_key is None

    def missing_keys(self) -> list[str]:
        """Audience keys this person's roles need but nobody has granted yet."""
        if self.pending:
            return []
        needed = {ROLE_AUDIENCE[r] for r in self.roles if r in ROLE_AUDIENCE}
        return sorted(needed - self.audiences)


def list_members(session: Session, *, school: School) -> list[Member]:
    users = session.exec(select(StaffUser).where(StaffUser.school_id == school.id).order_by(col(StaffUser.created_at))).all()
    names = {a.id: a.name for a in audiences_of(session, school.id).values()}
    wraps = session.exec(select(MemberKeyWrap).where(MemberKeyWrap.school_id == school.id)).all()
    held: dict[str, set[str]] = {}
    for wrap in wraps:
        held.setdefault(wrap.user_id, set()).add(names.get(wrap.audience_id, "?"))
    return [Member(user=u, roles=roles_of(u), audiences=frozenset(held.get(u.id, set()))) for u in users]


def recover_keys(*, session: Session, school: School, recovery_key: str, actor_user_id: str, clock: Clock) -> Keyring:
    """Unlock every audience key with the printed recovery key, and record that it was used."""
    keyring = unlock_with_recovery(session, school_id=school.id, recovery_key=recovery_key)
    record_event(session, school_id=school.id, action="recovery.used", now=clock(), actor_user_id=actor_user_id)
    session.commit()
    return keyring
