"""Letters: a child's 悄悄话 to the counsellors, or a letter home to a parent.

A letter is validated, sealed and stored in one transaction: either all of it
(body, sealed sender fields, every key wrap, the pickup code) is written, or
nothing is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import InvalidInput, KeysLocked, NotFound, NotYetOpen
from qiaoqiao.mailbox.keyring import COUNSELLORS, TEACHERS, Keyring, audiences_of
from qiaoqiao.mailbox.alerts import raise_alert
from qiaoqiao.mailbox.opening import URGENT, is_openable, next_opening
from qiaoqiao.mailbox.pickups import find_pickup, issue_pickup_code, pickup_keys
from qiaoqiao.mailbox.screening import ScreenerCache, screen_safely
from qiaoqiao.mailbox.sealing import (
    SealingConfig,
    open_field,
    open_json,
    seal_field,
    seal_json,
    unwrap_content_key,
    wrap_content_key,
)
from qiaoqiao.mailbox.roster import match_student
from qiaoqiao.mailbox.tables import Letter, School, SchoolClass, Submission, new_id
from qiaoqiao.mailbox.text import MAX_TEXT, clean_text
from qiaoqiao.mailbox.threads import Entry, staff_entries

WHISPER = "whisper"
PARENT = "parent"
KINDS = (WHISPER, PARENT)
MAX_NAME = 40
MOODS = ("happy", "sad", "angry", "scared", "homesick", "worried", "lonely")
ADDRESSEES = ("father", "mother", "both", "guardian")

# Which reader groups get a letter of each kind.
READERS = {WHISPER: (COUNSELLORS,), PARENT: (TEACHERS,)}


def readers_of(kind: str, level: int) -> tuple[str, ...]:
    """A letter home that screens urgent is sealed for the counsellors as well."""
    if kind == PARENT and level >= URGENT:
        return (TEACHERS, COUNSELLORS)
    return READERS[kind]


def _screener_or_none(screeners: ScreenerCache, session: Session, school_id: str):
    # Building the school's screener can fail (a bad term); screening then fails safe.
    try:
        return screeners.for_school(session, school_id)
    except Exception:
        return None
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
RESHOW_CODE_FOR = timedelta(seconds=30)


@dataclass(frozen=True)
class LetterForm:
    """What a child may send. Triage fields (level, status) are not part of it."""

    kind: str
    text: str
    sender_name: str = ""
    sender_class: str = ""
    mood: str = ""
    addressed_to: str = ""
    class_id: str = ""  # a letter home: the class picked from the school's list

    def cleaned(self) -> "LetterForm":
        """The same form with every field checked; raises :class:`InvalidInput`."""
        if self.kind not in KINDS:
            raise InvalidInput("kind", "unknown")
        text = clean_text(self.text, field_name="text", limit=MAX_TEXT, required=True)
        named = self.kind == PARENT
        name = clean_text(self.sender_name, field_name="sender_name", limit=MAX_NAME, required=named)
        klass = clean_text(self.sender_class, field_name="sender_class", limit=MAX_NAME, required=named and not self.class_id)
        if "\n" in name or "\n" in klass:
            raise InvalidInput("sender_name" if "\n" in name else "sender_class", "control_chars")
        if self.mood and self.mood not in MOODS:
            raise InvalidInput("mood", "unknown")
        addressed_to = self.addressed_to if named else ""
        if named and addressed_to not in ADDRESSEES:
            raise InvalidInput("addressed_to", "empty" if not addressed_to else "unknown")
        return LetterForm(
            kind=self.kind, text=text, sender_name=name, sender_class=klass, mood=self.mood, addressed_to=addressed_to,
            class_id=self.class_id if named else "",
        )


@dataclass(frozen=True)
class Receipt:
    """What the child is shown after sending: the code, once."""

    letter_id: str
    code: crypto.PickupCode | None = field(repr=False)  # None: already shown, not shown again
    opening_at: datetime
    level: int = 0


def submit_letter(
    *,
    session: Session,
    school: School,
    form: LetterForm,
    sealing: SealingConfig,
    clock: Clock,
    screeners: ScreenerCache,
    source_kind: str = "web",
    source_id: str | None = None,
    source_label: str = "",
    submission_token: str = "",
) -> Receipt:
    """Validate, seal and store a letter with a new pickup code, all in one transaction.

    ``submission_token`` is the form's idempotency token: the same token sent
    twice (a double tap, a resent form) stores one letter and returns the
    first receipt again.
    """
    form = form.cleaned()
    class_id, student_id = None, None
    if form.class_id:
        klass = session.exec(select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.id == form.class_id)).first()
        if klass is None:
            raise InvalidInput("class_id", "unknown")
        form = replace(form, sender_class=klass.name)
        class_id = klass.id
        # Matched to the roster by a keyed hash of class and name; a letter
        # that matches nobody waits for the class teacher to match by hand.
        student_id = match_student(session, school=school, class_id=klass.id, name=form.sender_name, sealing=sealing)
    token = submission_token if _TOKEN.fullmatch(submission_token or "") else ""
    if token:
        earlier = _earlier_receipt(session, school, token, clock())
        if earlier is not None:
            return earlier
    now = clock()
    # Screened before sealing: afterwards the server can no longer read it.
    screening = screen_safely(_screener_or_none(screeners, session, school.id), form.text)
    audiences = audiences_of(session, school.id)
    pickup, code = issue_pickup_code(school_id=school.id, sealing=sealing, now=now)
    letter_id = new_id()
    key = crypto.new_content_key()

    def seal(name: str, value: str) -> bytes | None:
        return seal_field(key, school.id, "letter", letter_id, name, value) if value else None

    letter = Letter(
        id=letter_id,
        school_id=school.id,
        kind=form.kind,
        body=seal_json(
            key,
            school.id,
            "letter",
            letter_id,
            "body",
            {"text": form.text, "mood": form.mood, "to": form.addressed_to, "rules": list(screening.rules)},
        ),
        level=screening.level,
        categories=",".join(screening.categories),
        held=form.kind == PARENT and screening.level >= URGENT,
        class_id=class_id,
        student_id=student_id,
        sender_name=seal("sender_name", form.sender_name),
        sender_class=seal("sender_class", form.sender_class),
        opening_at=next_opening(school, now),
        source_kind=source_kind,
        source_id=source_id,
        pickup_id=pickup.id,
        created_at=now,
    )
    wraps = [
        wrap_content_key(
            school_id=school.id,
            record_type="letter",
            record_id=letter_id,
            recipient_type="audience",
            recipient_id=audiences[name].id,
            public_key=audiences[name].public_key,
            content_key=key,
        )
        for name in readers_of(form.kind, screening.level)
    ]
    wraps.append(
        wrap_content_key(
            school_id=school.id,
            record_type="letter",
            record_id=letter_id,
            recipient_type="pickup",
            recipient_id=pickup.id,
            public_key=pickup.public_key,
            content_key=key,
        )
    )
    receipt = Receipt(letter_id=letter_id, code=code, opening_at=letter.opening_at, level=screening.level)
    session.add(pickup)
    session.flush()
    session.add(letter)
    session.flush()
    session.add_all(wraps)
    if screening.level >= URGENT:
        raise_alert(session, school=school, letter=letter, categories=screening.categories, source=source_label or source_kind, now=now)
    if token:
        session.add(
            Submission(
                token_hash=crypto.token_hash(token, "submission"),
                school_id=school.id,
                letter_id=letter_id,
                sealed_receipt=crypto.seal_content(
                    crypto.token_key(token, "submission receipt"),
                    code.digits.encode(),
                    crypto.bind(school.id, "submission", letter_id),
                ),
                created_at=now,
            )
        )
    try:
        session.commit()
    except IntegrityError:
        # The same form arrived twice at once and the other copy won: nothing
        # of this copy is stored, and the child sees the winner's receipt.
        session.rollback()
        earlier = _earlier_receipt(session, school, token, clock()) if token else None
        if earlier is None:
            raise
        return earlier
    return receipt


def _earlier_receipt(session: Session, school: School, token: str, now: datetime) -> Receipt | None:
    """The receipt of a form already sent: with its code only for a short while.

    A double tap arrives within seconds and must see the code. Much later, the
    same form sent again can only be a Back-and-Reload at a shared tablet: the
    letter is not sent twice, and the code is not shown to whoever is there now.
    """
    row = session.get(Submission, crypto.token_hash(token, "submission"))
    if row is None or row.school_id != school.id:
        return None
    letter = session.get(Letter, row.letter_id)
    if now - as_utc(row.created_at) > RESHOW_CODE_FOR:
        return Receipt(letter_id=row.letter_id, code=None, opening_at=as_utc(letter.opening_at), level=letter.level)
    digits = crypto.open_content(
        crypto.token_key(token, "submission receipt"), row.sealed_receipt, crypto.bind(school.id, "submission", row.letter_id)
    ).decode()
    return Receipt(letter_id=row.letter_id, code=crypto.PickupCode(digits), opening_at=as_utc(letter.opening_at), level=letter.level)


def list_letters(session: Session, *, school: School) -> list[Letter]:
    """The school's letters, most serious first, then oldest first."""
    return list(
        session.exec(
            select(Letter)
            .where(Letter.school_id == school.id)
            .order_by(col(Letter.level).desc(), col(Letter.created_at))
        ).all()
    )


