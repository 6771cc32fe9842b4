"""The thin path through: a child writes, the admin logs in and reads it."""

from __future__ import annotations

import re

from conftest import ADMIN_PASSPHRASE, csrf_from, page_text

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _start(client, school) -> str:
    page = client.get("/")
    assert page.url.path == f"/s/{school.school.slug}/"
    return csrf_from(client.get(f"/s/{school.school.slug}/write/whisper").text)


def _write(client, school, **fields):
    token = _start(client, school)
    data = {"csrf": token, "text": "", "sender_name": "", "sender_class": "", **fields}
    return client.post(f"/s/{school.school.slug}/write/whisper", data=data)


def _login(client, passphrase=ADMIN_PASSPHRASE):
    token = csrf_from(client.get("/staff/login").text)
    return client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": passphrase}, follow_redirects=False)


def test_a_child_writes_and_the_admin_reads(client, school):
    sent = _write(client, school, text="我想爸爸了。" + PAYLOAD, sender_name="<b>小明</b>")
    assert sent.status_code == 200
    code = re.search(r'class="code"[^>]*>([0-9 ]+)<', sent.text).group(1)
    assert len(code.replace(" ", "")) == 12
    assert "我记下了" in page_text(sent.text)

    login = _login(client)
    assert login.status_code == 303 and login.headers["location"] == "/staff/"
    listing = client.get("/staff/")
    # Routine notes wait for Friday's opening; the counsellor may open the mailbox now.
    assert "1 letters are waiting" in listing.text or "1封信" in listing.text or 'id="waiting"' in listing.text
    assert "/staff/letters/" not in listing.text
    client.post("/staff/open-now", data={"csrf": csrf_from(listing.text)})
    listing = client.get("/staff/")
    letter_path = re.search(r'href="(/staff/letters/\w+)"', listing.text).group(1)
    page = client.get(letter_path)
    assert page.status_code == 200
    assert "我想爸爸了。" in page.text
    # Shown as text, never as HTML.
    assert "<script>" not in page.text and "<img src=x" not in page.text and "<b>小明" not in page.text
    assert "&lt;b&gt;小明" in page.text
    assert "&lt;script&gt;" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_session_cookie_carries_no_key(client, school):
    login = _login(client)
    cookie = login.cookies.get("qq_staff")
    assert cookie and len(cookie) < 64  # a random token, not a serialised key


def test_a_wrong_passphrase_gets_a_clear_message(client, school):
    response = _login(client, passphrase="sunflowers face the evening")
    assert response.status_code == 400 and "用户名或密码不对" in response.text
    assert client.get("/staff/", follow_redirects=False).headers["location"].startswith("/staff/login")


def test_logout_forgets_the_keys(client, school):
    _login(client)
    assert client.get("/staff/").status_code == 200
    token = csrf_from(client.get("/staff/").text)
    client.post("/staff/logout", data={"csrf": token})
    assert client.get("/staff/", follow_redirects=False).status_code == 303


def test_an_idle_session_expires(client, school, clock):
    _login(client)
    clock.advance(minutes=31)
    assert client.get("/staff/", follow_redirects=False).headers["location"] == "/staff/login?expired=1"


def test_an_empty_letter_gets_a_gentle_message_in_chinese(client, school):
    response = _write(client, school, text="   ", sender_name="小红")
    assert response.status_code == 400
    assert "信还是空的哦" in response.text
    assert 'value="小红"' in response.text


def test_a_long_letter_keeps_every_character(client, school):
    text = "好" * 2001
    response = _write(client, school, text=text)
    assert response.status_code == 400
    assert text in response.text and "2000" in response.text


def test_control_characters_are_refused_without_losing_the_text(client, school):
    response = _write(client, school, text="我今天\x1b很难过")
    assert response.status_code == 400
    assert "看不见的奇怪符号" in response.text and "很难过" in response.text


def test_a_forged_form_without_csrf_is_refused(client, school):
    _start(client, school)
    response = client.post(f"/s/{school.school.slug}/write/whisper", data={"text": "hello"})
    assert response.status_code == 403


def test_unknown_pages_are_friendly(client, school):
    response = client.get("/s/nosuchschool/")
    assert response.status_code == 404 and "没有找到这个页面" in response.text
    assert client.get(f"/s/{school.school.slug}/write/secret").status_code == 404
