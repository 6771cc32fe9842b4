"""Schools and first-run setup."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import AlreadySetUp, InvalidInput, NotFound
from qiaoqiao.mailbox.keyring import AUDIENCES, create_audience, wrap_for_member
from qiaoqiao.mailbox.passphrases import check_passphrase
from qiaoqiao.mailbox.staff import clean_username, new_staff_user
from qiaoqiao.mailbox.tables import School, StaffUser

_SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class SetupResult:
    school: School
    admin: StaffUser
    recovery_key: str = field(repr=False)


def any_school(session: Session) -> bool:
    """True once the deployment has at least one school."""
    return session.exec(select(School.id).limit(1)).first() is not None


def list_schools(session: Session) -> list[School]:
    return list(session.exec(select(School).order_by(School.created_at)).all())


def school_by_slug(session: Session, slug: str) -> School:
    school = session.exec(select(School).where(School.slug == slug)).first()
    if school is None:
        raise NotFound("school")
    return school


def school_by_id(session: Session, school_id: str) -> School:
    school = session.get(School, school_id)
    if school is None:
        raise NotFound("school")
    return school


def _clean_school_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("school_name", "empty")
    if len(cleaned) > 100:
        raise InvalidInput("school_name", "too_long")
    return cleaned


def create_school(
    *,
    session: Session,
    name: str,
    admin_username: str,
    admin_passphrase: str,
    kdf: crypto.KdfParams,
    clock: Clock,
    first_run: bool = False,
) -> SetupResult:
    """Create a school, its audiences and its first user (admin and counsellor).

    The recovery key is generated here and returned once; only wraps made with
    it are stored. With ``first_run`` it refuses when any school exists, which
    is what makes the web setup page a one-time page.
    """
    now = clock()
    name = _clean_school_name(name)
    username = clean_username(admin_username)
    check_passphrase(admin_passphrase, username=username)
    if first_run and any_school(session):
        raise AlreadySetUp()

    school = School(name=name, slug="".join(secrets.choice(_SLUG_ALPHABET) for _ in range(6)), created_at=now)
    session.add(school)
    admin = new_staff_user(
        school_id=school.id, username=username, roles={"admin", "counsellor"}, passphrase=admin_passphrase, kdf=kdf, now=now
    )
    session.add(admin)
    session.flush()

    recovery_key = crypto.new_recovery_key()
    for audience_name in AUDIENCES:
        audience, keypair = create_audience(school_id=school.id, name=audience_name, recovery_key=recovery_key, now=now)
        session.add(audience)
        session.add(wrap_for_member(audience=audience, keypair=keypair, user=admin, granted_by=None, now=now))
    record_event(session, school_id=school.id, action="school.created", now=now, actor_user_id=admin.id)
    session.commit()
    session.refresh(school)
    session.refresh(admin)
    return SetupResult(school=school, admin=admin, recovery_key=recovery_key)
