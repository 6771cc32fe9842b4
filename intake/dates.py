"""Dates as a child or a teacher reads them, in the school's own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

_PATTERNS = {
    "zh_Hans": {"day": "M月d日 EEEE", "time": "M月d日 EEEE HH:mm", "short": "M月d日 HH:mm"},
    "en": {"day": "EEEE d MMMM", "time": "EEEE d MMMM, HH:mm", "short": "d MMM HH:mm"},
}


def day_formatter(locale: str):
    """A ``when_day(date)`` function for templates: a calendar day, no time."""
    pattern = "M月d日 EEEE" if locale.startswith("zh") else "EEEE d MMMM"
    babel_locale = "zh_Hans_CN" if locale.startswith("zh") else "en"

    def when_day(day) -> str:
        return format_date(day, pattern, locale=babel_locale)

    return when_day


def formatter(locale: str, timezone: str):
    """A ``when(moment, style)`` function for templates."""
    zone = ZoneInfo(timezone)
    patterns = _PATTERNS.get(locale, _PATTERNS["zh_Hans"])
    babel_locale = "zh_Hans_CN" if locale.startswith("zh") else "en"

    def when(moment: datetime, style: str = "time") -> str:
        return format_datetime(moment, patterns[style], tzinfo=zone, locale=babel_locale)

    return when
