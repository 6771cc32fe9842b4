"""The weekly opening: the paper mailbox was opened every Friday afternoon.

A letter belongs to the first opening after it arrives. The school's opening
time is kept in its own time zone (default Friday 14:00 Asia/Shanghai), so the
same rule holds across daylight-saving changes elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from qiaoqiao.mailbox.clock import as_utc
from qiaoqiao.mailbox.tables import School


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
