"""Alert channels and the school's alert settings, with their secrets sealed.

A robot URL carries the key that lets anyone post to a school's chat group,
an e-mail address is a person's contact, an SMTP password is a password: all
are sealed with a key derived from the server secret, which is never stored
in the database.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.notifiers import KINDS, SECURITIES, Channel, SmtpSettings
from qiaoqiao.mailbox.tables import AlertChannel, AlertSettings, School, StaffUser
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _key(server_key: bytes) -> bytes:
    return crypto.token_key(server_key.hex(), "alert settings")


def seal_setting(server_key: bytes, school_id: str, name: str, value: str) -> bytes:
    return crypto.seal_content(_key(server_key), value.encode("utf-8"), crypto.bind(school_id, "setting", name))


def open_setting(server_key: bytes, school_id: str, name: str, blob: bytes) -> str:
    return crypto.open_content(_key(server_key), blob, crypto.bind(school_id, "setting", name)).decode("utf-8")


def _check_target(kind: str, target: str) -> str:
    target = target.strip()
    if kind == "email":
        if not _EMAIL.match(target):
            raise InvalidInput("target", "malformed")
    elif not re.match(r"^https?://[^\s]+$", target):
        raise InvalidInput("target", "malformed")
    return target


def add_channel(
    *,
    session: Session,
    school: School,
    kind: str,
    target: str,
    secret: str,
    label: str,
    user_id: str | None,
    server_key: bytes,
    clock: Clock,
    actor_user_id: str,
) -> AlertChannel:
    """A person's e-mail (``user_id`` set) or a school-wide robot or webhook (``user_id`` None)."""
    if kind not in KINDS:
        raise InvalidInput("kind", "unknown")
    if kind == "email" and user_id is None:
        raise InvalidInput("user", "empty")
    if user_id is not None and session.exec(select(StaffUser.id).where(StaffUser.school_id == school.id, StaffUser.id == user_id)).first() is None:
        raise NotFound("user")
    row = AlertChannel(
        school_id=school.id, user_id=user_id, kind=kind, label=" ".join(label.split())[:100], target=b"", created_at=clock(),
    )
    row.target = seal_setting(server_key, school.id, f"channel:{row.id}:target", _check_target(kind, target))
    if secret.strip():
        row.secret = seal_setting(server_key, school.id, f"channel:{row.id}:secret", secret.strip())
    session.add(row)
    record_event(session, school_id=school.id, action="settings.channel_added", now=clock(), actor_user_id=actor_user_id, target_type="channel", target_id=row.id, detail={"kind": kind})
    session.commit()
    return row


def remove_channel(*, session: Session, school: School, channel_id: str, clock: Clock, actor_user_id: str) -> None:
    row = session.exec(select(AlertChannel).where(AlertChannel.school_id == school.id, AlertChannel.id == channel_id)).first()
    if row is None:
        raise NotFound("channel")
    row.active = False
    session.add(row)
    record_event(session, school_id=school.id, action="settings.channel_removed", now=clock(), actor_user_id=actor_user_id, target_type="channel", target_id=row.id)
    session.commit()


def list_channels(session: Session, *, school: School) -> list[AlertChannel]:
    return list(
        session.exec(
            select(AlertChannel).where(AlertChannel.school_id == school.id, AlertChannel.active == True).order_by(col(AlertChannel.created_at))  # noqa: E712
        ).all()
    )


def channels_of(session: Session, *, school_id: str, user_id: str | None) -> list[AlertChannel]:
    """A person's channels, or (``None``) the school-wide ones."""
    query = select(AlertChannel).where(AlertChannel.school_id == school_id, AlertChannel.active == True)  # noqa: E712
    query = query.where(col(AlertChannel.user_id).is_(None)) if user_id is None else query.where(AlertChannel.user_id == user_id)
    return list(session.exec(query.order_by(col(AlertChannel.created_at))).all())


def as_channel(row: AlertChannel, server_key: bytes) -> Channel:
    """The channel opened for sending (in memory only)."""
    secret = open_setting(server_key, row.school_id, f"channel:{row.id}:secret", row.secret) if row.secret else ""
    return Channel(kind=row.kind, target=open_setting(server_key, row.school_id, f"channel:{row.id}:target", row.target), secret=secret)


def save_alert_settings(
    *,
    session: Session,
    school: School,
    values: dict,
    smtp_password: str | None,
    server_key: bytes,
    clock: Clock,
    actor_user_id: str,
) -> AlertSettings:
    """Day hours, escalation times, SMTP server and the child's safety numbers, checked and saved."""
    row = session.get(AlertSettings, school.id) or AlertSettings(school_id=school.id)
    try:
        start, end = int(values["day_start_hour"]), int(values["day_end_hour"])
        ack3, ack2 = int(values["ack_minutes_level3"]), int(values["ack_minutes_level2"])
        port = int(values.get("smtp_port") or 587)
    except (KeyError, ValueError):
        raise InvalidInput("settings", "malformed") from None
    if not (0 <= start < end <= 24) or not (1 <= ack3 <= 240) or not (1 <= ack2 <= 24 * 60) or not (1 <= port <= 65535):
        raise InvalidInput("settings", "malformed")
    security = values.get("smtp_security", "starttls")
    if security not in SECURITIES:
        raise InvalidInput("smtp_security", "unknown")
    for name in ("police_number", "ambulance_number", "counselling_hotline", "youth_hotline"):
        number = values.get(name, getattr(AlertSettings(school_id=school.id), name)).strip()
        if not re.fullmatch(r"[0-9+\-() ]{2,20}", number):
            raise InvalidInput(name, "malformed")
        setattr(row, name, number)
    row.day_start_hour, row.day_end_hour, row.ack_minutes_level3, row.ack_minutes_level2 = start, end, ack3, ack2
    row.smtp_host = values.get("smtp_host", "").strip()
    row.smtp_port, row.smtp_security = port, security
    row.smtp_username = values.get("smtp_username", "").strip()
    row.smtp_sender = values.get("smtp_sender", "").strip()
    if smtp_password:
        row.smtp_password = seal_setting(server_key, school.id, "smtp_password", smtp_password)
    session.add(row)
    record_event(session, school_id=school.id, action="settings.alerts_saved", now=clock(), actor_user_id=actor_user_id)
    session.commit()
    return row


def smtp_of(row: AlertSettings, server_key: bytes) -> SmtpSettings | None:
    """The school's SMTP server for sending, or None when none is set."""
    if not row.smtp_host:
        return None
    password = open_setting(server_key, row.school_id, "smtp_password", row.smtp_password) if row.smtp_password else ""
    return SmtpSettings(
        host=row.smtp_host, port=row.smtp_port, security=row.smtp_security, username=row.smtp_username,
        password=password, sender=row.smtp_sender or "qiaoqiao@localhost",
    )
