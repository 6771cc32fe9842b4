"""Layout a child can read: short button labels (寄出, 打开, 我记下了, 看完了) read left to right on one line.

The labels carry pinyin as one <ruby> per character; laid out as flex items in
a column they would stack one character under the other.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

_LABEL_LINES = """() => Array.from(document.querySelectorAll('.big-button'))
  .filter(button => button.offsetParent !== null && button.querySelector(':scope > ruby'))
  .map(button => {
    const copy = button.cloneNode(true);
    copy.querySelectorAll('rt').forEach(node => node.remove());
    const tops = Array.from(button.querySelectorAll(':scope > ruby'))
      .map(ruby => Math.round(ruby.getBoundingClientRect().top));
    return {label: copy.textContent.trim(), lines: new Set(tops).size};
  })"""


@pytest.fixture(scope="module")
def scene(module_live):
    school = module_live.create_school().school
    receipt = module_live.submit_letter(school, "老师，我有一件事想告诉你。")
    module_live.reply_as_counsellor(school, receipt.letter_id, "谢谢你，老师听着呢。")
    return module_live, school, receipt.code, module_live.add_kiosk(school)


@pytest.mark.parametrize(
    "width", ["360", "1280"]
)
def test_short_button_labels_read_on_one_line(scene, new_context, ui, width):
    live, school, code, kiosk_url = scene
    page = new_context(**ui.viewports[width]).new_page()
    seen: dict[str, int] = {}

    def look() -> None:
        ui.fonts_ready(page)
        for button in page.evaluate(_LABEL_LINES):
            seen[f"{button['label']} ({ui.path(page)})"] = button["lines"]

    page.goto(live.url(f"/s/{school.slug}/write/whisper"))
    look()
    page.goto(live.url(f"/s/{school.slug}/reply"))
    look()
    page.locator("#code").fill(code.formatted())
    page.locator("form.letter-form button[type=submit]").click()
    ui.expect(page.locator("article.bubble.theirs")).to_be_visible()
    look()
    page.goto(kiosk_url)
    ui.send_whisper(page, live, school.slug, "我今天很开心。")
    look()

    labels = {label.split(" (")[0] for label in seen}
    assert {"寄出", "打开", "看完了", "我记下了"} <= labels, labels
    stacked = {label: lines for label, lines in seen.items() if lines != 1}
    assert not stacked, f"at {width}px these labels break over several lines: {stacked}"
