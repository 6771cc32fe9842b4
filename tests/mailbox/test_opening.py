"""The weekly opening, at its boundaries, with a fixed clock."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from qiaoqiao.mailbox.opening import next_opening
from qiaoqiao.mailbox.tables import School

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _school(**kw) -> School:
    return School(slug="x", name="x", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), **kw)


def _local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "arrived, expected",
    [
        (_local(2026, 11, 27, 13, 59), _local(2026, 11, 27, 14, 0)),  # Friday 13:59: this Friday
        (_local(2026, 11, 27, 14, 0), _local(2026, 12, 4, 14, 0)),  # exactly at the opening: next week
        (_local(2026, 11, 27, 14, 1), _local(2026, 12, 4, 14, 0)),  # Friday 14:01: next Friday
        (_local(2026, 11, 23, 8, 0), _local(2026, 11, 27, 14, 0)),  # Monday
        (_local(2026, 11, 29, 23, 59), _local(2026, 12, 4, 14, 0)),  # Sunday night
    ],
)
def test_a_letter_belongs_to_the_first_opening_after_it_arrives(arrived, expected):
    assert next_opening(_school(), arrived) == expected.astimezone(timezone.utc)


def test_the_answer_is_in_utc_whatever_the_input_zone():
    arrived = datetime(2026, 11, 27, 5, 59, tzinfo=timezone.utc)  # 13:59 in Shanghai
    assert next_opening(_school(), arrived) == datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


def test_a_school_with_its_own_opening_time():
    school = _school(opening_weekday=2, opening_hour=16, opening_minute=30)  # Wednesday 16:30
    assert next_opening(school, _local(2026, 11, 25, 16, 29)) == _local(2026, 11, 25, 16, 30).astimezone(timezone.utc)
    assert next_opening(school, _local(2026, 11, 25, 16, 31)) == _local(2026, 12, 2, 16, 30).astimezone(timezone.utc)
