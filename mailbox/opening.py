"""The weekly opening: the paper mailbox was opened every Friday afternoon.

A letter belongs to the first opening after it arrives. The school's opening
time is kept in its own time zone (default Friday 14:00 Asia/Shanghai), so the
same rule holds across daylight-saving changes elsewhere. Urgent letters
(screened level 2 or 3) do not wait for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from qiaoqiao.mailbox.clock import as_utc
from qiaoqiao.mailbox.tables import Letter, School

URGENT = 2


def next_opening(school: School, after: datetime) -> datetime:
    """The first opening strictly after ``after``, in UTC."""
    zone = ZoneInfo(school.timezone)
    local = as_utc(after).astimezone(zone)
    days_ahead = (school.opening_weekday - local.weekday()) % 7
    candidate = (local + timedelta(days=days_ahead)).replace(
        hour=school.opening_hour, minute=school.opening_minute, second=0, microsecond=0
    )
    if candidate <= local:
        candidate += timedelta(days=7)
    return as_utc(candidate)


def last_opening(school: School, now: datetime) -> datetime:
    """The most recent opening at or before ``now``, in UTC."""
    return next_opening(school, as_utc(now) - timedelta(days=7))


def is_openable(letter: Letter, now: datetime) -> bool:
    """May staff read it now? Urgent letters and letters home at once, 悄悄话 from their opening."""
    return letter.level >= URGENT or letter.kind != "whisper" or as_utc(letter.opening_at) <= as_utc(now)
