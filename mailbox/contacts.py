"""家校联系: a teacher's record of contacts with each child's family.

The school's own rules (三沟通, 家访记录) ask for regular contact with the
parents or guardian; the log keeps the date and the way, with a short note
sealed for the teachers and the counsellors, and shows who has not been
contacted this month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, NotFound
from qiaoqiao.mailbox.keyring import COUNSELLORS, TEACHERS, Keyring, audiences_of
from qiaoqiao.mailbox.roster import StudentView, classes_of_teacher, students_of
from qiaoqiao.mailbox.sealing import open_field, seal_field, unwrap_content_key, wrap_content_key
from qiaoqiao.mailbox.tables import ContactLog, School, Student, new_id
from qiaoqiao.mailbox.text import clean_text

CHANNELS = ("phone", "wechat", "visit", "meeting")


def _school_today(school: School, clock: Clock) -> date:
    """Today where the school is (Beijing is eight hours ahead of UTC)."""
    return clock().astimezone(ZoneInfo(school.timezone)).date()


def _student(session: Session, school: School, student_id: str, user_id: str, roles: frozenset[str]) -> Student:
    student = session.exec(select(Student).where(Student.school_id == school.id, Student.id == student_id)).first()
    if student is None:
        raise NotFound("student")
    if student.class_id not in {c.id for c in classes_of_teacher(session, school=school, user_id=user_id, roles=roles)}:
        raise Forbidden("class")
    return student


def add_contact(
    *, session: Session, school: School, student_id: str, on: date, channel: str, note: str, user_id: str, roles: frozenset[str], clock: Clock
) -> ContactLog:
    """Record one contact with a child's family."""
    student = _student(session, school, student_id, user_id, roles)
    if channel not in CHANNELS:
        raise InvalidInput("channel", "unknown")
    if on > _school_today(school, clock):
        raise InvalidInput("date", "future")
    note = clean_text(note, field_name="note", limit=1000, required=False)
    row = ContactLog(id=new_id(), school_id=school.id, student_id=student.id, teacher_user_id=user_id, on=on, channel=channel, created_at=clock())
    if note:
        key = crypto.new_content_key()
        row.note = seal_field(key, school.id, "contact", row.id, "note", note)
        for name in (TEACHERS, COUNSELLORS):
            audience = audiences_of(session, school.id)[name]
            session.add(
                wrap_content_key(
                    school_id=school.id, record_type="contact", record_id=row.id, recipient_type="audience",
                    recipient_id=audience.id, public_key=audience.public_key, content_key=key,
                )
            )
    session.add(row)
    record_event(session, school_id=school.id, action="contact.logged", now=clock(), actor_user_id=user_id, target_type="student", target_id=student.id, detail={"channel": channel})
    session.commit()
    return row


@dataclass(frozen=True)
class Contact:
    on: date
    channel: str
    note: str = field(repr=False)


def contacts_of(session: Session, *, school: School, keyring: Keyring, student_id: str, user_id: str, roles: frozenset[str]) -> list[Contact]:
    student = _student(session, school, student_id, user_id, roles)
    rows = session.exec(select(ContactLog).where(ContactLog.student_id == student.id).order_by(col(ContactLog.on).desc())).all()
    contacts = []
    for row in rows:
        note = ""
        if row.note:
            key = unwrap_content_key(session, school_id=school.id, record_type="contact", record_id=row.id, recipient_type="audience", keys=keyring.keys)
            note = open_field(key, school.id, "contact", row.id, "note", row.note)
        contacts.append(Contact(on=row.on, channel=row.channel, note=note))
    return contacts


@dataclass(frozen=True)
class MonthRow:
    view: StudentView
    last_contact: date | None

    @property
    def contacted_this_month(self) -> bool:
        return self.last_contact is not None


def month_overview(
    session: Session, *, school: School, keyring: Keyring, class_id: str, user_id: str, roles: frozenset[str], clock: Clock
) -> list[MonthRow]:
    """Every child of a class, with their family's latest contact this month (None: not yet)."""
    first = _school_today(school, clock).replace(day=1)
    views = students_of(session, school=school, keyring=keyring, user_id=user_id, roles=roles, class_id=class_id)
    rows = []
    for view in views:
        latest = session.exec(
            select(ContactLog.on).where(ContactLog.student_id == view.student.id, ContactLog.on >= first).order_by(col(ContactLog.on).desc())
        ).first()
        rows.append(MonthRow(view=view, last_contact=latest))
    return sorted(rows, key=lambda r: (r.contacted_this_month, r.view.record.get("name", "")))
