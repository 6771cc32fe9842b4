"""Delivering alerts: plan who gets each, send with retries, escalate until acknowledged.

The dispatcher runs in the server process by default and as ``qiaoqiao
worker`` processes at scale. Any number may run at once: a delivery is claimed
with one conditional UPDATE (rows picked with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) before it is sent, so two dispatchers never send the same message
twice. A delivery claimed by a dispatcher that died is retried after a while.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from qiaoqiao.mailbox.alerts import ack_token, settings_of
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.channels import as_channel, channels_of, smtp_of
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.notifiers import AlertMessage, DeliveryFailed, deliver
from qiaoqiao.mailbox.rota import escalation_order
from qiaoqiao.mailbox.tables import Alert, AlertChannel, AlertDelivery, School

log = logging.getLogger("qiaoqiao")

BACKOFF_SECONDS = (10, 30, 60, 120, 300)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
CLAIM_TIMEOUT = timedelta(minutes=2)

Deliver = Callable[..., None]


@dataclass(frozen=True)
class DispatchConfig:
    base_url: str  # where the links in alerts point
    server_key: bytes
    worker_id: str = "main"


def _ack_minutes(session: Session, alert: Alert) -> int:
    settings = settings_of(session, alert.school_id)
    return settings.ack_minutes_level3 if alert.level >= 3 else settings.ack_minutes_level2


def plan(session: Session, *, now: datetime) -> int:
    """Give every due alert its next step: the next person on the rota, and their channels.

    Each step is taken with a conditional UPDATE on the alert's current step,
    so when two dispatchers plan at once only one of them adds the step's
    deliveries (SQLite ignores SKIP LOCKED; the condition holds everywhere).
    """
    due = session.exec(
        select(Alert)
        .where(
            or_(
                (Alert.status == "waiting") & (Alert.due_at <= now),
                (Alert.status == "alerting") & (col(Alert.next_escalation_at) <= now),
            )
        )
        .with_for_update(skip_locked=True)
    ).all()
    planned = 0
    for alert in due:
        school = session.get(School, alert.school_id)
        people = escalation_order(session, school=school, now=now)
        step = alert.step + 1
        person = people[step] if step < len(people) else None
        rows = []
        if person is not None:
            rows = channels_of(session, school_id=alert.school_id, user_id=person.id)
            if step == 0:
                rows += channels_of(session, school_id=alert.school_id, user_id=None)  # the school's group robots
        if person is None:
            values = {"step": step, "status": "exhausted", "next_escalation_at": None}
        else:
            # A person with no channel cannot be reached: go on to the next one at once.
            later = now + timedelta(minutes=_ack_minutes(session, alert)) if rows else now
            values = {"step": step, "status": "alerting", "next_escalation_at": later}
        won = session.execute(
            update(Alert)
            .where(
                Alert.id == alert.id,
                Alert.step == alert.step,
                Alert.status == alert.status,
                col(Alert.acknowledged_at).is_(None),
                or_(
                    (Alert.status == "waiting") & (Alert.due_at <= now),
                    (Alert.status == "alerting") & (col(Alert.next_escalation_at) <= now),
                ),
            )
            .values(**values)
            .execution_options(synchronize_session="fetch")
        ).rowcount
        if won != 1:
            session.rollback()
            continue
        for row in rows:
            session.add(
                AlertDelivery(
                    school_id=alert.school_id, alert_id=alert.id, channel_id=row.id, user_id=row.user_id,
                    step=step, next_attempt_at=now, created_at=now,
                )
            )
        if person is None:
            record_event(session, school_id=alert.school_id, action="alert.exhausted", now=now, target_type="alert", target_id=alert.id)
        elif step > 0:
            record_event(
                session, school_id=alert.school_id, action="alert.escalated", now=now, target_type="alert",
                target_id=alert.id, detail={"step": step, "to": person.id},
            )
        session.commit()
        planned += 1
    session.commit()
    return planned


def claim(session: Session, *, now: datetime, worker_id: str, limit: int = 20) -> list[str]:
    """Claim deliveries due now (and ones a dead dispatcher left half-sent)."""
    stale = now - CLAIM_TIMEOUT
    candidates = session.exec(
        select(AlertDelivery.id)
        .where(
            or_(
                (AlertDelivery.status == "pending") & (AlertDelivery.next_attempt_at <= now),
                (AlertDelivery.status == "sending") & (col(AlertDelivery.claimed_at) < stale),
            )
        )
        .order_by(col(AlertDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    won = []
    for delivery_id in candidates:
        taken = session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.id == delivery_id,
                or_(
                    AlertDelivery.status == "pending",
                    (AlertDelivery.status == "sending") & (col(AlertDelivery.claimed_at) < stale),
                ),
            )
            .values(status="sending", claimed_by=worker_id, claimed_at=now)
            .execution_options(synchronize_session="fetch")
        ).rowcount
        if taken == 1:
            won.append(delivery_id)
    session.commit()
    return won


def _message(session: Session, delivery: AlertDelivery, alert: Alert, config: DispatchConfig, now: datetime) -> AlertMessage:
    school = session.get(School, alert.school_id)
    token = ack_token(server_key=config.server_key, alert_id=alert.id, delivery_id=delivery.id, now=now)
    return AlertMessage(
        school_name=school.name,
        level=alert.level,
        categories=tuple(c for c in alert.categories.split(",") if c),
        created_at=as_utc(alert.created_at),
        timezone=school.timezone,
        source=alert.source,
        letter_url=f"{config.base_url}/staff/letters/{alert.letter_id}",
        ack_url=f"{config.base_url}/ack/{token}",
        escalation=delivery.step,
    )


def send_one(engine: Engine, delivery_id: str, *, config: DispatchConfig, http: httpx.Client, clock: Clock, send: Deliver = deliver) -> bool:
    """Send one claimed delivery outside any transaction; record the outcome. True when sent."""
    now = clock()
    with Session(engine, expire_on_commit=False) as session:
        delivery = session.get(AlertDelivery, delivery_id)
        alert = session.get(Alert, delivery.alert_id)
        row = session.get(AlertChannel, delivery.channel_id)
        if alert.acknowledged_at is not None:
            delivery.status, delivery.last_error = "failed", "acknowledged before sending"
            session.add(delivery)
            session.commit()
            return False
        message = _message(session, delivery, alert, config, now)
        channel = as_channel(row, config.server_key)
        smtp = smtp_of(settings_of(session, alert.school_id), config.server_key)
    error, retryable = "", True
    try:
        send(channel, message, smtp=smtp, http=http)
    except DeliveryFailed as exc:
        error, retryable = str(exc)[:300], exc.retryable
    except Exception as exc:  # a bug in a sender must not stop the others
        error = type(exc).__name__
    now = clock()
    with Session(engine, expire_on_commit=False) as session:
        delivery = session.get(AlertDelivery, delivery_id)
        delivery.attempts += 1
        delivery.claimed_by, delivery.claimed_at = None, None
        if not error:
            delivery.status, delivery.sent_at, delivery.last_error = "sent", now, ""
        elif retryable and delivery.attempts < MAX_ATTEMPTS:
            delivery.status, delivery.last_error = "pending", error
            delivery.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS[delivery.attempts - 1])
        else:
            delivery.status, delivery.last_error = "failed", error
        session.add(delivery)
        session.flush()
        if delivery.status == "failed":
            _escalate_if_unreachable(session, delivery, now)
        session.commit()
    return not error


def _escalate_if_unreachable(session: Session, delivery: AlertDelivery, now: datetime) -> None:
    """Every channel of this step failed for good: the next person, now, not in ten minutes."""
    siblings = session.exec(
        select(AlertDelivery).where(AlertDelivery.alert_id == delivery.alert_id, AlertDelivery.step == delivery.step)
    ).all()
    if all(s.status == "failed" for s in siblings):
        session.execute(
            update(Alert)
            .where(Alert.id == delivery.alert_id, Alert.status == "alerting", Alert.step == delivery.step)
            .values(next_escalation_at=now)
            .execution_options(synchronize_session="fetch")
        )


def dispatch_once(engine: Engine, *, config: DispatchConfig, http: httpx.Client, clock: Clock, send: Deliver = deliver) -> int:
    """Plan due alerts, then send what this dispatcher could claim. Returns how many were sent."""
    with Session(engine, expire_on_commit=False) as session:
        plan(session, now=clock())
    with Session(engine, expire_on_commit=False) as session:
        claimed = claim(session, now=clock(), worker_id=config.worker_id)
    return sum(send_one(engine, delivery_id, config=config, http=http, clock=clock, send=send) for delivery_id in claimed)


class Dispatcher:
    """Runs :func:`dispatch_once` every few seconds on a thread until stopped."""

    def __init__(self, engine: Engine, *, config: DispatchConfig, clock: Clock, interval: float = 2.0) -> None:
        self.engine, self.config, self.clock, self.interval = engine, config, clock, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            while not self._stop.is_set():
                try:
                    dispatch_once(self.engine, config=self.config, http=http, clock=self.clock)
                except Exception as exc:  # keep going: the next round retries
                    log.error("alert dispatch failed: %s", type(exc).__name__)
                self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="qiaoqiao-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
