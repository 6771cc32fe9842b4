"""Letters home: the class teacher forwards them, the parent reads and writes back (两地书).

A forwarded letter gets a link with a random secret (the database keeps only
its hash, and the letter's content key wrapped under a key derived from it)
and a separate six-digit access code, checked with an HMAC keyed by the
secret. Links expire (30 days by default) and can be revoked. A parent sees
that one letter only; their reply is screened like any letter and sealed for
the child's pickup code and the letter's readers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.alerts import raise_alert
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, MailboxError, NotFound
from qiaoqiao.mailbox.keyring import COUNSELLORS, Keyring, audiences_of
from qiaoqiao.mailbox.opening import URGENT
from qiaoqiao.mailbox.roster import classes_of_teacher
from qiaoqiao.mailbox.screening import ScreenerCache, screen_safely
from qiaoqiao.mailbox.sealing import open_field, open_json, unwrap_content_key, wrap_content_key
from qiaoqiao.mailbox.tables import ContentKeyWrap, Letter, ParentLink, School, SchoolClass, Student
from qiaoqiao.mailbox.text import MAX_TEXT, clean_text
from qiaoqiao.mailbox.threads import seal_reply

LINK_LIFETIME = timedelta(days=30)


class LinkGone(MailboxError):
    """The link was revoked or has expired: a clear page, no letter."""


@dataclass(frozen=True)
class LetterHome:
    letter: Letter
    class_name: str
    sender_name: str = field(repr=False)
    links: list[ParentLink]


def letters_home(session: Session, *, school: School, keyring: Keyring, user_id: str, roles: frozenset[str]) -> list[LetterHome]:
    """The letters home of the classes this teacher has (all classes for an admin)."""
    classes = {c.id: c for c in classes_of_teacher(session, school=school, user_id=user_id, roles=roles)}
    query = select(Letter).where(Letter.school_id == school.id, Letter.kind == "parent").order_by(col(Letter.created_at).desc())
    rows = []
    for letter in session.exec(query):
        if letter.class_id not in classes and not ({"admin"} & roles):
            continue
        try:
            key = unwrap_content_key(session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys)
            name = open_field(key, school.id, "letter", letter.id, "sender_name", letter.sender_name) if letter.sender_name else ""
        except MailboxError:
            name = ""
        links = session.exec(select(ParentLink).where(ParentLink.letter_id == letter.id).order_by(col(ParentLink.created_at))).all()
        klass = classes.get(letter.class_id or "")
        rows.append(LetterHome(letter=letter, class_name=klass.name if klass else "", sender_name=name, links=list(links)))
    return rows


def _letter_home(session: Session, school: School, letter_id: str, user_id: str, roles: frozenset[str]) -> Letter:
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.id == letter_id, Letter.kind == "parent")).first()
    if letter is None:
        raise NotFound("letter")
    if "admin" not in roles:
        klass = session.get(SchoolClass, letter.class_id) if letter.class_id else None
        if klass is None or klass.teacher_user_id != user_id:
            raise Forbidden("class")
    return letter


def release(*, session: Session, school: School, keyring: Keyring, letter_id: str, actor_user_id: str, clock: Clock) -> Letter:
    """A counsellor has seen an urgent letter home and lets the teacher forward it."""
    keyring.keypair(COUNSELLORS)
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.id == letter_id)).first()
    if letter is None:
        raise NotFound("letter")
    letter.held = False
    session.add(letter)
    record_event(session, school_id=school.id, action="letter.released", now=clock(), actor_user_id=actor_user_id, target_type="letter", target_id=letter.id)
    session.commit()
    return letter


@dataclass(frozen=True)
class Forwarded:
    link: ParentLink
    secret: str = field(repr=False)
    access_code: str = field(repr=False)


def forward(
    *, session: Session, school: School, keyring: Keyring, letter_id: str, user_id: str, roles: frozenset[str], clock: Clock,
    lifetime: timedelta = LINK_LIFETIME,
) -> Forwarded:
    """A new parent link and access code for a letter home (shown once to the teacher)."""
    letter = _letter_home(session, school, letter_id, user_id, roles)
    if letter.held:
        raise Forbidden("held")
    content_key = unwrap_content_key(session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys)
    secret, code, now = crypto.new_link_secret(), crypto.new_access_code(), clock()
    link = ParentLink(
        school_id=school.id, letter_id=letter.id, link_hash=crypto.link_hash(secret), access_tag=crypto.access_code_tag(secret, code),
        key_wrap=b"", created_by=user_id, created_at=now, expires_at=now + lifetime,
    )
    link.key_wrap = crypto.seal_content(crypto.link_key(secret), content_key, crypto.bind(school.id, "parent_link", link.id))
    session.add(link)
    if letter.forward_status == "new":
        letter.forward_status = "forwarded"
        session.add(letter)
    record_event(session, school_id=school.id, action="letter.forwarded", now=now, actor_user_id=user_id, target_type="letter", target_id=letter.id)
    session.commit()
    return Forwarded(link=link, secret=secret, access_code=code)


def revoke(*, session: Session, school: School, link_id: str, user_id: str, roles: frozenset[str], clock: Clock) -> None:
    link = session.exec(select(ParentLink).where(ParentLink.school_id == school.id, ParentLink.id == link_id)).first()
    if link is None:
        raise NotFound("link")
    _letter_home(session, school, link.letter_id, user_id, roles)
    if link.revoked_at is None:
        link.revoked_at = clock()
        session.add(link)
        record_event(session, school_id=school.id, action="link.revoked", now=clock(), actor_user_id=user_id, target_type="link", target_id=link.id)
        session.commit()


def find_link(session: Session, *, secret: str, clock: Clock) -> ParentLink:
    """The live link for a secret: :class:`NotFound` if unknown, :class:`LinkGone` if revoked or expired."""
    link = session.exec(select(ParentLink).where(ParentLink.link_hash == crypto.link_hash(secret))).first()
    if link is None:
        raise NotFound("link")
    if link.revoked_at is not None or as_utc(link.expires_at) <= clock():
        raise LinkGone()
    return link


@dataclass(frozen=True)
class ParentView:
    school_name: str
    child_name: str = field(repr=False)
    text: str = field(repr=False)
    addressed_to: str
    created_at: datetime
    answered: bool


def _content_key(link: ParentLink, secret: str) -> bytes:
    return crypto.open_content(crypto.link_key(secret), link.key_wrap, crypto.bind(link.school_id, "parent_link", link.id))


def _typed_code(code: str) -> str:
    """What a parent typed: full-width digits and spaces folded away."""
    return "".join(unicodedata.normalize("NFKC", code).split())


def open_for_parent(*, session: Session, secret: str, code: str, clock: Clock) -> ParentView:
    """The letter, for the holder of the link and its access code (throttled by the caller)."""
    link = find_link(session, secret=secret, clock=clock)
    if not crypto.verify_access_code(secret, _typed_code(code), link.access_tag):
        raise InvalidInput("access_code", "wrong")
    letter = session.get(Letter, link.letter_id)
    school = session.get(School, link.school_id)
    key = _content_key(link, secret)
    body = open_json(key, school.id, "letter", letter.id, "body", letter.body)
    name = open_field(key, school.id, "letter", letter.id, "sender_name", letter.sender_name) if letter.sender_name else ""
    if link.opened_at is None:
        link.opened_at = clock()
        session.add(link)
        if letter.forward_status == "forwarded":
            letter.forward_status = "opened"
            session.add(letter)
        record_event(session, school_id=school.id, action="link.opened", now=clock(), target_type="link", target_id=link.id)
        session.commit()
    return ParentView(
        school_name=school.name, child_name=name, text=body["text"], addressed_to=body.get("to", ""),
        created_at=as_utc(letter.created_at), answered=letter.forward_status == "answered",
    )


def parent_reply(
    *, session: Session, secret: str, code: str, text: str, screeners: ScreenerCache, clock: Clock
) -> int:
    """The parent writes back (两地书): screened, sealed for the child's code and the readers. Returns the level."""
    link = find_link(session, secret=secret, clock=clock)
    if not crypto.verify_access_code(secret, _typed_code(code), link.access_tag):
        raise InvalidInput("access_code", "wrong")
    text = clean_text(text, field_name="text", limit=MAX_TEXT, required=True)
    letter = session.get(Letter, link.letter_id)
    school = session.get(School, link.school_id)
    try:
        screener = screeners.for_school(session, school.id)
    except Exception:
        screener = None
    screening = screen_safely(screener, text)
    now = clock()
    if screening.level >= URGENT:
        # A reply that screens urgent reaches the counsellors too, and is routed.
        wrapped = session.exec(
            select(ContentKeyWrap.recipient_id).where(
                ContentKeyWrap.record_type == "letter", ContentKeyWrap.record_id == letter.id, ContentKeyWrap.recipient_type == "audience"
            )
        ).all()
        counsellors = audiences_of(session, school.id)[COUNSELLORS]
        if counsellors.id not in wrapped:
            session.add(
                wrap_content_key(
                    school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience",
                    recipient_id=counsellors.id, public_key=counsellors.public_key, content_key=_content_key(link, secret),
                )
            )
            session.flush()
        letter.level = max(letter.level, screening.level)
        letter.categories = ",".join(sorted(set(filter(None, letter.categories.split(","))) | set(screening.categories)))
        raise_alert(session, school=school, letter=letter, categories=screening.categories, source="parent reply", now=now)
    seal_reply(session, school=school, letter=letter, author_kind="parent", author_user_id=None, text=text, now=now)
    letter.forward_status = "answered"
    letter.version += 1
    session.add(letter)
    record_event(session, school_id=school.id, action="letter.parent_replied", now=now, target_type="letter", target_id=letter.id)
    session.commit()
    return screening.level




def match_by_hand(
    *, session: Session, school: School, letter_id: str, student_id: str, user_id: str, roles: frozenset[str], clock: Clock
) -> Letter:
    """The class teacher says which child of the class wrote a letter the roster could not match."""
    letter = _letter_home(session, school, letter_id, user_id, roles)
    student = session.exec(select(Student).where(Student.school_id == school.id, Student.id == student_id)).first()
    if student is None or student.class_id != letter.class_id:
        raise InvalidInput("student", "unknown")
    letter.student_id = student.id
    session.add(letter)
    record_event(session, school_id=school.id, action="letter.matched", now=clock(), actor_user_id=user_id, target_type="letter", target_id=letter.id)
    session.commit()
    return letter
