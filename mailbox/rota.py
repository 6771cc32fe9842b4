"""Who is on duty: the school's rota of counsellors, by weekday and time of day.

Without a rota, every counsellor is on duty, in the order they joined. After
the rota's people, an alert escalates to the school's admins.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.staff import roles_of
from qiaoqiao.mailbox.tables import DutySlot, School, StaffUser


def _people(session: Session, school_id: str) -> list[StaffUser]:
    return list(
        session.exec(
            select(StaffUser)
            .where(StaffUser.school_id == school_id, StaffUser.disabled == False)  # noqa: E712
            .order_by(col(StaffUser.created_at), col(StaffUser.id))
        ).all()
    )


def on_duty(session: Session, *, school: School, now: datetime) -> list[StaffUser]:
    """The counsellors to alert at ``now``, first to last."""
    people = {u.id: u for u in _people(session, school.id)}
    local = as_utc(now).astimezone(ZoneInfo(school.timezone))
    minute = local.hour * 60 + local.minute
    slots = session.exec(
        select(DutySlot).where(DutySlot.school_id == school.id).order_by(col(DutySlot.position), col(DutySlot.id))
    ).all()
    if not slots:
        return [u for u in people.values() if "counsellor" in roles_of(u)]
    chosen: list[StaffUser] = []
    for slot in slots:
        if slot.weekday not in (-1, local.weekday()) or not (slot.start_minute <= minute < slot.end_minute):
            continue
        user = people.get(slot.user_id)
        if user is not None and user not in chosen:
            chosen.append(user)
    return chosen


def escalation_order(session: Session, *, school: School, now: datetime) -> list[StaffUser]:
    """The on-duty counsellors, then the admins who are not among them."""
    order = on_duty(session, school=school, now=now)
    for user in _people(session, school.id):
        if "admin" in roles_of(user) and user not in order:
            order.append(user)
    return order


def list_slots(session: Session, *, school: School) -> list[DutySlot]:
    return list(
        session.exec(select(DutySlot).where(DutySlot.school_id == school.id).order_by(col(DutySlot.position), col(DutySlot.id))).all()
    )


def add_slot(
    *, session: Session, school: School, user_id: str, weekday: int, start_minute: int, end_minute: int, clock: Clock, actor_user_id: str
) -> DutySlot:
    """Put a counsellor on duty for one window (weekday -1: every day)."""
    user = session.exec(select(StaffUser).where(StaffUser.school_id == school.id, StaffUser.id == user_id)).first()
    if user is None:
        raise NotFound("user")
    if "counsellor" not in roles_of(user):
        raise InvalidInput("user", "not_counsellor")
    if weekday not in range(-1, 7) or not (0 <= start_minute < end_minute <= 24 * 60):
        raise InvalidInput("time", "malformed")
    position = len(list_slots(session, school=school))
    slot = DutySlot(school_id=school.id, user_id=user_id, weekday=weekday, start_minute=start_minute, end_minute=end_minute, position=position)
    session.add(slot)
    record_event(session, school_id=school.id, action="settings.duty_added", now=clock(), actor_user_id=actor_user_id, target_type="user", target_id=user_id)
    session.commit()
    return slot


def remove_slot(*, session: Session, school: School, slot_id: str, clock: Clock, actor_user_id: str) -> None:
    slot = session.exec(select(DutySlot).where(DutySlot.school_id == school.id, DutySlot.id == slot_id)).first()
    if slot is None:
        raise NotFound("slot")
    session.delete(slot)
    record_event(session, school_id=school.id, action="settings.duty_removed", now=clock(), actor_user_id=actor_user_id, target_type="user", target_id=slot.user_id)
    session.commit()
