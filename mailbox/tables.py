"""The stored shapes, as SQLModel tables.

Rules the whole schema follows:

* every row that belongs to a school carries ``school_id`` and every query
  filters on it;
* anything a child or parent wrote, and anything naming a person, is a sealed
  ``bytes`` column; only what triage needs (kind, level, categories, status,
  times) is in clear;
* primary keys of sealed records are random UUID strings, generated before the
  row is written, because the sealing binds each blob to its row's id.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, DateTime, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def new_id() -> str:
    """A random identifier for a new row."""
    return uuid.uuid4().hex


def _when(*, nullable: bool = False, index: bool = False):
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def _blob(*, nullable: bool = False):
    return Field(default=None if nullable else ..., sa_column=Column(LargeBinary, nullable=nullable))


class School(SQLModel, table=True):
    __tablename__ = "school"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(unique=True, index=True, max_length=40)
    name: str = Field(max_length=200)
    # The weekly opening, in the school's own time zone (Monday = 0).
    opening_weekday: int = Field(default=4)
    opening_hour: int = Field(default=14)
    opening_minute: int = Field(default=0)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    created_at: datetime = _when()


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"
    __table_args__ = (UniqueConstraint("school_id", "username"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    username: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=100)
    # Comma-separated subset of: admin, counsellor, teacher.
    roles: str = Field(default="", max_length=100)
    passphrase_hash: str | None = Field(default=None, max_length=255)
    # The user's own keypair: audience keys are sealed to its public half; its
    # private half is stored only wrapped under the user's passphrase.
    public_key: bytes | None = _blob(nullable=True)
    private_wrap: bytes | None = _blob(nullable=True)
    # A pending invitation or reset: the link's token, as a hash, and its end.
    invite_hash: str | None = Field(default=None, max_length=64, index=True)
    invite_expires_at: datetime | None = _when(nullable=True)
    disabled: bool = Field(default=False)
    created_at: datetime = _when()


class Audience(SQLModel, table=True):
    """A reader group of one school, with its keypair.

    The public key is in clear; the private key exists only wrapped, under the
    recovery key here and under each member's passphrase in MemberKeyWrap.
    """

    __tablename__ = "audience"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    name: str = Field(max_length=32)  # counsellors | teachers
    public_key: bytes = _blob()
    recovery_wrap: bytes = _blob()
    created_at: datetime = _when()


class MemberKeyWrap(SQLModel, table=True):
    __tablename__ = "member_key_wrap"
    __table_args__ = (UniqueConstraint("audience_id", "user_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    audience_id: str = Field(foreign_key="audience.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="staff_user.id", index=True, max_length=32)
    wrap: bytes = _blob()
    granted_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = _when()


class PickupCode(SQLModel, table=True):
    """A child's 回信码: found by an HMAC of the code, never the code itself."""

    __tablename__ = "pickup_code"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    lookup_id: str = Field(unique=True, index=True, max_length=64)
    salt: bytes = _blob()
    kdf: bytes = _blob()
    public_key: bytes = _blob()
    created_at: datetime = _when()


class Letter(SQLModel, table=True):
    __tablename__ = "letter"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    kind: str = Field(max_length=16)  # whisper | parent
    body: bytes = _blob()
    sender_name: bytes | None = _blob(nullable=True)
    sender_class: bytes | None = _blob(nullable=True)
    level: int = Field(default=0, index=True)
    categories: str = Field(default="", max_length=200)
    status: str = Field(default="new", max_length=16, index=True)
    opening_at: datetime = _when(index=True)
    source_kind: str = Field(default="web", max_length=16)  # kiosk | poster | web
    source_id: str | None = Field(default=None, max_length=32)
    pickup_id: str = Field(foreign_key="pickup_code.id", index=True, max_length=32)
    created_at: datetime = _when(index=True)
    # Who is working on it, so two counsellors don't answer the same letter.
    claimed_by: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = _when(nullable=True)
    follow_up_on: date | None = Field(default=None)
    # A letter home that screened urgent waits for a counsellor before forwarding.
    held: bool = Field(default=False)
    # Letters home: the class the child picked, and the roster row matched to them.
    class_id: str | None = Field(default=None, max_length=32, index=True)
    student_id: str | None = Field(default=None, max_length=32, index=True)
    # Letters home: new → forwarded → opened (by the parent) → answered.
    forward_status: str = Field(default="new", max_length=16)
    # Bumped by every reply: a reply written against an older thread is refused.
    version: int = Field(default=0)


