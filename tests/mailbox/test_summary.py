"""The weekly summary: the right counts, and nothing small enough to point at a child."""

from __future__ import annotations

import csv
import io

import pytest

from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.letters import LetterForm, submit_letter
from qiaoqiao.mailbox.summary import grade_of, shown, weekly_summary
from qiaoqiao.mailbox.tables import Letter
from qiaoqiao.mailbox.threads import reply_as_staff

from conftest import ADMIN_PASSPHRASE, shipped_screeners


@pytest.mark.parametrize(
    "written, grade",
    [("三(2)班", 3), ("3年级2班", 3), ("二年级三班", 2), ("五2班", 5), ("初一(3)班", 7), ("初三", 9), ("六（1）班", 6), ("", None), ("不知道", None)],
)
def test_grades_are_read_the_way_children_write_classes(written, grade):
    assert grade_of(written) == grade


def test_small_counts_are_never_shown():
    assert [shown(n) for n in (0, 1, 2, 3, 17)] == ["<3", "<3", "<3", "3", "17"]


def test_a_week_is_counted_by_kind_level_category_grade_with_replies(session, school, settings, clock):
    keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    made = []
    for n in range(4):
        made.append(submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind="whisper", text=f"第{n}封", sender_name="小明", sender_class="三(2)班"), sealing=settings.sealing, clock=clock))
        clock.advance(minutes=10)
    made.append(submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind="parent", text="妈妈", sender_name="小红", sender_class="五(1)班", addressed_to="mother"), sealing=settings.sealing, clock=clock))
    for receipt in made[:3]:
        row = session.get(Letter, receipt.letter_id)
        row.level, row.categories = 2, "bullying"
        session.add(row)
    session.commit()
    clock.advance(days=2, hours=3, minutes=50)  # Friday 14:00 Beijing: the mailbox opens
    clock.advance(hours=5)
    for receipt in made[:3]:
        reply_as_staff(session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, text="老师收到了", author_kind="counsellor", author_user_id=school.admin.id, clock=clock)
    summary = weekly_summary(session=session, school=school.school, keyring=keyring, weeks=4, clock=clock)
    assert summary.weeks[0].counts == {}  # the coming week, still empty
    week = summary.weeks[1]
    assert week.counts["letters"] == 5 and week.counts["kind:whisper"] == 4
    assert summary.cell(week, "kind:parent") == "<3"
    assert summary.cell(week, "level:2") == "3" and summary.cell(week, "category:bullying") == "3"
    assert summary.cell(week, "grade:3") == "4" and summary.cell(week, "grade:5") == "<3"
    assert week.replies == 3 and week.median_hours() == "57.3"  # from arrival (Wednesday) to the reply (Friday)
    rows = list(csv.reader(io.StringIO(summary.to_csv())))
    header, first = rows[0], rows[2]
    assert first[header.index("grade:5")] == "<3" and first[header.index("grade:3")] == "4"
    assert all(value != "1" and value != "2" for value in first[1:])
    assert len(rows) == 1 + 4
