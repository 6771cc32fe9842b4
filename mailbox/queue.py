"""The Friday batch: what counsellors work through, most serious first.

The queue holds this week's letters, anything still unanswered from earlier
weeks, and every urgent letter at once. Routine 悄悄话 that arrived after the
last opening wait for the next one: counted, not shown. Within the queue the
order is screening level (urgent, concern, routine), then age.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.keyring import Keyring
from qiaoqiao.mailbox.letters import KINDS, sender_class_of
from qiaoqiao.mailbox.opening import URGENT, last_opening, next_opening
from qiaoqiao.mailbox.staff import staff_names
from qiaoqiao.mailbox.tables import Letter, School

STATUSES = ("new", "read", "replied", "follow_up", "closed")
DONE = ("replied", "closed")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    """What the counsellor narrowed the queue to; empty strings mean "any"."""

    kind: str = ""
    status: str = ""
    category: str = ""
    klass: str = ""
    page: int = 1

    def cleaned(self) -> "QueueFilters":
        return QueueFilters(
            kind=self.kind if self.kind in KINDS else "",
            status=self.status if self.status in STATUSES else "",
            category=self.category if self.category.replace("_", "").isalpha() else "",
            klass=" ".join(self.klass.split())[:40],
            page=max(1, self.page),
        )


@dataclass(frozen=True)
class QueueItem:
    letter: Letter
    sender_class: str = field(repr=False)
    claimed_by_name: str


@dataclass(frozen=True)
class QueueView:
    last_opening: datetime
    next_opening: datetime
    items: list[QueueItem]
    waiting: int  # routine 悄悄话 held until the next opening
    replied: int
    total: int
    page: int
    pages: int


def _in_queue(school: School, now: datetime):
    opened = last_opening(school, now)
    return and_(
        Letter.school_id == school.id,
        or_(
            Letter.level >= URGENT,
            Letter.kind != "whisper",
            Letter.opening_at <= opened,
        ),
        or_(
            # This week's batch (and letters home already read before the next opening)…
            Letter.opening_at >= opened,
            # …anything still unanswered from earlier weeks, and every open urgent letter.
            col(Letter.status).not_in(DONE),
            and_(Letter.level >= URGENT, Letter.status != "closed"),
        ),
    )


def _has_category(category: str):
    """One whole item of the comma-separated list ("abuse" is not "sexual_abuse")."""
    escaped = category.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    column = col(Letter.categories)
    return or_(
        column == category,
        column.like(f"{escaped},%", escape="\\"),
        column.like(f"%,{escaped}", escape="\\"),
        column.like(f"%,{escaped},%", escape="\\"),
    )


def build_queue(*, session: Session, school: School, keyring: Keyring, filters: QueueFilters, clock: Clock) -> QueueView:
    """The queue at ``clock()``, filtered and paged; only letters this keyring can read."""
    now = clock()
    filters = filters.cleaned()
    base = _in_queue(school, now)
    readable_kinds = [k for k, audience in (("whisper", "counsellors"), ("parent", "teachers")) if keyring.has(audience)]
    if keyring.has("counsellors"):
        # Counsellors also read letters home that screening flagged.
        readable = or_(col(Letter.kind).in_(readable_kinds), Letter.level >= URGENT)
    else:
        readable = col(Letter.kind).in_(readable_kinds)
    base = and_(base, readable)

    total = session.exec(select(func.count()).select_from(Letter).where(base)).one()
    replied = session.exec(select(func.count()).select_from(Letter).where(base, col(Letter.status).in_(DONE))).one()
    # Only those who will read them are told how many 悄悄话 wait.
    waiting = (
        session.exec(
            select(func.count())
            .select_from(Letter)
            .where(
                Letter.school_id == school.id,
                Letter.kind == "whisper",
                Letter.level < URGENT,
                Letter.opening_at > last_opening(school, now),
            )
        ).one()
        if keyring.has("counsellors")
        else 0
    )

    query = select(Letter).where(base)
    if filters.kind:
        query = query.where(Letter.kind == filters.kind)
    if filters.status:
        query = query.where(Letter.status == filters.status)
    if filters.category:
        query = query.where(_has_category(filters.category))
    query = query.order_by(col(Letter.level).desc(), col(Letter.created_at), col(Letter.id))

    names = staff_names(session, school_id=school.id)
    if filters.klass:
        # The class is sealed, so filtering by it means opening each candidate's class.
        rows = [
            (letter, cls)
            for letter in session.exec(query)
            if filters.klass in (cls := sender_class_of(session, school=school, keyring=keyring, letter=letter))
        ]
        count = len(rows)
        start = (filters.page - 1) * PAGE_SIZE
        page_rows = rows[start : start + PAGE_SIZE]
    else:
        count = session.exec(select(func.count()).select_from(query.subquery())).one()
        letters = session.exec(query.offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
        page_rows = [(letter, sender_class_of(session, school=school, keyring=keyring, letter=letter)) for letter in letters]
    items = [
        QueueItem(letter=letter, sender_class=cls, claimed_by_name=names.get(letter.claimed_by or "", "")) for letter, cls in page_rows
    ]
    return QueueView(
        last_opening=last_opening(school, now),
        next_opening=next_opening(school, now),
        items=items,
        waiting=waiting,
        replied=replied,
        total=total,
        page=filters.page,
        pages=max(1, math.ceil(count / PAGE_SIZE)),
    )



def open_mailbox_now(*, session: Session, school: School, clock: Clock, actor_user_id: str) -> int:
    """Open the mailbox before its day (a holiday Friday, a worried counsellor).

    Every 悄悄话 still waiting joins the current batch; the audit log records
    who opened it early. Returns how many letters were waiting.
    """
    now = clock()
    opened = session.execute(
        update(Letter)
        .where(Letter.school_id == school.id, Letter.kind == "whisper", Letter.opening_at > now)
        .values(opening_at=last_opening(school, now))
        .execution_options(synchronize_session="fetch")
    ).rowcount
    record_event(session, school_id=school.id, action="mailbox.opened_early", now=now, actor_user_id=actor_user_id, detail={"letters": opened})
    session.commit()
    return opened