class Reply(SQLModel, table=True):
    __tablename__ = "reply"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    letter_id: str = Field(foreign_key="letter.id", index=True, max_length=32)
    author_kind: str = Field(max_length=16)  # counsellor | teacher | child | parent
    author_user_id: str | None = Field(default=None, max_length=32)
    body: bytes = _blob()
    created_at: datetime = _when()
    read_at: datetime | None = _when(nullable=True)
    # A reply may also ask the child to come and talk (谈心) on a day.
    meet_on: date | None = Field(default=None)


class ContentKeyWrap(SQLModel, table=True):
    """One reader's copy of a record's content key. Delete them all to shred the record."""

    __tablename__ = "content_key_wrap"
    __table_args__ = (
        UniqueConstraint("record_type", "record_id", "recipient_type", "recipient_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    record_type: str = Field(max_length=16)  # letter | reply
    record_id: str = Field(index=True, max_length=32)
    recipient_type: str = Field(max_length=16)  # audience | pickup | link
    recipient_id: str = Field(max_length=32)
    wrap: bytes = _blob()


class AuditEvent(SQLModel, table=True):
    """Append-only and hash-chained per school: each row's hash covers the previous one."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("school_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    seq: int = Field()
    at: datetime = _when()
    actor_user_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    detail: str = Field(default="", max_length=1000)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Kiosk(SQLModel, table=True):
    """A hallway tablet. Its URL carries a secret token; only the token's hash is kept."""

    __tablename__ = "kiosk"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)


class Poster(SQLModel, table=True):
    """A printed QR poster in one place of the school; its code is public by design."""

    __tablename__ = "poster"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    label: str = Field(max_length=100)
    code: str = Field(unique=True, index=True, max_length=16)
    created_at: datetime = _when()
    retired_at: datetime | None = _when(nullable=True)


class Submission(SQLModel, table=True):
    """One form's idempotency token, so a double tap sends one letter.

    The receipt (the pickup code) is kept sealed under a key derived from the
    token, which only the child's form holds: a second tap can be shown the
    same code, and the database alone still cannot.
    """

    __tablename__ = "submission"

    token_hash: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    letter_id: str = Field(foreign_key="letter.id", max_length=32)
    sealed_receipt: bytes = _blob()
    created_at: datetime = _when(index=True)


class Throttle(SQLModel, table=True):
    """Failed guesses per kiosk or per (keyed-hash of an) address, shared by all processes."""

    __tablename__ = "throttle"

    key: str = Field(primary_key=True, max_length=100)
    failures: int = Field(default=0)
    window_started_at: datetime = _when()
    locked_until: datetime | None = _when(nullable=True)


class StaffSessionRow(SQLModel, table=True):
    """A staff login, so any process can see it revoked or idle; the keys stay in memory."""

    __tablename__ = "staff_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="staff_user.id", index=True, max_length=32)
    created_at: datetime = _when()
    last_seen_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)


class LetterNote(SQLModel, table=True):
    """A counsellor's private note on a letter, sealed for the counsellors only."""

    __tablename__ = "letter_note"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    letter_id: str = Field(foreign_key="letter.id", index=True, max_length=32)
    author_user_id: str = Field(foreign_key="staff_user.id", max_length=32)
    body: bytes = _blob()
    created_at: datetime = _when()


class ReplyTemplate(SQLModel, table=True):
    """A reusable, warm opening for replies; written by the school, not by children."""

    __tablename__ = "reply_template"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    title: str = Field(max_length=60)
    body: str = Field(max_length=2000)
    position: int = Field(default=0)
    created_at: datetime = _when()


class ScreeningTerm(SQLModel, table=True):
    """A school's own phrase for the screener (a local word for a risk), added by an admin."""

    __tablename__ = "screening_term"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    phrase: str = Field(max_length=40)
    level: int = Field()
    categories: str = Field(default="", max_length=200)
    created_by: str | None = Field(default=None, max_length=32)
    created_at: datetime = _when()


class AlertSettings(SQLModel, table=True):
    """How a school is alerted: its day hours, how long before escalating, its SMTP server."""

    __tablename__ = "alert_settings"

    school_id: str = Field(foreign_key="school.id", primary_key=True, max_length=32)
    day_start_hour: int = Field(default=7)
    day_end_hour: int = Field(default=21)
    ack_minutes_level3: int = Field(default=10)
    ack_minutes_level2: int = Field(default=60)
    smtp_host: str = Field(default="", max_length=200)
    smtp_port: int = Field(default=587)
    smtp_security: str = Field(default="starttls", max_length=16)
    smtp_username: str = Field(default="", max_length=200)
    smtp_password: bytes | None = _blob(nullable=True)  # sealed with the server key
    smtp_sender: str = Field(default="", max_length=200)
    # The numbers a child who wrote an urgent note is shown at once.
    police_number: str = Field(default="110", max_length=20)
    ambulance_number: str = Field(default="120", max_length=20)
    counselling_hotline: str = Field(default="12356", max_length=20)
    youth_hotline: str = Field(default="12355", max_length=20)


