"""A counsellor's Friday: open the mailbox early, answer the most serious letter first, see it read."""

from __future__ import annotations

import re

import pytest
from sqlmodel import col, select

from qiaoqiao.mailbox.audit import verify_chain
from qiaoqiao.mailbox.tables import AuditEvent, Letter, StaffUser

pytestmark = pytest.mark.browser

# (text, level, categories). The screening module does not exist yet: its
# verdict is written straight into the rows, as screening would leave them.
LETTERS = [
    ("老师，今天数学课我终于听懂了，好开心。", 0, ""),
    ("奶奶生病了，我晚上睡不着，总是想妈妈。", 1, "homesick"),
    ("我不想活了，觉得自己什么都做不好，没有人在乎我。", 3, "self_harm"),
    ("宿舍里有人打呼噜，我想换一个床位。", 0, ""),
]
ADDED = "这个周五下午放学后，来心理辅导室找我，好吗？我等你。"


def _screened(live, receipts) -> None:
    with live.session() as session:
        for receipt, (_text, level, categories) in zip(receipts, LETTERS):
            letter = session.get(Letter, receipt.letter_id)
            letter.level, letter.categories = level, categories
            session.add(letter)
        session.commit()


def _queue_ids(page) -> list[str]:
    return page.locator("#queue tbody tr").evaluate_all("rows => rows.map(r => r.dataset.letter)")


def test_friday_most_serious_first_then_read_by_the_child(live, new_context, ui):
    school = live.create_school().school
    receipts = [live.submit_letter(school, text) for text, _level, _categories in LETTERS]
    _screened(live, receipts)
    by_level = {level: receipt for receipt, (_t, level, _c) in zip(receipts, LETTERS) if level}
    urgent, concern = by_level[3], by_level[1]
    urgent_text = LETTERS[2][0]

    counsellor = new_context().new_page()
    ui.staff_login(counsellor, live)

    # Not yet the opening: the three routine letters are held; the urgent one is not.
    waiting = counsellor.locator("#waiting")
    ui.expect(waiting).to_be_visible()
    assert "有3封信在等下次开箱" in ui.text(waiting), ui.text(waiting)
    assert _queue_ids(counsellor) == [urgent.letter_id]
    assert "已回复 0 / 1" in ui.text(counsellor.locator("#progress"))

    counsellor.locator("#open-now").click()
    counsellor.wait_for_url(live.url("/staff/"))
    ui.expect(counsellor.locator("#waiting")).to_have_count(0)
    ids = _queue_ids(counsellor)
    assert sorted(ids) == sorted(r.letter_id for r in receipts)
    assert ids[:2] == [urgent.letter_id, concern.letter_id], ids
    assert "self_harm" in ui.text(counsellor.locator(f"#queue tr[data-letter='{urgent.letter_id}']"))
    assert "已回复 0 / 4" in ui.text(counsellor.locator("#progress"))

    counsellor.locator(f"#queue tr[data-letter='{urgent.letter_id}'] a").click()
    counsellor.wait_for_url(live.url(f"/staff/letters/{urgent.letter_id}"))
    letter_url = counsellor.url
    ui.expect(counsellor.locator("#letter-text")).to_have_text(urgent_text)

    counsellor.locator("#claim").click()
    counsellor.wait_for_url(letter_url)
    ui.expect(counsellor.locator("#claim")).to_have_count(0)  # it is mine now: the button offers to give it back

    template = counsellor.locator("button.template").first
    opening = template.get_attribute("data-text")
    template.click()
    ui.expect(counsellor.locator("#reply-text")).to_have_value(opening)
    box = counsellor.locator("#reply-text")
    box.press("End")
    box.type("\n" + ADDED)
    reply = f"{opening}\n{ADDED}"
    ui.expect(box).to_have_value(reply)
    counsellor.locator("#send-reply").click()
    counsellor.wait_for_url(re.compile(re.escape(letter_url) + "(#thread)?$"))
    ui.expect(counsellor.locator(".entry-counsellor .unread-mark")).to_be_visible()

    counsellor.goto(live.url("/staff/"))
    assert "已回复 1 / 4" in ui.text(counsellor.locator("#progress"))

    # The child, on another device, with nothing but the code.
    child = new_context().new_page()
    child.goto(live.url(f"/s/{school.slug}/reply"))
    child.locator("#code").fill(urgent.code.formatted())
    child.locator("form.letter-form button[type=submit]").click()
    child.wait_for_load_state()
    status = child.locator("#reply-status")
    ui.expect(status).to_be_visible()
    assert "有回信啦" in ui.text(status), ui.text(status)
    their = ui.text(child.locator("article.bubble.theirs .text"))
    assert opening in their and ADDED in their, their

    counsellor.goto(letter_url)
    read_mark = counsellor.locator(".entry-counsellor .read-mark")
    ui.expect(read_mark).to_be_visible()
    assert "孩子已读" in ui.text(read_mark)

    with live.session() as session:
        admin = session.exec(select(StaffUser).where(StaffUser.username == live.admin_username)).one()
        events = session.exec(
            select(AuditEvent).where(AuditEvent.school_id == school.id).order_by(col(AuditEvent.seq))
        ).all()
        report = verify_chain(session, school_id=school.id)
    on_urgent = [(e.action, e.actor_user_id) for e in events if e.target_id == urgent.letter_id]
    assert ("letter.opened", admin.id) in on_urgent, on_urgent
    assert ("letter.replied", admin.id) in on_urgent, on_urgent
    assert [a for a, _ in on_urgent].index("letter.opened") < [a for a, _ in on_urgent].index("letter.replied")
    assert any(e.action == "mailbox.opened_early" and e.actor_user_id == admin.id for e in events)
    assert report.intact, f"audit chain broken at seq {report.first_broken_seq}"
    assert report.events == len(events)
