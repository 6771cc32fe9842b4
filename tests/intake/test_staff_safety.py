"""Staff pages against hostile input, forged forms and framing: escaping, CSRF, security headers."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import markupsafe
import pytest
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select
from starlette.routing import Route

from qiaoqiao.mailbox.accounts import accept_invite, grant_key
from qiaoqiao.mailbox.alerts import ack_token, raise_alert
from qiaoqiao.mailbox.channels import add_channel
from qiaoqiao.mailbox.claims import claim_letter
from qiaoqiao.mailbox.dispatch import plan
from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.letters import LetterForm, submit_letter
from qiaoqiao.mailbox.tables import AlertDelivery, Kiosk, Letter, Poster, ReplyTemplate, StaffUser
from qiaoqiao.mailbox.threads import follow_up_as_child

from conftest import ADMIN_PASSPHRASE, csrf_from, page_text, shipped_screeners

FRIDAY_1401 = datetime(2026, 11, 27, 6, 1, tzinfo=timezone.utc)  # Friday 14:01 in Beijing
PAYLOADS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "{{7*7}}"]
LIU_PASSPHRASE = "the swallows come back in spring"


def _login(client, username="zhang", passphrase=ADMIN_PASSPHRASE) -> str:
    token = csrf_from(client.get("/staff/login").text)
    response = client.post("/staff/login", data={"csrf": token, "username": username, "passphrase": passphrase}, follow_redirects=False)
    assert response.status_code == 303
    return token


def _send(engine, school, settings, clock, *, kind="whisper", text="我想和老师说说话", level=0, **fields):
    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind=kind, text=text, **fields), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
        letter = session.get(Letter, receipt.letter_id)
        letter.level = level
        session.add(letter)
        session.commit()
    clock.advance(minutes=1)
    return receipt


def _assert_inert(html: str, payload: str, *, at_least: int = 1, where: str = "") -> None:
    """The payload appears only escaped: never as live markup, never evaluated as a template."""
    assert "<script>alert(1)</script>" not in html, where
    assert "<img src=x onerror" not in html and '"><img' not in html, where
    escaped = str(markupsafe.escape(payload))
    assert html.count(escaped) >= at_least, f"{where}: {escaped!r} shown {html.count(escaped)} times, expected {at_least}"


# --- escaping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=["script", "attribute", "template"])
def test_everything_people_write_is_shown_escaped(client, school, engine, settings, clock, payload):
    receipt = _send(engine, school, settings, clock, text=f"信：{payload}", sender_name=payload, sender_class=payload)
    home = _send(
        engine, school, settings, clock, kind="parent", text=payload, sender_name=payload, sender_class=payload, addressed_to="mother"
    )
    clock.now = FRIDAY_1401
    with Session(engine, expire_on_commit=False) as session:
        follow_up_as_child(session=session, school=school.school, code=receipt.code, text=f"补充：{payload}", sealing=settings.sealing, clock=clock)
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    version = re.search(r'name="version" value="(\d+)"', client.get(path).text).group(1)
    assert client.post(f"{path}/reply", data={"csrf": token, "version": version, "text": f"回信：{payload}"}, follow_redirects=False).status_code == 303
    assert client.post(f"{path}/note", data={"csrf": token, "note": f"备注：{payload}"}, follow_redirects=False).status_code == 303
    assert client.post(f"{path}/claim", data={"csrf": token, "action": "release"}, follow_redirects=False).status_code == 303
    assert client.post("/staff/templates", data={"csrf": token, "title": payload, "body": f"开头：{payload}"}, follow_redirects=False).status_code == 303
    assert client.post("/staff/admin/kiosks", data={"csrf": token, "name": payload}).status_code == 200
    assert client.post("/staff/admin/posters", data={"csrf": token, "label": payload}).status_code == 200
    invited = client.post(
        "/staff/admin/users", data={"csrf": token, "username": "liu", "display_name": payload, "role_counsellor": "yes"}
    )
    assert invited.status_code == 200
    _assert_inert(invited.text, payload, where="users page after the invitation")
    invite_token = re.search(r"/staff/invite/([A-Za-z0-9_-]+)", invited.text).group(1)
    with Session(engine, expire_on_commit=False) as session:
        liu = accept_invite(session=session, token=invite_token, passphrase=LIU_PASSPHRASE, kdf=settings.kdf, clock=clock)
        admin_keys = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
        grant_key(
            session=session, school=school.school, keyring=admin_keys, audience_name="teachers", user_id=liu.id, clock=clock,
            actor_user_id=school.admin.id,
        )
        liu_keys = unlock_member(session, school_id=school.school.id, user_id=liu.id, passphrase=LIU_PASSPHRASE)
        # The colleague takes the letter home, so their name shows as its holder in the queue.
        claim_letter(session=session, school=school.school, keyring=liu_keys, letter_id=home.letter_id, user_id=liu.id, clock=clock)
        poster = session.exec(select(Poster)).one()
        assert session.exec(select(Kiosk)).one().name == payload
        assert session.exec(select(ReplyTemplate).where(ReplyTemplate.title == payload)).one()

    queue = client.get("/staff/").text
    _assert_inert(queue, payload, at_least=3, where="queue: two classes and the holder's name")
    letter = client.get(path).text
    # text, name, class, follow-up, reply, note, template title and body (in data-text)
    _assert_inert(letter, payload, at_least=8, where="letter page")
    _assert_inert(client.get(f"/staff/letters/{home.letter_id}").text, payload, at_least=3, where="letter home")
    _assert_inert(client.get("/staff/templates").text, payload, at_least=2, where="templates page")
    _assert_inert(client.get("/staff/admin/kiosks").text, payload, where="kiosks page")
    _assert_inert(client.get("/staff/admin/posters").text, payload, where="posters page")
    _assert_inert(client.get(f"/staff/admin/posters/{poster.id}").text, payload, at_least=2, where="printable poster")
    _assert_inert(client.get("/staff/admin/users").text, payload, where="users page")
    _assert_inert(client.get("/staff/admin/audit").text, payload, where="audit page: the colleague as actor")
    # And as the reader sees it, the payload is plain text.
    assert f"回信：{payload}" in page_text(letter) and f"备注：{payload}" in page_text(letter)


def test_a_template_payload_is_never_evaluated(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock, text="A{{7*7}}Z {% if true %}B{% endif %}", sender_class="{{ config }}")
    clock.now = FRIDAY_1401
    _login(client)
    page = client.get(f"/staff/letters/{receipt.letter_id}").text
    assert "A{{7*7}}Z" in page and "A49Z" not in page
    assert "{% if true %}B{% endif %}" in page
    assert "{{ config }}" in client.get("/staff/").text


@pytest.mark.parametrize("payload", PAYLOADS[:2], ids=["script", "attribute"])
def test_what_a_form_sends_back_is_escaped(client, school, payload):
    token = csrf_from(client.get("/staff/login").text)
    refused = client.post("/staff/login", data={"csrf": token, "username": payload, "passphrase": "wrong"})
    assert refused.status_code == 400
    _assert_inert(refused.text, payload, where="login form")
    _login(client)
    bad_name = client.post("/staff/admin/users", data={"csrf": token, "username": payload, "display_name": payload, "role_teacher": "yes"})
    assert bad_name.status_code == 400
    _assert_inert(bad_name.text, payload, at_least=2, where="invitation form")
    filtered = client.get("/staff/", params={"class": payload, "category": payload, "kind": payload, "status": payload})
    assert filtered.status_code == 200
    _assert_inert(filtered.text, payload, where="queue filters")


def test_user_names_cannot_carry_markup(client, school, engine):
    token = _login(client)
    for name in ("<b>x</b>", 'a"b', "{{7*7}}", "a b"):
        assert client.post("/staff/admin/users", data={"csrf": token, "username": name, "role_teacher": "yes"}).status_code == 400
    with Session(engine) as session:
        assert [u.username for u in session.exec(select(StaffUser)).all()] == ["zhang"]


def test_english_pages_are_not_escaped_twice(client, school, engine, settings, clock):
    token = _login(client)
    invited = client.post("/staff/admin/users", data={"csrf": token, "username": "liu", "role_counsellor": "yes"})
    invite_token = re.search(r"/staff/invite/([A-Za-z0-9_-]+)", invited.text).group(1)
    with Session(engine, expire_on_commit=False) as session:
        accept_invite(session=session, token=invite_token, passphrase=LIU_PASSPHRASE, kdf=settings.kdf, clock=clock)
    page = client.get("/staff/admin/users?lang=en").text
    assert "Grant" in page
    assert "&amp;#" not in page and "&amp;amp;" not in page, re.findall(r".{30}&amp;#.{10}", page)


# --- CSRF -------------------------------------------------------------------------------------


def _snapshot(engine) -> dict[str, list[str]]:
    """Every row of every table of the schema, to prove a refused form changed nothing."""
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa_select(table)))
            for table in SQLModel.metadata.sorted_tables
        }


@pytest.fixture
def world(client, school, engine, settings, clock):
    """One of everything a staff form can change, and the admin logged in."""
    waiting = _send(engine, school, settings, clock, text="还在等开箱")
    receipt = _send(engine, school, settings, clock, text="可以读的信", sender_name="小明", level=2)  # readable at once
    urgent = _send(engine, school, settings, clock, text="紧急的信", level=3)
    token = _login(client)
    invited = client.post("/staff/admin/users", data={"csrf": token, "username": "liu", "display_name": "刘老师", "role_counsellor": "yes"})
    liu_invite = re.search(r"/staff/invite/([A-Za-z0-9_-]+)", invited.text).group(1)
    other = client.post("/staff/admin/users", data={"csrf": token, "username": "chen", "role_counsellor": "yes"})
    chen_invite = re.search(r"/staff/invite/([A-Za-z0-9_-]+)", other.text).group(1)
    client.post("/staff/templates", data={"csrf": token, "title": "开头", "body": "谢谢你"})
    client.post("/staff/admin/kiosks", data={"csrf": token, "name": "一楼"})
    client.post("/staff/admin/posters", data={"csrf": token, "label": "宿舍"})
    key = settings.secret_key.reveal()
    with Session(engine, expire_on_commit=False) as session:
        liu = accept_invite(session=session, token=liu_invite, passphrase=LIU_PASSPHRASE, kdf=settings.kdf, clock=clock)
        letter = session.get(Letter, urgent.letter_id)
        raise_alert(session, school=school.school, letter=letter, categories=("self_harm",), source="web", now=clock())
        session.commit()
        add_channel(
            session=session, school=school.school, kind="email", target="zhang@example.org", secret="", label="张老师",
            user_id=school.admin.id, server_key=key, clock=clock, actor_user_id=school.admin.id,
        )
        plan(session, now=clock())
        delivery = session.exec(select(AlertDelivery)).one()
        ids = {
            "letter_id": receipt.letter_id,
            "user_id": liu.id,
            "kiosk_id": session.exec(select(Kiosk)).one().id,
            "poster_id": session.exec(select(Poster)).one().id,
            "template_id": session.exec(select(ReplyTemplate).where(ReplyTemplate.title == "开头")).one().id,
        }
    clock.advance(minutes=5)
    return {
        "ids": ids,
        "invite_token": chen_invite,
        "ack_token": ack_token(server_key=key, alert_id=delivery.alert_id, delivery_id=delivery.id, now=clock()),
        "waiting": waiting.letter_id,
    }


# What each form would change if it were accepted: a forged request must not get that far.
FORMS = {
    "/staff/login": {"username": "zhang", "passphrase": ADMIN_PASSPHRASE},
    "/staff/logout": {},
    "/staff/open-now": {},
    "/staff/letters/{letter_id}/reply": {"version": "0", "text": "伪造的回信"},
    "/staff/letters/{letter_id}/claim": {},
    "/staff/letters/{letter_id}/status": {"status": "closed"},
    "/staff/letters/{letter_id}/note": {"note": "伪造的备注"},
    "/staff/invite/{token}": {"passphrase": "a forged passphrase here", "passphrase_repeat": "a forged passphrase here"},
    "/staff/admin/users": {"username": "forged", "role_admin": "yes"},
    "/staff/admin/users/{user_id}/grant": {"audience": "counsellors"},
    "/staff/admin/users/{user_id}/reset": {},
    "/staff/admin/users/{user_id}/disable": {"disabled": "yes"},
    "/staff/templates": {"title": "伪造", "body": "伪造"},
    "/staff/templates/{template_id}/delete": {},
    "/ack/{token}": {},
    "/staff/admin/urgent": {"action": "add_term", "phrase": "伪造词", "level": "3"},
    "/staff/recover": {"recovery_key": "__recovery__"},
    "/staff/admin/kiosks": {"name": "伪造的平板"},
    "/staff/admin/kiosks/{kiosk_id}/revoke": {},
    "/staff/admin/posters": {"label": "伪造的海报"},
}


def _staff_post_routes(app) -> list[str]:
    return [
        route.path
        for route in app.routes
        if isinstance(route, Route) and "POST" in (route.methods or ()) and route.path.startswith(("/staff", "/ack"))
    ]


def _url(path: str, world) -> str:
    values = dict(world["ids"])
    values["token"] = world["ack_token"] if path.startswith("/ack") else world["invite_token"]
    # A route added since this test was written gets a well-formed id that names nothing.
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values.get(m.group(1), "0" * 32), path)


def test_the_forms_listed_here_are_real_routes(client, school):
    routes = _staff_post_routes(client.app)
    assert set(FORMS) <= set(routes)
    assert len(routes) >= len(FORMS)


@pytest.mark.parametrize("forgery", ["no field", "wrong field", "no cookie"])
def test_every_staff_post_without_the_token_is_refused_and_changes_nothing(client, school, engine, world, forgery):
    routes = _staff_post_routes(client.app)
    good = client.cookies.get("qq_csrf")
    assert good
    client.get("/staff/")  # touch the session row now, so the loop below changes nothing legitimately
    for path in routes:
        data = {k: (school.recovery_key if v == "__recovery__" else v) for k, v in FORMS.get(path, {}).items()}
        if forgery == "wrong field":
            data["csrf"] = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
        elif forgery == "no cookie":
            data["csrf"] = good
            client.cookies.delete("qq_csrf")
        before = _snapshot(engine)
        response = client.post(_url(path, world), data=data, follow_redirects=False)
        if forgery == "no cookie":
            client.cookies.set("qq_csrf", good)
        assert response.status_code == 403, f"{path}: {response.status_code}"
        assert "qq_staff" not in response.cookies, path
        after = _snapshot(engine)
        changed = [name for name in before if before[name] != after.get(name)]
        assert changed == [], f"{path} changed {changed}"
    # The session is still alive: logout was refused too.
    assert client.get("/staff/", follow_redirects=False).status_code == 200


def test_the_same_forms_with_the_token_do_change_things(client, school, engine, world):
    """The other half of the proof: with the token, the forged data above would have done harm."""
    token = client.cookies.get("qq_csrf")
    letter_path = _url("/staff/letters/{letter_id}/status", world)
    assert client.post(letter_path, data={"csrf": token, "status": "closed"}, follow_redirects=False).status_code == 303
    assert client.post("/staff/admin/kiosks", data={"csrf": token, "name": "真的平板"}).status_code == 200
    ack = client.post(_url("/ack/{token}", world), data={"csrf": token})
    assert ack.status_code == 200 and 'id="acknowledged"' in ack.text
    with Session(engine) as session:
        assert session.get(Letter, world["ids"]["letter_id"]).status == "closed"
        assert len(session.exec(select(Kiosk)).all()) == 2


def test_the_csrf_cookie_is_http_only_and_strict(client, school):
    response = client.get("/staff/login")
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("qq_csrf="))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    _login(client)
    login_cookie = [v for k, v in client.post("/staff/login", data={"csrf": client.cookies.get("qq_csrf"), "username": "zhang", "passphrase": ADMIN_PASSPHRASE}, follow_redirects=False).headers.multi_items() if k == "set-cookie"]
    staff_cookie = next(v for v in login_cookie if v.startswith("qq_staff="))
    assert "httponly" in staff_cookie.lower() and "samesite=strict" in staff_cookie.lower()


# --- security headers -------------------------------------------------------------------------


def _check_headers(response, where: str) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = {part.strip().split(" ")[0]: part.strip() for part in csp.split(";") if part.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", where
    assert "script-src" in directives or "default-src" in directives, where
    assert response.headers.get("referrer-policy") == "no-referrer", where
    assert response.headers.get("cache-control") == "no-store", where
    assert response.headers.get("x-content-type-options") == "nosniff", where


def test_staff_pages_carry_the_security_headers(client, school, engine, world):
    letter_id = world["ids"]["letter_id"]
    poster_id = world["ids"]["poster_id"]
    pages = [
        "/staff/", f"/staff/letters/{letter_id}", "/staff/admin/users", "/staff/templates", "/staff/summary",
        "/staff/summary.csv", "/staff/admin/audit", "/staff/admin/urgent", "/staff/admin/kiosks", "/staff/admin/posters",
        f"/staff/admin/posters/{poster_id}", f"/staff/admin/posters/{poster_id}/qr.svg", "/staff/recover",
        f"/staff/invite/{world['invite_token']}", f"/ack/{world['ack_token']}", "/staff/letters/" + "0" * 32,
    ]
    for path in pages:
        response = client.get(path, follow_redirects=False)
        assert response.status_code in (200, 404), f"{path}: {response.status_code}"
        _check_headers(response, path)
        if response.headers["content-type"].startswith("text/html"):
            html = response.text
            # Nothing inline that the policy would have to allow.
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
            assert not re.search(r"\son[a-z]+\s*=", html), path
            assert 'href="javascript:' not in html.lower(), path
    client.post("/staff/logout", data={"csrf": client.cookies.get("qq_csrf")})
    for path in ("/staff/login", "/staff/"):
        _check_headers(client.get(path, follow_redirects=False), path)


def test_the_letter_page_is_never_cached_even_after_an_error(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock, text="不要留在缓存里")
    clock.now = FRIDAY_1401
    token = _login(client)
    stale = client.post(f"/staff/letters/{receipt.letter_id}/reply", data={"csrf": token, "version": "7", "text": "草稿"})
    assert stale.status_code == 409
    _check_headers(stale, "409 letter page")
    assert "pragma" in stale.headers and stale.headers["pragma"] == "no-cache"
