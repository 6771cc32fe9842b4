"""The conversation on one letter: staff replies, the child's follow-ups, a parent's answer.

Every entry is a :class:`Reply` sealed under its own content key, wrapped for
the same readers as the letter (its audiences) and for the child's pickup
code, so the child reads the thread with the code and staff with their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import ClaimedByOther, InvalidInput, NotFound, NotYetOpen, StaleThread
from qiaoqiao.mailbox.opening import is_openable
from qiaoqiao.mailbox.keyring import Keyring
from qiaoqiao.mailbox.text import MAX_TEXT, clean_text
from qiaoqiao.mailbox.pickups import find_pickup, pickup_keys
from qiaoqiao.mailbox.staff import shown_name
from qiaoqiao.mailbox.sealing import (
    SealingConfig,
    open_field,
    open_json,
    seal_field,
    unwrap_content_key,
    wrap_content_key,
)
from qiaoqiao.mailbox.tables import Audience, ContentKeyWrap, Letter, PickupCode, Reply, School, StaffUser, new_id

STAFF_AUTHORS = ("counsellor", "teacher")
MAX_REPLY = 4000
STALE_CLAIM = timedelta(hours=2)


@dataclass(frozen=True)
class Entry:
    """One message of a thread, opened."""

    id: str
    author_kind: str
    text: str = field(repr=False)
    created_at: datetime
    read_at: datetime | None
    meet_on: date | None = None


def _replies(session: Session, school_id: str, letter_id: str) -> list[Reply]:
    return list(
        session.exec(
            select(Reply).where(Reply.school_id == school_id, Reply.letter_id == letter_id).order_by(col(Reply.created_at))
        ).all()
    )


def _open_entries(session: Session, school_id: str, replies: list[Reply], *, recipient_type: str, keys: dict) -> list[Entry]:
    entries = []
    for reply in replies:
        key = unwrap_content_key(
            session, school_id=school_id, record_type="reply", record_id=reply.id, recipient_type=recipient_type, keys=keys
        )
        entries.append(
            Entry(
                id=reply.id,
                author_kind=reply.author_kind,
                text=open_field(key, school_id, "reply", reply.id, "body", reply.body),
                created_at=as_utc(reply.created_at),
                read_at=as_utc(reply.read_at) if reply.read_at else None,
                meet_on=reply.meet_on,
            )
        )
    return entries


def staff_entries(session: Session, *, school: School, keyring: Keyring, letter_id: str) -> list[Entry]:
    """The thread of a letter as its staff readers see it."""
    return _open_entries(
        session, school.id, _replies(session, school.id, letter_id), recipient_type="audience", keys=keyring.keys
    )


def seal_reply(
    session: Session, *, school: School, letter: Letter, author_kind: str, author_user_id: str | None, text: str, now: datetime
) -> Reply:
    """Seal ``text`` for everyone who can read ``letter`` and add it (not committed)."""
    reply_id = new_id()
    key = crypto.new_content_key()
    reply = Reply(
        id=reply_id,
        school_id=school.id,
        letter_id=letter.id,
        author_kind=author_kind,
        author_user_id=author_user_id,
        body=seal_field(key, school.id, "reply", reply_id, "body", text),
        created_at=now,
    )
    readers = session.exec(
        select(ContentKeyWrap).where(
            ContentKeyWrap.school_id == school.id,
            ContentKeyWrap.record_type == "letter",
            ContentKeyWrap.record_id == letter.id,
            ContentKeyWrap.recipient_type == "audience",
        )
    ).all()
    audience_ids = [wrap.recipient_id for wrap in readers]
    audiences = session.exec(select(Audience).where(Audience.school_id == school.id, col(Audience.id).in_(audience_ids))).all()
    pickup = session.get(PickupCode, letter.pickup_id)
    targets = [("audience", a.id, a.public_key) for a in audiences] + [("pickup", pickup.id, pickup.public_key)]
    session.add(reply)
    session.flush()
    for recipient_type, recipient_id, public_key in targets:
        session.add(
            wrap_content_key(
                school_id=school.id,
                record_type="reply",
                record_id=reply_id,
                recipient_type=recipient_type,
                recipient_id=recipient_id,
                public_key=public_key,
                content_key=key,
            )
        )
    return reply


def reply_as_staff(
    *,
    session: Session,
    school: School,
    keyring: Keyring,
    letter_id: str,
    text: str,
    author_kind: str,
    author_user_id: str,
    clock: Clock,
    seen_version: int | None = None,
    meet_on: date | None = None,
) -> Reply:
    """A counsellor's or teacher's reply, sealed for the child's code and the letter's readers.

    ``seen_version`` is the letter's version when the composer was opened: if
    anyone replied since, :class:`StaleThread` is raised and nothing is stored,
    so two counsellors answering at once never send two answers unawares. A
    colleague's fresh claim refuses the reply with :class:`ClaimedByOther`.
    """
    if author_kind not in STAFF_AUTHORS:
        raise ValueError("staff replies are written by a counsellor or a teacher")
    text = clean_text(text, field_name="text", limit=MAX_REPLY, required=True)
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.id == letter_id)).first()
    if letter is None:
        raise NotFound("letter")
    # Only someone who can read the letter may answer it.
    unwrap_content_key(session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys)
    if not is_openable(letter, clock()):
        raise NotYetOpen("letter")
    if meet_on is not None and not letter.sender_name:
        raise InvalidInput("meet_on", "anonymous")
    now = clock()
    if seen_version is not None and letter.version != seen_version:
        # Someone wrote since this composer opened: show them that first.
        raise StaleThread()
    if letter.claimed_by not in (None, author_user_id) and now - as_utc(letter.claimed_at) <= STALE_CLAIM:
        raise ClaimedByOther(shown_name(session.get(StaffUser, letter.claimed_by)))
    expected = letter.version if seen_version is None else seen_version
    bumped = session.execute(
        update(Letter)
        .where(Letter.school_id == school.id, Letter.id == letter.id, Letter.version == expected)
        .values(
            version=Letter.version + 1,
            claimed_by=author_user_id,
            claimed_at=now,
            status=case((col(Letter.status).in_(("new", "read")), "replied"), else_=Letter.status),
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if bumped != 1:
        session.rollback()
        raise StaleThread()
    reply = seal_reply(session, school=school, letter=letter, author_kind=author_kind, author_user_id=author_user_id, text=text, now=now)
    reply.meet_on = meet_on
    record_event(
        session, school_id=school.id, action="letter.replied", now=now, actor_user_id=author_user_id,
        target_type="letter", target_id=letter.id,
    )
    session.commit()
    return reply


@dataclass(frozen=True)
class ChildThread:
    """What a child sees with their code: their letter and every answer."""

    letter_id: str
    kind: str
    text: str = field(repr=False)
    mood: str
    addressed_to: str
    created_at: datetime
    opening_at: datetime
    entries: list[Entry]

    @property
    def has_reply(self) -> bool:
        return any(entry.author_kind != "child" for entry in self.entries)


def _by_code(session: Session, school: School, code: crypto.PickupCode, sealing: SealingConfig) -> tuple[PickupCode, Letter]:
    pickup = find_pickup(session, school_id=school.id, code=code, sealing=sealing)
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.pickup_id == pickup.id)).first()
    if letter is None:
        raise NotFound("letter")
    return pickup, letter


def open_thread(*, session: Session, school: School, code: crypto.PickupCode, sealing: SealingConfig, clock: Clock) -> ChildThread:
    """Open a child's letter and its thread with the pickup code; marks answers as read."""
    pickup, letter = _by_code(session, school, code, sealing)
    keys = {pickup.id: pickup_keys(pickup, code)}
    key = unwrap_content_key(session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="pickup", keys=keys)
    body = open_json(key, school.id, "letter", letter.id, "body", letter.body)
    replies = _replies(session, school.id, letter.id)
    entries = _open_entries(session, school.id, replies, recipient_type="pickup", keys=keys)
    now = clock()
    unread = [r for r in replies if r.author_kind != "child" and r.read_at is None]
    for reply in unread:
        reply.read_at = now
        session.add(reply)
    if unread:
        session.commit()
    return ChildThread(
        letter_id=letter.id,
        kind=letter.kind,
        text=body["text"],
        mood=body.get("mood", ""),
        addressed_to=body.get("to", ""),
        created_at=as_utc(letter.created_at),
        opening_at=as_utc(letter.opening_at),
        entries=entries,
    )


def follow_up_as_child(
    *, session: Session, school: School, code: crypto.PickupCode, text: str, sealing: SealingConfig, clock: Clock
) -> Reply:
    """The child writes back in the same thread, with nothing but the code."""
    text = clean_text(text, field_name="text", limit=MAX_TEXT, required=True)
    _pickup, letter = _by_code(session, school, code, sealing)
    reply = seal_reply(session, school=school, letter=letter, author_kind="child", author_user_id=None, text=text, now=clock())
    # The child answered: the letter needs a person again, and any composer
    # opened before this message must see it first.
    session.execute(
        update(Letter)
        .where(Letter.school_id == school.id, Letter.id == letter.id)
        .values(version=Letter.version + 1, status=case((Letter.status == "replied", "read"), else_=Letter.status))
        .execution_options(synchronize_session="fetch")
    )
    session.commit()
    return reply
