"""axe-core on every child page, on a tablet and on a phone: nothing serious or critical.

Each page is audited once per width; one test checks every rule but colour
contrast, another checks colour contrast alone (the pinyin over key words is
small text, so it must reach 4.5:1 on every background). Violations print
with their rule id, the elements and axe's own summary, so a failure says
what to fix.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

BLOCKING = ("serious", "critical")
CHILD_PAGES = ("start", "whisper-form", "parent-form", "receipt", "code-form", "thread", "form-with-error")
WIDTHS = ("1280", "360")
CONTRAST = "color-contrast"

@pytest.fixture(scope="module")
def scene(module_live):
    """One school with a letter that has a reply, shared by this module's tests."""
    school = module_live.create_school().school
    receipt = module_live.submit_letter(school, "老师，我最近总是睡不好，晚上想家。", mood="homesick")
    module_live.reply_as_counsellor(school, receipt.letter_id, "谢谢你写信给我。周五下午来心理室，我们聊一聊好吗？")
    return module_live, school, receipt.code


def _open(page, name: str, live, school, code, ui) -> None:
    slug = school.slug
    if name == "start":
        page.goto(live.url(f"/s/{slug}/"))
    elif name == "whisper-form":
        page.goto(live.url(f"/s/{slug}/write/whisper"))
    elif name == "parent-form":
        page.goto(live.url(f"/s/{slug}/write/parent"))
    elif name == "receipt":
        ui.send_whisper(page, live, slug, "我想说一件事。")
    elif name == "code-form":
        page.goto(live.url(f"/s/{slug}/reply"))
    elif name == "thread":
        page.goto(live.url(f"/s/{slug}/reply"))
        page.locator("#code").fill(code.formatted())
        page.locator("form.letter-form button[type=submit]").click()
        ui.expect(page.locator("article.bubble.theirs")).to_be_visible()
    elif name == "form-with-error":
        page.goto(live.url(f"/s/{slug}/write/parent"))
        page.locator("#sender_name").fill("王小明")
        page.locator("#sender_class").fill("三年级二班")
        page.locator("input[name=addressed_to][value=both]").check(force=True)
        page.locator("#text").fill("   ")
        page.locator("#send").click()
        ui.expect(page.locator("#form-error")).to_be_visible()
    else:  # a typo in the parameter list
        raise AssertionError(name)
    page.wait_for_load_state("load")
    ui.fonts_ready(page)


@pytest.fixture(scope="module")
def audit(scene, browser, ui):
    """axe's violations for a child page at a width, audited once and remembered."""
    from axe_playwright_python.sync_playwright import Axe

    live, school, code = scene
    axe = Axe()
    done: dict[tuple[str, str], tuple[str, list[dict]]] = {}

    def run(name: str, width: str) -> tuple[str, list[dict]]:
        if (name, width) not in done:
            context = browser.new_context(locale="zh-CN", **ui.viewports[width])
            context.set_default_timeout(10_000)
            try:
                page = context.new_page()
                _open(page, name, live, school, code, ui)
                done[(name, width)] = (page.url, axe.run(page).response["violations"])
            finally:
                context.close()
        return done[(name, width)]

    return run


def _describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}")
        for node in violation["nodes"][:12]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " / ")
            if summary:
                lines.append(f"        {summary[:300]}")
        if len(violation["nodes"]) > 12:
            lines.append(f"    … and {len(violation['nodes']) - 12} more")
    return "\n".join(lines)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", CHILD_PAGES)
def test_child_page_has_no_serious_violations(audit, name, width):
    url, violations = audit(name, width)
    blocking = [v for v in violations if v["impact"] in BLOCKING and v["id"] != CONTRAST]
    minor = [v for v in violations if v["impact"] not in BLOCKING]
    if minor:
        print(f"{name} at {width}px, minor:\n{_describe(minor)}")
    assert not blocking, f"{name} at {width}px ({url}):\n{_describe(blocking)}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", CHILD_PAGES)
def test_child_page_text_has_enough_contrast(audit, name, width):
    url, violations = audit(name, width)
    contrast = [v for v in violations if v["impact"] in BLOCKING and v["id"] == CONTRAST]
    assert not contrast, f"{name} at {width}px ({url}):\n{_describe(contrast)}"
