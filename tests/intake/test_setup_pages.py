"""The first-run pages."""

from __future__ import annotations

import re

from conftest import csrf_from

GOOD = {"school_name": "阳光小学", "username": "zhang", "passphrase": "sunflowers face the morning", "passphrase_repeat": "sunflowers face the morning"}


def _post_setup(client, **changes):
    token = csrf_from(client.get("/setup").text)
    return client.post("/setup", data={"csrf": token, **GOOD, **changes})


def test_every_page_leads_to_setup_until_a_school_exists(client):
    for path in ("/", "/staff/", "/staff/login", "/s/anything/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/setup", path
    page = client.get("/setup")
    assert page.status_code == 200 and 'action="/setup"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_weak_passphrase_is_refused_and_the_form_keeps_what_was_typed(client):
    response = _post_setup(client, passphrase="short", passphrase_repeat="short")
    assert response.status_code == 400
    assert "密码太短了" in response.text
    assert 'value="阳光小学"' in response.text and 'value="zhang"' in response.text
    # Still no school: the next page still goes to setup.
    assert client.get("/", follow_redirects=False).headers["location"] == "/setup"


def test_mismatched_passphrases_are_refused(client):
    response = _post_setup(client, passphrase_repeat="sunflowers face the evening")
    assert response.status_code == 400 and "两次输入的密码不一样" in response.text


def test_setup_shows_the_recovery_key_once_and_needs_confirmation(client):
    response = _post_setup(client)
    assert response.status_code == 200
    key = re.search(r'class="recovery-key">([^<]+)<', response.text).group(1)
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){7}", key)
    assert 'id="print-button"' in response.text and "/static/print.js" in response.text
    token = csrf_from(response.text)
    # Not ticked: the key is shown again, not lost.
    again = client.post("/setup/confirm", data={"csrf": token, "recovery_key": key})
    assert again.status_code == 400 and key in again.text
    done = client.post("/setup/confirm", data={"csrf": token, "recovery_key": key, "stored": "yes"}, follow_redirects=False)
    assert done.headers["location"].startswith("/staff/login")
    # The setup page is gone for good, and shows no key.
    later = client.get("/setup", follow_redirects=False)
    assert later.status_code == 303 and key not in later.text
    second = client.post("/setup", data={"csrf": token, **GOOD, "school_name": "别的学校"}, follow_redirects=False)
    assert second.status_code == 303


def test_setup_without_the_csrf_token_is_refused(client):
    client.get("/setup")
    response = client.post("/setup", data=GOOD)
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).headers["location"] == "/setup"


def test_english_is_selectable(client):
    page = client.get("/setup?lang=en")
    assert "Set up the school" in page.text and 'lang="en"' in page.text
    assert "Set up the school" in client.get("/setup").text  # remembered
    assert "设置学校" in client.get("/setup?lang=zh").text
