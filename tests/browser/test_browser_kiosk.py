"""The hallway tablet: the next child must never see the last child's words or code.

The server runs with short kiosk timings (see conftest): the idle warning after
3 s, the reset after 6 s, the receipt back at the start after 4 s.
"""

from __future__ import annotations

import time

import pytest

from qiaoqiao.mailbox.tables import Letter

pytestmark = pytest.mark.browser

SECRET = "我想妈妈了，晚上偷偷哭，不想让别人知道。"

# Remember, as the page is left, what its text box held then (sessionStorage
# outlives the navigation within the tab; this is the test's own probe).
_RECORD_TEXT_ON_LEAVE = """() => window.addEventListener('pagehide', () => {
  const box = document.getElementById('text');
  sessionStorage.setItem('left-with', box ? box.value : '<no box>');
})"""


@pytest.fixture
def kiosk(live, new_context):
    """A tablet that has opened its kiosk URL, standing at the school's start page."""
    setup = live.create_school()
    page = new_context().new_page()
    page.goto(live.add_kiosk(setup.school))
    start = live.url(f"/s/{setup.school.slug}/")
    assert page.url == start
    assert page.locator("body").get_attribute("data-kiosk") == "1"
    return page, start


def _assert_nothing_left(page, ui, *words: str) -> None:
    html = page.content()
    values = ui.field_values(page)
    for word in words:
        assert word not in html, f"{word!r} is still in the page at {page.url}"
        assert all(word not in value for value in values), f"{word!r} is still in a field at {page.url}"


def _go_back(page) -> None:
    try:
        page.go_back(wait_until="load")
    except Exception as exc:  # an error page (for example a form that would be re-sent) shows nothing either
        print(f"go_back: {exc}")
    page.wait_for_timeout(300)  # time for a page restored from the cache to clear itself


def test_receipt_shows_the_code_big_and_goes_back_to_the_start_by_itself(live, kiosk, ui):
    page, start = kiosk
    page.locator("a.big-button.whisper").click()
    page.locator("#text").fill(SECRET)
    page.locator("#send").click()

    code = page.locator("#pickup-code")
    ui.expect(code).to_be_visible()
    shown = code.inner_text().strip()
    assert ui.code_pattern.match(shown)
    font_px = float(code.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))
    assert font_px >= 32, f"the code is only {font_px}px"
    # A kiosk offers no link to save: the next child would find it.
    assert page.locator("#save-link").count() == 0

    countdown = page.locator("#receipt-countdown")
    first = countdown.inner_text()
    shown_at = time.monotonic()
    # Nothing is touched from here on.
    page.wait_for_function(
        "first => document.getElementById('receipt-countdown') && "
        "document.getElementById('receipt-countdown').textContent !== first",
        arg=first,
        timeout=3_000,
    )
    limit = live.settings.kiosk_receipt_seconds + 3
    page.wait_for_url(start, timeout=limit * 1000)
    took = time.monotonic() - shown_at
    assert took <= limit, f"the receipt stayed {took:.1f}s"
    assert took >= live.settings.kiosk_receipt_seconds - 1.5, f"the receipt left after only {took:.1f}s"

    _go_back(page)
    digits = shown.replace(" ", "")
    _assert_nothing_left(page, ui, SECRET, shown, digits)
    assert page.locator("#pickup-code").count() == 0


