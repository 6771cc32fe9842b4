"""Ways in: registered kiosks (hallway tablets) and QR posters.

A letter records which one it came through, never an IP address or a user
agent. A kiosk's URL holds a secret token (put on the tablet once, it makes
that browser a kiosk); a poster's code is printed on a wall and is public.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.tables import Kiosk, Poster, School

_POSTER_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _token_hash(token: str) -> str:
    return hashlib.sha256(b"kiosk:" + token.encode("utf-8")).hexdigest()


def _clean_label(value: str, field: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(field, "empty")
    if len(cleaned) > 100:
        raise InvalidInput(field, "too_long")
    return cleaned


def add_kiosk(*, session: Session, school: School, name: str, clock: Clock, actor_user_id: str | None = None) -> tuple[Kiosk, str]:
    """Register a tablet; returns the row and the secret token for its URL (shown once)."""
    token = secrets.token_urlsafe(24)
    kiosk = Kiosk(school_id=school.id, name=_clean_label(name, "name"), token_hash=_token_hash(token), created_at=clock())
    session.add(kiosk)
    session.flush()
    record_event(session, school_id=school.id, action="kiosk.added", now=clock(), actor_user_id=actor_user_id, target_type="kiosk", target_id=kiosk.id)
    session.commit()
    return kiosk, token


def kiosk_by_token(session: Session, *, token: str) -> Kiosk:
    """The live kiosk a token belongs to; :class:`NotFound` if unknown or revoked."""
    kiosk = session.exec(select(Kiosk).where(Kiosk.token_hash == _token_hash(token))).first()
    if kiosk is None or kiosk.revoked_at is not None:
        raise NotFound("kiosk")
    return kiosk


def list_kiosks(session: Session, *, school: School) -> list[Kiosk]:
    return list(session.exec(select(Kiosk).where(Kiosk.school_id == school.id).order_by(col(Kiosk.created_at))).all())


def revoke_kiosk(*, session: Session, school: School, kiosk_id: str, clock: Clock, actor_user_id: str | None = None) -> Kiosk:
    """Stop a tablet being a kiosk (lost, stolen, moved)."""
    kiosk = session.exec(select(Kiosk).where(Kiosk.school_id == school.id, Kiosk.id == kiosk_id)).first()
    if kiosk is None:
        raise NotFound("kiosk")
    if kiosk.revoked_at is None:
        kiosk.revoked_at = clock()
        session.add(kiosk)
        record_event(session, school_id=school.id, action="kiosk.revoked", now=clock(), actor_user_id=actor_user_id, target_type="kiosk", target_id=kiosk.id)
        session.commit()
    return kiosk


def add_poster(*, session: Session, school: School, label: str, clock: Clock, actor_user_id: str | None = None) -> Poster:
    """A poster for one place (教学楼一楼, 宿舍…), with a short public code for its QR URL."""
    poster = Poster(
        school_id=school.id,
        label=_clean_label(label, "label"),
        code="".join(secrets.choice(_POSTER_ALPHABET) for _ in range(8)),
        created_at=clock(),
    )
    session.add(poster)
    session.flush()
    record_event(session, school_id=school.id, action="poster.added", now=clock(), actor_user_id=actor_user_id, target_type="poster", target_id=poster.id)
    session.commit()
    return poster


def poster_by_code(session: Session, *, code: str) -> Poster:
    poster = session.exec(select(Poster).where(Poster.code == code)).first()
    if poster is None or poster.retired_at is not None:
        raise NotFound("poster")
    return poster


def poster_by_id(session: Session, *, school: School, poster_id: str) -> Poster:
    poster = session.exec(select(Poster).where(Poster.school_id == school.id, Poster.id == poster_id)).first()
    if poster is None:
        raise NotFound("poster")
    return poster


def list_posters(session: Session, *, school: School) -> list[Poster]:
    return list(session.exec(select(Poster).where(Poster.school_id == school.id).order_by(col(Poster.created_at))).all())
