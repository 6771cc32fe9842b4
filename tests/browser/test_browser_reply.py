"""Reading a reply with the pickup code, writing back, and words that are never run as code."""

from __future__ import annotations

import re

import pytest

from qiaoqiao import crypto

pytestmark = pytest.mark.browser

NOTE = "老师，我不敢跟同桌说话，他总是笑我的口音。"
REPLY = "谢谢你告诉老师，周五下午来心理室找我好吗？"
PAYLOAD = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture
def school(live):
    return live.create_school().school


def _open_letter_as_staff(page, live, ui) -> str:
    """From the letter list, open the only letter; returns its URL."""
    ui.open_mailbox_now(page)
    links = page.locator("a[href^='/staff/letters/']")
    ui.expect(links).to_have_count(1)
    links.first.click()
    page.wait_for_url(re.compile(r"/staff/letters/[^/]+$"))
    return page.url


def _open_with_code(page, live, school, typed: str) -> None:
    page.goto(live.url(f"/s/{school.slug}/reply"))
    page.locator("#code").fill(typed)
    page.locator("form.letter-form button[type=submit]").click()
    page.wait_for_load_state()


def test_child_reads_the_reply_with_the_code_and_writes_back(live, school, new_context, ui):
    child = new_context().new_page()
    code = ui.send_whisper(child, live, school.slug, NOTE)

    counsellor = new_context().new_page()
    ui.staff_login(counsellor, live)
    letter_url = _open_letter_as_staff(counsellor, live, ui)
    ui.expect(counsellor.locator("#letter-text")).to_have_text(NOTE)
    counsellor.locator("#reply-text").fill(REPLY)
    counsellor.locator("form.reply-form button[type=submit]").click()
    ui.expect(counsellor.locator(".entry-counsellor .letter-text")).to_have_text(REPLY)
    ui.expect(counsellor.locator(".entry-counsellor .unread-mark")).to_be_visible()

    # The child types the code the way it was copied: with dashes.
    _open_with_code(child, live, school, code.replace(" ", "-"))
    status = child.locator("#reply-status")
    ui.expect(status).to_be_visible()
    assert "有回信啦" in ui.text(status), ui.text(status)
    assert NOTE in ui.text(child.locator("article.bubble.mine").first)
    ui.expect(child.locator("article.bubble.theirs .text")).to_have_text(REPLY)

    child.locator("#text").fill("好的")
    child.locator("form.letter-form button[type=submit]").click()
    child.wait_for_load_state()
    ui.expect(child.locator("article.bubble.mine .text").last).to_have_text("好的")
    assert child.locator("[role=alert]").count() == 0

    counsellor.goto(letter_url)
    read_mark = counsellor.locator(".entry-counsellor .read-mark")
    ui.expect(read_mark).to_be_visible()
    assert "孩子已读" in ui.text(read_mark)
    ui.expect(counsellor.locator(".entry-child .letter-text")).to_have_text("好的")


def test_a_wrong_code_gets_a_kind_message(live, school, new_context, ui):
    child = new_context().new_page()
    ui.send_whisper(child, live, school.slug, NOTE)
    # A well-formed code (right length, right check digit) that belongs to no letter.
    _open_with_code(child, live, school, crypto.new_pickup_code().formatted())
    alert = child.get_by_role("alert")
    ui.expect(alert).to_be_visible()
    assert "没有找到这个回信码的信" in ui.text(alert), ui.text(alert)
    assert NOTE not in child.content()


def test_html_in_a_letter_is_shown_as_text_and_never_runs(live, school, new_context, ui):
    child = new_context().new_page()
    code = ui.send_whisper(child, live, school.slug, f"老师你看：{PAYLOAD}")

    counsellor = new_context().new_page()
    ui.staff_login(counsellor, live)
    _open_letter_as_staff(counsellor, live, ui)
    counsellor.wait_for_timeout(200)  # time for an injected image to fail and fire its handler
    assert counsellor.evaluate("typeof window.__pwned") == "undefined"
    assert counsellor.locator("#letter-text img").count() == 0
    ui.expect(counsellor.locator("#letter-text")).to_contain_text(PAYLOAD)
    # The reply may carry markup too; the child's page must show it as words.
    counsellor.locator("#reply-text").fill(f"我看到了：{PAYLOAD}")
    counsellor.locator("form.reply-form button[type=submit]").click()
    ui.expect(counsellor.locator(".entry-counsellor .letter-text")).to_contain_text(PAYLOAD)
    assert counsellor.evaluate("typeof window.__pwned") == "undefined"

    _open_with_code(child, live, school, code)
    child.wait_for_timeout(200)
    assert child.evaluate("typeof window.__pwned") == "undefined"
    assert child.locator("main img").count() == 0
    ui.expect(child.locator("article.bubble.mine .text").first).to_contain_text(PAYLOAD)
    ui.expect(child.locator("article.bubble.theirs .text")).to_contain_text(PAYLOAD)
