"""Screenshots of every child page for people to look at, and the poster's QR code read back by a decoder.

The PNGs go to tests/artifacts/screenshots/<page>-<width>.png (git-ignored).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

WIDTHS = ("1280", "360")
CHILD_PAGES = ("start", "whisper-form", "parent-form-error", "kiosk-receipt", "code-form", "thread-reply")
# A rendered page has text antialiasing, buttons, borders: far more colours than this.
MIN_COLOURS = 16


@pytest.fixture(scope="module")
def scene(module_live):
    school = module_live.create_school().school
    receipt = module_live.submit_letter(
        school, "老师，我最近总是睡不好，晚上想家。奶奶说妈妈过年才回来。", mood="homesick", sender_name="小雨"
    )
    module_live.reply_as_counsellor(
        school, receipt.letter_id, "小雨，谢谢你写信告诉老师。想家是很正常的。周五下午来心理室，我们聊一聊好吗？"
    )
    return module_live, school, receipt.code, module_live.add_kiosk(school)


def _open(page, name: str, scene, ui) -> None:
    live, school, code, kiosk_url = scene
    slug = school.slug
    if name == "start":
        page.goto(live.url(f"/s/{slug}/"))
    elif name == "whisper-form":
        page.goto(live.url(f"/s/{slug}/write/whisper"))
    elif name == "parent-form-error":
        page.goto(live.url(f"/s/{slug}/write/parent"))
        page.locator("#sender_name").fill("王小明")
        page.locator("#sender_class").fill("三年级二班")
        page.locator("input[name=addressed_to][value=mother]").check(force=True)
        page.locator("#text").fill("  ")
        page.locator("#send").click()
        ui.expect(page.locator("#form-error")).to_be_visible()
    elif name == "kiosk-receipt":
        page.goto(kiosk_url)
        ui.send_whisper(page, live, slug, "我今天在学校很开心。")
        ui.expect(page.locator("#receipt-countdown")).to_be_visible()
    elif name == "code-form":
        page.goto(live.url(f"/s/{slug}/reply"))
    elif name == "thread-reply":
        page.goto(live.url(f"/s/{slug}/reply"))
        page.locator("#code").fill(code.formatted())
        page.locator("form.letter-form button[type=submit]").click()
        ui.expect(page.locator("article.bubble.theirs")).to_be_visible()
    else:  # a typo in the parameter list
        raise AssertionError(name)
    page.wait_for_load_state("load")
    ui.fonts_ready(page)


def _colours(path) -> int:
    with Image.open(path) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(found)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", CHILD_PAGES)
def test_child_page_screenshot(scene, new_context, ui, screenshots_dir, name, width):
    page = new_context(**ui.viewports[width]).new_page()
    _open(page, name, scene, ui)
    path = screenshots_dir / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)

    with Image.open(path) as image:
        size = image.size
    assert size[0] == int(width), f"{path.name} is {size[0]}px wide: the page is wider than the screen"
    assert size[1] >= ui.viewports[width]["viewport"]["height"]
    colours = _colours(path)
    assert colours > MIN_COLOURS, f"{path.name} has only {colours} colours: a blank or broken page?"


def _decoded(image: Image.Image) -> list[str]:
    import zxingcpp

    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_poster_qr_codes_decode_to_the_poster_url(scene, new_context, ui, screenshots_dir):
    live, school, _code, _kiosk = scene
    poster = live.add_poster(school, label="教学楼一楼")
    expected = live.url(f"/p/{poster.code}")

    page = new_context().new_page()
    ui.staff_login(page, live)
    page.goto(live.url(f"/staff/admin/posters/{poster.id}"))
    ui.fonts_ready(page)
    page.screenshot(path=str(screenshots_dir / "poster-1280.png"), full_page=True)
    assert _colours(screenshots_dir / "poster-1280.png") > MIN_COLOURS

    qr = page.locator("#poster-qr")
    ui.expect(qr.locator("svg")).to_have_count(1)
    qr_path = screenshots_dir / "poster-qr.png"
    qr.screenshot(path=str(qr_path))
    with Image.open(qr_path) as image:
        assert _decoded(image) == [expected]

    response = page.request.get(live.url(f"/staff/admin/posters/{poster.id}/qr.png"))
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.body())) as image:
        assert _decoded(image) == [expected]
