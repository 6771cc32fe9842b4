"""The weekly summary a school reports upward, without identifying a child.

Counts by kind, screening level, category, grade and week, the replies sent
and the median time to a first reply. Any count under 3 is shown as "<3": in a
rural school one class may have two left-behind children, and "2 letters from
grade 5 about abuse" would point at them.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.clock import Clock, as_utc
from qiaoqiao.mailbox.keyring import Keyring
from qiaoqiao.mailbox.letters import sender_class_of
from qiaoqiao.mailbox.opening import next_opening
from qiaoqiao.mailbox.tables import Letter, Reply, School

SMALLEST_SHOWN = 3
CATEGORIES = ("self_harm", "abuse", "sexual_abuse", "bullying", "runaway", "neglect", "peer_at_risk")
_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_JUNIOR = re.compile(r"初([一二三])")
_GRADE = re.compile(r"^\s*([一二三四五六七八九]|[1-9])\s*(?:年级|[(（]|班|\d|[一二三四五六七八九])")


def grade_of(class_text: str) -> int | None:
    """The grade (1–9) a child wrote as their class, or None when it cannot be told.

    Children write "三(2)班", "3年级2班", "二年级三班", "五2班" or "初一(3)班".
    """
    text = class_text.strip()
    junior = _JUNIOR.search(text)
    if junior:
        return 6 + _NUMERALS[junior.group(1)]
    found = _GRADE.match(text)
    if not found:
        return None
    value = found.group(1)
    return int(value) if value.isdigit() else _NUMERALS[value]


def shown(count: int) -> str:
    """A count as it may be shown: exact from 3 up, "<3" below."""
    return str(count) if count >= SMALLEST_SHOWN else "<3"


@dataclass
class WeekRow:
    opening_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    reply_hours: list[float] = field(default_factory=list)

    def median_hours(self) -> str:
        """Median hours to a first reply, withheld when too few letters had one."""
        if len(self.reply_hours) < SMALLEST_SHOWN:
            return "—"
        return f"{statistics.median(self.reply_hours):.1f}"


def columns() -> list[str]:
    return (
        ["letters", "kind:whisper", "kind:parent"]
        + [f"level:{n}" for n in range(4)]
        + [f"category:{c}" for c in CATEGORIES]
        + [f"grade:{g}" for g in range(1, 10)]
        + ["grade:unknown"]
    )


@dataclass(frozen=True)
class Summary:
    weeks: list[WeekRow]

    def cell(self, row: WeekRow, column: str) -> str:
        return shown(row.counts.get(column, 0))

    def to_csv(self) -> str:
        """The same table as CSV, with the same suppression."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["week_opening"] + columns() + ["replies", "median_hours_to_first_reply"])
        for row in self.weeks:
            writer.writerow(
                [as_utc(row.opening_at).date().isoformat()]
                + [self.cell(row, c) for c in columns()]
                + [shown(row.replies), row.median_hours()]
            )
        return out.getvalue()


def weekly_summary(*, session: Session, school: School, keyring: Keyring, weeks: int, clock: Clock) -> Summary:
    """The coming opening (its week still filling) and the ones before it, newest first.

    Grades need the keys that read the classes; a letter the keyring cannot
    read counts under "grade:unknown".
    """
    newest = next_opening(school, clock())
    oldest = newest - timedelta(days=7 * (weeks - 1))
    letters = session.exec(
        select(Letter).where(Letter.school_id == school.id, Letter.opening_at >= oldest, Letter.opening_at <= newest)
    ).all()
    staff_replies = session.exec(
        select(Reply)
        .where(Reply.school_id == school.id, col(Reply.author_kind).in_(("counsellor", "teacher")))
        .order_by(col(Reply.created_at))
    ).all()
    first_reply: dict[str, datetime] = {}
    reply_count: dict[str, int] = {}
    for reply in staff_replies:
        first_reply.setdefault(reply.letter_id, as_utc(reply.created_at))
        reply_count[reply.letter_id] = reply_count.get(reply.letter_id, 0) + 1

    rows: dict[datetime, WeekRow] = {}
    for n in range(weeks):
        opening = newest - timedelta(days=7 * n)
        rows[opening] = WeekRow(opening_at=opening)
    for letter in letters:
        row = rows.get(as_utc(letter.opening_at))
        if row is None:
            continue  # belongs to an opening under an earlier schedule of the school
        counts = row.counts
        grade = grade_of(sender_class_of(session, school=school, keyring=keyring, letter=letter))
        keys = ["letters", f"kind:{letter.kind}", f"level:{letter.level}", f"grade:{grade if grade else 'unknown'}"]
        keys += [f"category:{c}" for c in letter.categories.split(",") if c]
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        if letter.id in first_reply:
            row.reply_hours.append((first_reply[letter.id] - as_utc(letter.created_at)).total_seconds() / 3600)
        row.replies += reply_count.get(letter.id, 0)
    return Summary(weeks=list(rows.values()))