class DutySlot(SQLModel, table=True):
    """Who is on duty when: one counsellor, one weekday (or every day), one time window."""

    __tablename__ = "duty_slot"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="staff_user.id", max_length=32)
    weekday: int = Field(default=-1)  # 0 Monday … 6 Sunday, -1 every day
    start_minute: int = Field(default=0)
    end_minute: int = Field(default=24 * 60)
    position: int = Field(default=0)


class AlertChannel(SQLModel, table=True):
    """Where alerts go: a person's e-mail, or a school's WeCom/DingTalk group robot or webhook.

    The target (an address, a robot URL carrying its key) and any signing secret
    are sealed with the server key: a copy of the database alone cannot post
    to the school's chat groups.
    """

    __tablename__ = "alert_channel"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    user_id: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    kind: str = Field(max_length=16)  # email | wecom | dingtalk | webhook
    label: str = Field(default="", max_length=100)
    target: bytes = _blob()
    secret: bytes | None = _blob(nullable=True)
    active: bool = Field(default=True)
    created_at: datetime = _when()


class Alert(SQLModel, table=True):
    """An urgent letter waiting for a person: written with the letter, in the same transaction."""

    __tablename__ = "alert"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    letter_id: str = Field(foreign_key="letter.id", index=True, max_length=32)
    level: int = Field()
    categories: str = Field(default="", max_length=200)
    source: str = Field(default="web", max_length=120)
    created_at: datetime = _when()
    due_at: datetime = _when(index=True)
    step: int = Field(default=-1)  # -1: nobody alerted yet
    next_escalation_at: datetime | None = _when(nullable=True, index=True)
    acknowledged_at: datetime | None = _when(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=32)
    status: str = Field(default="waiting", max_length=16, index=True)  # waiting | alerting | acknowledged | exhausted


class AlertDelivery(SQLModel, table=True):
    """One attempt-carrying message of an alert to one channel; claimed before it is sent."""

    __tablename__ = "alert_delivery"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    alert_id: str = Field(foreign_key="alert.id", index=True, max_length=32)
    channel_id: str = Field(foreign_key="alert_channel.id", max_length=32)
    user_id: str | None = Field(default=None, max_length=32)
    step: int = Field(default=0)
    status: str = Field(default="pending", max_length=16, index=True)  # pending | sending | sent | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _when(index=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _when(nullable=True)
    last_error: str = Field(default="", max_length=300)
    sent_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()


class SchoolClass(SQLModel, table=True):
    """A class (班级) and its class teacher (班主任)."""

    __tablename__ = "school_class"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    name: str = Field(max_length=40)
    teacher_user_id: str | None = Field(default=None, foreign_key="staff_user.id", max_length=32)
    created_at: datetime = _when()


class Student(SQLModel, table=True):
    """A child of the roster (档案). Everything about them is sealed.

    ``name_lookup`` is an HMAC (server key) of class and name, so a letter can
    be matched to its writer and a re-import can update a row without the
    name being stored in clear.
    """

    __tablename__ = "student"
    __table_args__ = (UniqueConstraint("school_id", "name_lookup"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    class_id: str = Field(foreign_key="school_class.id", index=True, max_length=32)
    name_lookup: str = Field(max_length=64)
    record: bytes = _blob()
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ParentLink(SQLModel, table=True):
    """A forwarded letter's link: only a hash of its secret, and the content key wrapped for it."""

    __tablename__ = "parent_link"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    letter_id: str = Field(foreign_key="letter.id", index=True, max_length=32)
    link_hash: str = Field(unique=True, index=True, max_length=64)
    access_tag: str = Field(max_length=64)
    key_wrap: bytes = _blob()
    created_by: str = Field(max_length=32)
    created_at: datetime = _when()
    expires_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)
    opened_at: datetime | None = _when(nullable=True)


class ContactLog(SQLModel, table=True):
    """家校联系: a teacher's contact with a child's family, its note sealed."""

    __tablename__ = "contact_log"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    school_id: str = Field(foreign_key="school.id", index=True, max_length=32)
    student_id: str = Field(foreign_key="student.id", index=True, max_length=32)
    teacher_user_id: str = Field(max_length=32)
    on: date = Field()
    channel: str = Field(max_length=16)  # phone | wechat | visit | meeting
    note: bytes | None = _blob(nullable=True)
    created_at: datetime = _when()
