"""The README's promise, end to end in a real browser: set up, then a child's first note reaches the counsellor."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

RECOVERY_KEY = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$")
NOTE = "老师，晚上宿舍里有人哭，我也睡不着。"


def test_first_run_setup_then_a_child_note_reaches_the_counsellor(live, new_context, ui):
    admin = new_context().new_page()

    # With no school yet, the front door leads to the setup page.
    admin.goto(live.url("/"))
    assert ui.path(admin) == "/setup"

    admin.locator("#school_name").fill(live.school_name)
    admin.locator("#username").fill(live.admin_username)
    admin.locator("#passphrase").fill("short")
    admin.locator("#passphrase_repeat").fill("short")
    create = admin.locator("form.stack button[type=submit]")
    create.click()
    # The browser's own check (minlength) holds the form back first…
    assert ui.path(admin) == "/setup"
    assert admin.locator("#passphrase").evaluate("el => el.validity.tooShort")
    assert live.schools() == []

    # …and the server refuses it too, in Chinese, keeping what was typed.
    admin.locator("form.stack").evaluate("form => { form.noValidate = true; }")
    create.click()
    admin.wait_for_load_state()
    message = admin.get_by_role("alert")
    ui.expect(message).to_be_visible()
    assert "密码太短" in ui.text(message), ui.text(message)
    assert re.search(r"[\u4e00-\u9fff]", ui.text(message))
    ui.expect(admin.locator("#school_name")).to_have_value(live.school_name)
    ui.expect(admin.locator("#username")).to_have_value(live.admin_username)
    assert live.schools() == []

    admin.locator("#passphrase").fill(live.admin_passphrase)
    admin.locator("#passphrase_repeat").fill(live.admin_passphrase)
    create.click()

    key = admin.locator(".recovery-key")
    ui.expect(key).to_be_visible()
    assert RECOVERY_KEY.match(key.inner_text().strip()), key.inner_text()
    (school,) = live.schools()
    assert school.name == live.school_name

    admin.locator("input[name=stored]").check()
    admin.locator("form.stack button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/staff/login"))

    # A child, in a browser of their own, finds the school from the front door.
    child = new_context().new_page()
    child.goto(live.url("/"))
    assert ui.path(child) == f"/s/{school.slug}/"
    child.locator("a.big-button.whisper").click()
    assert ui.path(child) == f"/s/{school.slug}/write/whisper"
    child.locator("#text").fill(NOTE)
    child.locator("#send").click()
    assert ui.code_pattern.match(child.locator("#pickup-code").inner_text().strip())

    # The counsellor logs in with the passphrase chosen at setup and reads it.
    admin.locator("#username").fill(live.admin_username)
    admin.locator("#passphrase").fill(live.admin_passphrase)
    admin.locator("form.stack button[type=submit]").click()
    admin.wait_for_url(live.url("/staff/"))
    ui.open_mailbox_now(admin)
    links = admin.locator("a[href^='/staff/letters/']")
    ui.expect(links).to_have_count(1)
    links.first.click()
    ui.expect(admin.locator("#letter-text")).to_have_text(NOTE)
