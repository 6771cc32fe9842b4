"""A counsellor's private notes on a letter, sealed for the counsellors alone.

Never shown to the child, never sealed for the teachers: what a counsellor
writes down while thinking about a child stays among counsellors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.errors import NotFound
from qiaoqiao.mailbox.keyring import COUNSELLORS, Keyring, audiences_of
from qiaoqiao.mailbox.sealing import open_field, seal_field, unwrap_content_key, wrap_content_key
from qiaoqiao.mailbox.staff import staff_names
from qiaoqiao.mailbox.tables import Letter, LetterNote, School, new_id
from qiaoqiao.mailbox.text import clean_text

MAX_NOTE = 2000


@dataclass(frozen=True)
class Note:
    author: str
    text: str = field(repr=False)
    created_at: datetime


def add_note(*, session: Session, school: School, keyring: Keyring, letter_id: str, text: str, author_user_id: str, clock: Clock) -> LetterNote:
    """Seal a note for the counsellors' audience and attach it to the letter."""
    keyring.keypair(COUNSELLORS)  # only a counsellor writes notes
    text = clean_text(text, field_name="note", limit=MAX_NOTE, required=True)
    if session.exec(select(Letter.id).where(Letter.school_id == school.id, Letter.id == letter_id)).first() is None:
        raise NotFound("letter")
    audience = audiences_of(session, school.id)[COUNSELLORS]
    note_id, key = new_id(), crypto.new_content_key()
    note = LetterNote(
        id=note_id, school_id=school.id, letter_id=letter_id, author_user_id=author_user_id,
        body=seal_field(key, school.id, "note", note_id, "body", text), created_at=clock(),
    )
    session.add(note)
    session.flush()
    session.add(
        wrap_content_key(
            school_id=school.id, record_type="note", record_id=note_id, recipient_type="audience",
            recipient_id=audience.id, public_key=audience.public_key, content_key=key,
        )
    )
    session.commit()
    return note


def list_notes(session: Session, *, school: School, keyring: Keyring, letter_id: str) -> list[Note]:
    """The notes on a letter, opened; empty for someone without the counsellors' key."""
    if not keyring.has(COUNSELLORS):
        return []
    rows = session.exec(
        select(LetterNote).where(LetterNote.school_id == school.id, LetterNote.letter_id == letter_id).order_by(col(LetterNote.created_at))
    ).all()
    names = staff_names(session, school_id=school.id)
    notes = []
    for row in rows:
        key = unwrap_content_key(session, school_id=school.id, record_type="note", record_id=row.id, recipient_type="audience", keys=keyring.keys)
        notes.append(Note(author=names.get(row.author_user_id, ""), text=open_field(key, school.id, "note", row.id, "body", row.body), created_at=as_utc(row.created_at)))
    return notes
