"""A child's own phone, arriving through a poster's QR code: 360×640, touch, sometimes no JavaScript."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

LETTER_HOME = "妈妈，我这次数学考了95分。你过年回来吗？我很想你。"


@pytest.fixture
def school(live):
    return live.create_school().school


def _chip(page, name: str, value: str):
    return page.locator("label.chip", has=page.locator(f"input[name={name}][value={value}]"))


def test_letter_home_from_a_poster_on_a_phone(live, school, new_context, ui):
    poster = live.add_poster(school)
    page = new_context(**ui.phone).new_page()

    page.goto(live.url(f"/p/{poster.code}"))
    assert ui.path(page) == f"/s/{school.slug}/"
    ui.assert_fits(page)

    page.locator("a.big-button.parent").tap()
    page.wait_for_url(live.url(f"/s/{school.slug}/write/parent"))
    ui.assert_fits(page)

    page.locator("#sender_name").fill("王小明")
    page.locator("#sender_class").fill("三年级二班")
    mum = _chip(page, "addressed_to", "mother")
    assert ui.text(mum) == "妈妈"
    mum.tap()
    ui.expect(page.locator("input[name=addressed_to][value=mother]")).to_be_checked()
    homesick = _chip(page, "mood", "homesick")
    assert "想家" in ui.text(homesick)
    homesick.tap()
    ui.expect(page.locator("input[name=mood][value=homesick]")).to_be_checked()
    page.locator("#text").fill(LETTER_HOME)
    ui.assert_fits(page)
    page.locator("#send").tap()

    code = page.locator("#pickup-code")
    ui.expect(code).to_be_visible()
    digits = code.inner_text().strip().replace(" ", "")
    assert len(digits) == 12 and digits.isdigit()
    save = page.locator("#save-link")
    ui.expect(save).to_be_visible()
    assert save.get_attribute("href") == f"/s/{school.slug}/r/{digits}"
    ui.assert_fits(page)

    # The saved link opens the letter on the phone.
    save.tap()
    page.wait_for_url(live.url(f"/s/{school.slug}/r/{digits}"))
    assert LETTER_HOME in ui.text(page.locator("article.bubble.mine").first)
    ui.assert_fits(page)

    (letter,) = live.letters()
    assert letter.kind == "parent"
    assert letter.source_kind == "poster"
    assert letter.source_id == poster.id


def test_a_letter_of_only_spaces_is_sent_back_gently_with_the_name_kept(live, school, new_context, ui):
    page = new_context(**ui.phone).new_page()
    page.goto(live.url(f"/p/{live.add_poster(school).code}"))
    page.locator("a.big-button.parent").tap()
    page.locator("#sender_name").fill("王小明")
    page.locator("#sender_class").fill("三年级二班")
    _chip(page, "addressed_to", "father").tap()
    page.locator("#text").fill("     ")
    page.locator("#send").tap()

    message = page.locator("#form-error")
    ui.expect(message).to_be_visible()
    assert "信还是空的哦" in ui.text(message), ui.text(message)
    ui.expect(page.locator("#sender_name")).to_have_value("王小明")
    ui.expect(page.locator("#sender_class")).to_have_value("三年级二班")
    ui.expect(page.locator("input[name=addressed_to][value=father]")).to_be_checked()
    ui.assert_fits(page)
    assert live.letters() == []


def test_a_whisper_can_be_sent_without_javascript(live, school, new_context, ui):
    page = new_context(**ui.phone, java_script_enabled=False).new_page()
    page.goto(live.url(f"/s/{school.slug}/"))
    ui.assert_fits(page)
    page.locator("a.big-button.whisper").click()
    page.wait_for_url(live.url(f"/s/{school.slug}/write/whisper"))
    # The hint is left as the server wrote it ("最多2000个字。"): child.js really did not run.
    counter = ui.text(page.locator("#counter"))
    assert "2000" in counter and "已写" not in counter, counter
    page.locator("#text").fill("没有脚本也能寄出去吗？")
    ui.assert_fits(page)
    page.locator("#send").click()

    code = page.locator("#pickup-code")
    ui.expect(code).to_be_visible()
    assert ui.code_pattern.match(code.inner_text().strip())
    ui.assert_fits(page)
    (letter,) = live.letters()
    assert letter.kind == "whisper" and letter.source_kind == "web"

    # The quick exit works without JavaScript too (through the server).
    page.locator("#quick-exit").click()
    page.wait_for_url(live.url(f"/s/{school.slug}/"))