def test_idle_form_warns_then_clears_and_returns_to_the_start(live, kiosk, ui):
    page, start = kiosk
    page.locator("a.big-button.whisper").click()
    form_url = page.url
    warning = page.locator("#idle-warning")
    ui.expect(warning).to_be_hidden()
    page.locator("#text").fill(SECRET)
    typed_at = time.monotonic()

    # The warning comes after idle − warn seconds; "I am still here" keeps the words.
    before_warning = live.settings.kiosk_idle_seconds - live.settings.kiosk_warn_seconds
    warning.wait_for(state="visible", timeout=(before_warning + 3) * 1000)
    assert time.monotonic() - typed_at >= before_warning - 1
    ui.expect(warning.locator("#idle-count")).to_contain_text(str(live.settings.kiosk_warn_seconds))
    page.locator("#idle-stay").click()
    ui.expect(warning).to_be_hidden()
    assert page.url == form_url
    ui.expect(page.locator("#text")).to_have_value(SECRET)

    # Now nobody touches it: warning, then everything is cleared.
    page.evaluate(_RECORD_TEXT_ON_LEAVE)
    stayed_at = time.monotonic()
    warning.wait_for(state="visible", timeout=(before_warning + 3) * 1000)
    page.wait_for_url(start, timeout=(live.settings.kiosk_warn_seconds + 3) * 1000)
    assert time.monotonic() - stayed_at >= live.settings.kiosk_idle_seconds - 1.5
    assert page.evaluate("sessionStorage.getItem('left-with')") == "", "the form was not emptied before leaving"
    _assert_nothing_left(page, ui, SECRET)

    _go_back(page)
    if page.locator("#text").count():
        ui.expect(page.locator("#text")).to_have_value("")
    _assert_nothing_left(page, ui, SECRET)


def test_quick_exit_leaves_at_once_and_back_shows_nothing(kiosk, ui):
    page, start = kiosk
    page.locator("a.big-button.whisper").click()
    page.locator("#text").fill(SECRET)
    page.locator("#sender_name").fill("李小花")
    clicked_at = time.monotonic()
    page.locator("#quick-exit").click()
    page.wait_for_url(start, timeout=3_000)
    assert time.monotonic() - clicked_at < 2
    _assert_nothing_left(page, ui, SECRET, "李小花")

    _go_back(page)
    if page.locator("#text").count():
        ui.expect(page.locator("#text")).to_have_value("")
    _assert_nothing_left(page, ui, SECRET, "李小花")


# Every way off a page at a kiosk must leave nothing behind for the next child:
# the page left was often the answer to a POST, and Back then Reload would send
# that form again (the receipt with its code, the thread opened by a code).
@pytest.mark.parametrize("way_out", ["receipt-header-link", "thread-done-link"])
def test_leaving_by_a_link_leaves_nothing_back_and_reload_can_bring_back(live, kiosk, ui, way_out):
    page, start = kiosk
    slug = start.rstrip("/").rsplit("/", 1)[-1]
    if way_out == "receipt-header-link":
        code = ui.send_whisper(page, live, slug, SECRET)
        page.locator("a.brand").click()
    else:
        school = live.schools()[0]
        receipt = live.submit_letter(school, SECRET)
        live.reply_as_counsellor(school, receipt.letter_id, "老师收到了，别担心。")
        code = receipt.code.formatted()
        page.locator("a.big-button.read").click()
        page.locator("#code").fill(code)
        page.locator("form.letter-form button[type=submit]").click()
        ui.expect(page.locator("article.bubble.theirs")).to_be_visible()
        page.locator("a.big-button.secondary").click()
    page.wait_for_url(start)

    # The next child presses Back, then Reload.
    _go_back(page)
    _assert_nothing_left(page, ui, SECRET, code)
    try:
        page.reload(wait_until="load")
    except Exception as exc:
        print(f"reload: {exc}")
    _assert_nothing_left(page, ui, SECRET, code)


def test_double_click_on_send_stores_one_letter(live, kiosk, ui):
    page, _start = kiosk
    page.locator("a.big-button.whisper").click()
    page.locator("#text").fill(SECRET)
    page.locator("#send").dblclick()
    code = page.locator("#pickup-code")
    ui.expect(code).to_be_visible()
    assert ui.code_pattern.match(code.inner_text().strip())
    page.wait_for_timeout(500)  # a second request, if one went out, has finished by now
    letters = live.letters()
    assert len(letters) == 1, f"{len(letters)} letters stored for one double click"
    assert isinstance(letters[0], Letter) and letters[0].source_kind == "kiosk"