@dataclass(frozen=True)
class OpenedLetter:
    """A letter's plaintext, for rendering in an unlocked staff page only."""

    letter: Letter
    text: str = field(repr=False)
    mood: str
    sender_name: str = field(repr=False)
    sender_class: str = field(repr=False)
    addressed_to: str
    entries: list[Entry]
    rules: tuple[str, ...] = ()

    @property
    def created_at(self) -> datetime:
        return as_utc(self.letter.created_at)


def open_letter(
    *, session: Session, school: School, keyring: Keyring, letter_id: str, actor_user_id: str, clock: Clock
) -> OpenedLetter:
    """Decrypt one letter with the staff member's keys and record that they opened it."""
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.id == letter_id)).first()
    if letter is None:
        raise NotFound("letter")
    if not is_openable(letter, clock()):
        raise NotYetOpen("letter")
    key = unwrap_content_key(
        session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys
    )
    body = open_json(key, school.id, "letter", letter.id, "body", letter.body)

    def reveal(name: str, blob: bytes | None) -> str:
        return open_field(key, school.id, "letter", letter.id, name, blob) if blob else ""

    opened = OpenedLetter(
        letter=letter,
        text=body["text"],
        mood=body.get("mood", ""),
        sender_name=reveal("sender_name", letter.sender_name),
        sender_class=reveal("sender_class", letter.sender_class),
        addressed_to=body.get("to", ""),
        entries=staff_entries(session, school=school, keyring=keyring, letter_id=letter.id),
        rules=tuple(body.get("rules", ())),
    )
    if letter.status == "new":
        letter.status = "read"
        session.add(letter)
    record_event(
        session, school_id=school.id, action="letter.opened", now=clock(), actor_user_id=actor_user_id,
        target_type="letter", target_id=letter.id,
    )
    session.commit()
    return opened


