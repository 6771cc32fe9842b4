"""Urgent letters become alerts: raised with the letter, acknowledged by a person.

An alert is written in the same transaction as its letter, so a letter is
never stored without its alert. Level 3 is due at once, day or night; level 2
during the school's day hours, and at the next morning's start otherwise. The
dispatcher (``dispatch``) delivers it and escalates it until someone
acknowledges it, from the e-mail or chat message's signed link or from the
staff pages. No alert carries a word of the letter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import NotFound
from qiaoqiao.mailbox.tables import Alert, AlertDelivery, AlertSettings, Letter, School

ACK_LINK_LIFETIME = timedelta(hours=48)
OPEN = ("waiting", "alerting", "exhausted")


def settings_of(session: Session, school_id: str) -> AlertSettings:
    """The school's alert settings (defaults until an admin changes them)."""
    row = session.get(AlertSettings, school_id)
    return row if row is not None else AlertSettings(school_id=school_id)


def due_time(*, level: int, arrived: datetime, school: School, settings: AlertSettings) -> datetime:
    """When the first alert goes out: now for level 3; level 2 waits for the school's day."""
    arrived = as_utc(arrived)
    if level >= 3:
        return arrived
    local = arrived.astimezone(ZoneInfo(school.timezone))
    if settings.day_start_hour <= local.hour < settings.day_end_hour:
        return arrived
    morning = local.replace(hour=settings.day_start_hour, minute=0, second=0, microsecond=0)
    if local.hour >= settings.day_end_hour:
        morning += timedelta(days=1)
    return as_utc(morning)


def raise_alert(
    session: Session, *, school: School, letter: Letter, categories: tuple[str, ...], source: str, now: datetime
) -> Alert:
    """Add the alert for an urgent letter to the caller's transaction (the outbox)."""
    alert = Alert(
        school_id=school.id,
        letter_id=letter.id,
        level=letter.level,
        categories=",".join(categories),
        source=source[:120],
        created_at=now,
        due_at=due_time(level=letter.level, arrived=now, school=school, settings=settings_of(session, school.id)),
    )
    session.add(alert)
    return alert


# -- acknowledgement links ----------------------------------------------------


def _sign(server_key: bytes, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(server_key, message, hashlib.sha256).digest()[:20]).decode().rstrip("=")


def ack_token(*, server_key: bytes, alert_id: str, delivery_id: str, now: datetime) -> str:
    """A signed, expiring token for one delivery's acknowledgement link."""
    expires = int((as_utc(now) + ACK_LINK_LIFETIME).timestamp())
    body = f"{alert_id}.{delivery_id}.{expires}"
    return f"{body}.{_sign(server_key, b'ack:' + body.encode())}"


@dataclass(frozen=True)
class AckTicket:
    alert_id: str
    delivery_id: str


def read_ack_token(*, server_key: bytes, token: str, now: datetime) -> AckTicket:
    """Check a token's signature and age; :class:`NotFound` for a forged or expired one."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[2].isdigit():
        raise NotFound("ack")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _sign(server_key, b"ack:" + body.encode())):
        raise NotFound("ack")
    if int(parts[2]) < as_utc(now).timestamp():
        raise NotFound("ack")
    return AckTicket(alert_id=parts[0], delivery_id=parts[1])


def acknowledge(
    *, session: Session, school_id: str, alert_id: str, by_user_id: str | None, via: str, clock: Clock
) -> Alert:
    """Someone has it: stop escalating. Idempotent; the first acknowledgement is kept."""
    now = clock()
    alert = session.exec(select(Alert).where(Alert.school_id == school_id, Alert.id == alert_id)).first()
    if alert is None:
        raise NotFound("alert")
    changed = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, col(Alert.acknowledged_at).is_(None))
        .values(acknowledged_at=now, acknowledged_by=by_user_id, status="acknowledged", next_escalation_at=None)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed:
        record_event(
            session, school_id=school_id, action="alert.acknowledged", now=now, actor_user_id=by_user_id,
            target_type="alert", target_id=alert_id, detail={"via": via},
        )
    session.commit()
    session.refresh(alert)
    return alert


def acknowledge_letter(*, session: Session, school_id: str, letter_id: str, by_user_id: str, clock: Clock) -> int:
    """A counsellor who opens the letter and says "I'm on it" acknowledges its open alerts."""
    ids = session.exec(
        select(Alert.id).where(Alert.school_id == school_id, Alert.letter_id == letter_id, col(Alert.status).in_(OPEN))
    ).all()
    for alert_id in ids:
        acknowledge(session=session, school_id=school_id, alert_id=alert_id, by_user_id=by_user_id, via="staff page", clock=clock)
    return len(ids)


def open_alert_count(session: Session, *, school_id: str) -> int:
    """How many urgent letters nobody has acknowledged yet (for the staff banner)."""
    return session.exec(
        select(func.count()).select_from(Alert).where(Alert.school_id == school_id, col(Alert.status).in_(OPEN))
    ).one()


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    deliveries: list[AlertDelivery]


def list_alerts(session: Session, *, school_id: str, limit: int = 100) -> list[AlertView]:
    """Every alert, newest first, with each delivery attempt (for the admin's page)."""
    alerts = session.exec(
        select(Alert).where(Alert.school_id == school_id).order_by(col(Alert.created_at).desc()).limit(limit)
    ).all()
    views = []
    for alert in alerts:
        deliveries = session.exec(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert.id).order_by(col(AlertDelivery.created_at))
        ).all()
        views.append(AlertView(alert=alert, deliveries=list(deliveries)))
    return views


def acknowledge_by_link(*, session: Session, server_key: bytes, token: str, clock: Clock) -> Alert:
    """The signed link of one delivery: acknowledged in the name of the person it was sent to."""
    ticket = read_ack_token(server_key=server_key, token=token, now=clock())
    delivery = session.get(AlertDelivery, ticket.delivery_id)
    if delivery is None or delivery.alert_id != ticket.alert_id:
        raise NotFound("ack")
    return acknowledge(
        session=session, school_id=delivery.school_id, alert_id=ticket.alert_id, by_user_id=delivery.user_id, via="link", clock=clock
    )