def identify_sender(
    *, session: Session, school: School, code: crypto.PickupCode, sender_name: str, sender_class: str, sealing: SealingConfig, clock: Clock
) -> None:
    """A child who wrote an urgent note chooses to say who they are, so a counsellor can find them.

    Only the holder of the letter's pickup code can do this: the code's key
    opens the letter's content key, under which the name and class are sealed.
    A name already given is never overwritten.
    """
    name = clean_text(sender_name, field_name="sender_name", limit=MAX_NAME, required=True)
    klass = clean_text(sender_class, field_name="sender_class", limit=MAX_NAME, required=False)
    pickup = find_pickup(session, school_id=school.id, code=code, sealing=sealing)
    letter = session.exec(select(Letter).where(Letter.school_id == school.id, Letter.pickup_id == pickup.id)).first()
    if letter is None:
        raise NotFound("letter")
    if letter.sender_name:
        return
    key = unwrap_content_key(
        session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="pickup",
        keys={pickup.id: pickup_keys(pickup, code)},
    )
    letter.sender_name = seal_field(key, school.id, "letter", letter.id, "sender_name", name)
    if klass:
        letter.sender_class = seal_field(key, school.id, "letter", letter.id, "sender_class", klass)
    session.add(letter)
    record_event(session, school_id=school.id, action="letter.identified", now=clock(), target_type="letter", target_id=letter.id)
    session.commit()


def sender_class_of(session: Session, *, school: School, keyring: Keyring, letter: Letter) -> str:
    """The class a child wrote, for lists and counts; "" when unsigned or not this keyring's to read."""
    if not letter.sender_class:
        return ""
    try:
        key = unwrap_content_key(
            session, school_id=school.id, record_type="letter", record_id=letter.id, recipient_type="audience", keys=keyring.keys
        )
    except KeysLocked:
        return ""
    return open_field(key, school.id, "letter", letter.id, "sender_class", letter.sender_class)
