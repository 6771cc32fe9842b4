"""The staff side through HTTP: the queue, one letter, claims, replies, notes, colleagues, logins."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from qiaoqiao.mailbox import throttle
from qiaoqiao.mailbox.accounts import accept_invite, grant_key, invite_user, set_disabled
from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.letters import LetterForm, submit_letter
from qiaoqiao.mailbox.tables import AuditEvent, Letter, LetterNote, MemberKeyWrap, Reply, StaffSessionRow, StaffUser
from qiaoqiao.mailbox.threads import follow_up_as_child

from conftest import ADMIN_PASSPHRASE, csrf_from, page_text, shipped_screeners

FRIDAY_1401 = datetime(2026, 11, 27, 6, 1, tzinfo=timezone.utc)  # Friday 14:01 in Beijing


# --- helpers --------------------------------------------------------------------------------


def _login(client, username="zhang", passphrase=ADMIN_PASSPHRASE) -> str:
    """Log in through the form; the CSRF token for the pages that follow."""
    token = csrf_from(client.get("/staff/login").text)
    response = client.post("/staff/login", data={"csrf": token, "username": username, "passphrase": passphrase}, follow_redirects=False)
    assert response.status_code == 303, page_text(response.text)
    assert response.headers["location"] == "/staff/"
    return token


def _browser(client) -> TestClient:
    """A second browser on the same running app (its own cookies)."""
    return TestClient(client.app)


def _send(engine, school, settings, clock, *, kind="whisper", text="我想和老师说说话", level=0, **fields):
    if kind == "parent":
        fields.setdefault("sender_name", "小红")
        fields.setdefault("sender_class", "三(2)班")
        fields.setdefault("addressed_to", "mother")
    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind=kind, text=text, **fields), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
        letter = session.get(Letter, receipt.letter_id)
        letter.level = level  # the stored triage result, whatever the screener made of the test's words
        session.add(letter)
        session.commit()
    clock.advance(minutes=1)
    return receipt


def _colleague(engine, school, settings, clock, username, roles, passphrase, audiences=(), display_name=""):
    """A colleague invited, with their own passphrase and the keys granted by the admin."""
    with Session(engine, expire_on_commit=False) as session:
        invitation = invite_user(
            session=session, school=school.school, username=username, display_name=display_name, roles=set(roles),
            kdf=settings.kdf, clock=clock, actor_user_id=school.admin.id,
        )
        accept_invite(session=session, token=invitation.token, passphrase=passphrase, kdf=settings.kdf, clock=clock)
        admin_keys = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
        for audience in audiences:
            grant_key(
                session=session, school=school.school, keyring=admin_keys, audience_name=audience, user_id=invitation.user.id,
                clock=clock, actor_user_id=school.admin.id,
            )
    return invitation.user


def _stored(engine, letter_id) -> Letter:
    with Session(engine) as session:
        return session.get(Letter, letter_id)


def _textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, flags=re.S)
    assert found, f"no textarea {name}"
    return found.group(1)


def _version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_shows_progress_in_chinese(client, school, engine, settings, clock):
    first = _send(engine, school, settings, clock, sender_class="四(1)班")
    _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    _login(client)
    page = client.get("/staff/")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "已回复 0 / 2" in text and "悄悄话" in text and "四(1)班" in text
    assert f'href="/staff/letters/{first.letter_id}"' in page.text
    assert 'id="waiting"' not in page.text and 'id="open-now"' not in page.text
    # English on request.
    assert "Replied 0 / 2" in page_text(client.get("/staff/?lang=en").text)


def test_waiting_letters_are_counted_and_the_mailbox_can_be_opened_now(client, school, engine, settings, clock):
    letters = [_send(engine, school, settings, clock, text=f"第{n}封") for n in range(3)]
    token = _login(client)
    page = client.get("/staff/")
    text = page_text(page.text)
    assert "有3封信在等下次开箱" in text and "已回复 0 / 0" in text and "这里没有信。" in text
    assert 'id="open-now"' in page.text and "现在开箱" in text
    assert client.get(f"/staff/letters/{letters[0].letter_id}").status_code == 403  # not yet open

    opened = client.post("/staff/open-now", data={"csrf": token}, follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, "/staff/")
    after = client.get("/staff/")
    assert "已回复 0 / 3" in page_text(after.text) and 'id="waiting"' not in after.text
    assert all(f"/staff/letters/{r.letter_id}" in after.text for r in letters)
    letter_page = client.get(f"/staff/letters/{letters[0].letter_id}")
    assert letter_page.status_code == 200 and "第0封" in page_text(letter_page.text)
    with Session(engine) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "mailbox.opened_early")).one().actor_user_id == school.admin.id


def test_a_letter_not_yet_open_is_refused_not_shown(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock, text="还没到开箱的时间")
    _login(client)
    page = client.get(f"/staff/letters/{receipt.letter_id}")
    assert page.status_code == 403
    assert "还没到开箱的时间" not in page.text


# --- one letter: claims, replies, statuses, notes ----------------------------------------------


def test_claim_and_give_back(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"], "王老师")
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    page = client.get(path)
    assert 'id="claim"' in page.text and "我来处理" in page_text(page.text)

    claimed = client.post(f"{path}/claim", data={"csrf": token}, follow_redirects=False)
    assert (claimed.status_code, claimed.headers["location"]) == (303, path)
    mine = client.get(path)
    assert "放回" in page_text(mine.text) and 'id="claim"' not in mine.text
    assert _stored(engine, receipt.letter_id).claimed_by == school.admin.id
    assert "zhang" in page_text(client.get("/staff/").text.split('id="queue"')[1])

    # A colleague sees it taken, and their claim is refused.
    other = _browser(client)
    other_token = _login(other, "wang", "a quiet river in late autumn")
    theirs = other.get(path)
    assert "同事正在处理" in page_text(theirs.text)
    refused = other.post(f"{path}/claim", data={"csrf": other_token})
    assert refused.status_code == 409 and "另一位心理老师正在回复这封信" in page_text(refused.text)
    assert _stored(engine, receipt.letter_id).claimed_by == school.admin.id

    released = client.post(f"{path}/claim", data={"csrf": token, "action": "release"}, follow_redirects=False)
    assert released.status_code == 303
    assert _stored(engine, receipt.letter_id).claimed_by is None
    assert 'id="claim"' in client.get(path).text
    assert other.post(f"{path}/claim", data={"csrf": other_token}, follow_redirects=False).status_code == 303
    assert _stored(engine, receipt.letter_id).claimed_by != school.admin.id


def test_a_reply_through_the_page_and_a_stale_one_keeps_its_draft(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock, text="我不想去上学")
    clock.now = FRIDAY_1401
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    page = client.get(path)
    assert _version(page.text) == "0" and 'id="reply-form"' in page.text and "寄出回信" in page_text(page.text)

    sent = client.post(f"{path}/reply", data={"csrf": token, "version": "0", "text": "老师读到了你的信。"}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith(path)
    after = client.get(path)
    assert "老师读到了你的信。" in page_text(after.text) and _version(after.text) == "1"
    assert _stored(engine, receipt.letter_id).status == "replied"

    # The same composer, still on version 0 (another tab): refused, and the draft is kept.
    draft = "我写的第二封回信，还没寄出"
    stale = client.post(f"{path}/reply", data={"csrf": token, "version": "0", "text": draft})
    assert stale.status_code == 409
    assert draft in _textarea(stale.text, "text")
    assert "有人在这封信下面写了新内容" in page_text(stale.text)
    assert "老师读到了你的信。" in page_text(stale.text)  # the newer message is shown
    assert _version(stale.text) == "1"
    with Session(engine) as session:
        assert len(session.exec(select(Reply).where(Reply.letter_id == receipt.letter_id)).all()) == 1
    # Sent again from the reloaded page, it goes through.
    again = client.post(f"{path}/reply", data={"csrf": token, "version": "1", "text": draft}, follow_redirects=False)
    assert again.status_code == 303


def test_a_reply_written_before_the_childs_follow_up_is_stale(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    seen = _version(client.get(path).text)
    with Session(engine, expire_on_commit=False) as session:
        follow_up_as_child(session=session, school=school.school, code=receipt.code, text="老师，我还想说", sealing=settings.sealing, clock=clock)
    stale = client.post(f"{path}/reply", data={"csrf": token, "version": seen, "text": "写在孩子补充之前"})
    assert stale.status_code == 409
    assert "写在孩子补充之前" in _textarea(stale.text, "text") and "老师，我还想说" in page_text(stale.text)


def test_an_empty_reply_is_refused_with_the_page(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    token = _login(client)
    refused = client.post(f"/staff/letters/{receipt.letter_id}/reply", data={"csrf": token, "version": "0", "text": "   "})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert _stored(engine, receipt.letter_id).version == 0


def test_status_changes_through_the_page(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    assert "已读" in page_text(client.get(path).text.split('id="status"')[1].split("</dd>")[0])

    refused = client.post(f"{path}/status", data={"csrf": token, "status": "follow_up", "follow_up_on": ""})
    assert refused.status_code == 400 and "需要跟进的信，请填写跟进日期。" in page_text(refused.text)
    assert _stored(engine, receipt.letter_id).status == "read"

    done = client.post(f"{path}/status", data={"csrf": token, "status": "follow_up", "follow_up_on": "2026-12-04"}, follow_redirects=False)
    assert done.status_code == 303
    shown = page_text(client.get(path).text.split('id="status"')[1].split("</dd>")[0])
    assert "需跟进" in shown and "2026-12-04" in shown
    client.post(f"{path}/status", data={"csrf": token, "status": "closed", "follow_up_on": ""})
    assert "已结束" in page_text(client.get(path).text.split('id="status"')[1].split("</dd>")[0])
    assert _stored(engine, receipt.letter_id).status == "closed"
    bad_day = client.post(f"{path}/status", data={"csrf": token, "status": "follow_up", "follow_up_on": "下周一"})
    assert bad_day.status_code == 400 and _stored(engine, receipt.letter_id).status == "closed"


def test_a_private_note_is_for_counsellors_only(client, school, engine, settings, clock):
    home = _send(engine, school, settings, clock, kind="parent", text="爸爸我想你")
    _colleague(engine, school, settings, clock, "zhao", ["teacher"], "my class loves the school garden", ["teachers"])
    token = _login(client)
    path = f"/staff/letters/{home.letter_id}"
    note = "她说周末没人接，<b>周一</b>问问"
    added = client.post(f"{path}/note", data={"csrf": token, "note": note}, follow_redirects=False)
    assert added.status_code == 303
    page = client.get(path)
    notes = page.text.split('id="notes"')[1]
    assert note in page_text(notes) and "<b>周一</b>" not in page.text and "&lt;b&gt;周一&lt;/b&gt;" in notes
    assert "私人备注" in page_text(page.text)
    with Session(engine) as session:
        stored = session.exec(select(LetterNote)).one()
        assert "周一".encode() not in stored.body

    teacher = _browser(client)
    _login(teacher, "zhao", "my class loves the school garden")
    theirs = teacher.get(path)
    assert theirs.status_code == 200 and "爸爸我想你" in page_text(theirs.text)
    assert "周末没人接" not in page_text(theirs.text) and 'id="notes"' not in theirs.text and "私人备注" not in page_text(theirs.text)
    # Nor may a teacher write one.
    teacher_token = csrf_from(theirs.text)
    assert teacher.post(f"{path}/note", data={"csrf": teacher_token, "note": "班主任的备注"}).status_code == 403
    with Session(engine) as session:
        assert len(session.exec(select(LetterNote)).all()) == 1


def test_a_teacher_cannot_open_or_answer_a_whisper(client, school, engine, settings, clock):
    whisper = _send(engine, school, settings, clock, text="只给心理老师看")
    clock.now = FRIDAY_1401
    _colleague(engine, school, settings, clock, "zhao", ["teacher"], "my class loves the school garden", ["teachers"])
    token = _login(client, "zhao", "my class loves the school garden")
    assert f"/staff/letters/{whisper.letter_id}" not in client.get("/staff/").text
    page = client.get(f"/staff/letters/{whisper.letter_id}")
    assert page.status_code == 403 and "只给心理老师看" not in page.text
    reply = client.post(f"/staff/letters/{whisper.letter_id}/reply", data={"csrf": token, "version": "0", "text": "班主任的回信"})
    assert reply.status_code == 403
    with Session(engine) as session:
        assert session.exec(select(Reply)).all() == []


def test_a_teacher_cannot_close_or_claim_a_whisper(client, school, engine, settings, clock):
    whisper = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    _colleague(engine, school, settings, clock, "zhao", ["teacher"], "my class loves the school garden", ["teachers"])
    token = _login(client, "zhao", "my class loves the school garden")
    closed = client.post(f"/staff/letters/{whisper.letter_id}/status", data={"csrf": token, "status": "closed"}, follow_redirects=False)
    claimed = client.post(f"/staff/letters/{whisper.letter_id}/claim", data={"csrf": token}, follow_redirects=False)
    stored = _stored(engine, whisper.letter_id)
    assert (closed.status_code, claimed.status_code) == (403, 403)
    assert (stored.status, stored.claimed_by) == ("new", None)


# --- colleagues -----------------------------------------------------------------------------------


def _invite_link(client, token, username, display_name, *roles) -> str:
    data = {"csrf": token, "username": username, "display_name": display_name, **{f"role_{r}": "yes" for r in roles}}
    page = client.post("/staff/admin/users", data=data)
    assert page.status_code == 200, page_text(page.text)
    link = re.search(r'id="invite-url">([^<]+)<', page.text).group(1)
    assert re.fullmatch(r"http://testserver/staff/invite/[A-Za-z0-9_-]{20,}", link), link
    return link.removeprefix("http://testserver")


def test_invite_accept_and_grant_through_the_pages(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock, text="新同事也能读")
    clock.now = FRIDAY_1401
    token = _login(client)
    link = _invite_link(client, token, "liu", "刘老师", "counsellor")
    assert "请把这个链接发给liu" in page_text(client.post("/staff/admin/users", data={"csrf": token, "username": "liu2", "role_counsellor": "yes"}).text)
    listing = client.get("/staff/admin/users")
    assert "/staff/invite/" not in listing.text  # the link is shown once only
    assert "刘老师" in page_text(listing.text)

    newcomer = _browser(client)
    form = newcomer.get(link)
    assert form.status_code == 200 and "欢迎你，liu" in page_text(form.text)
    invite_token = csrf_from(form.text)
    mismatch = newcomer.post(link, data={"csrf": invite_token, "passphrase": "swallows in spring", "passphrase_repeat": "swallows in autumn"})
    assert mismatch.status_code == 400 and "两次输入的密码不一样。" in page_text(mismatch.text)
    weak = newcomer.post(link, data={"csrf": invite_token, "passphrase": "short", "passphrase_repeat": "short"})
    assert weak.status_code == 400 and "密码太短了" in page_text(weak.text)
    with Session(engine) as session:
        assert session.exec(select(StaffUser).where(StaffUser.username == "liu")).one().passphrase_hash is None
    accepted = newcomer.post(
        link, data={"csrf": invite_token, "passphrase": "swallows come back in spring", "passphrase_repeat": "swallows come back in spring"},
        follow_redirects=False,
    )
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/staff/login?welcome=1")
    assert newcomer.get(link).status_code == 404  # used up

    # Logged in, but no key yet: nothing to read.
    _login(newcomer, "liu", "swallows come back in spring")
    assert f"/staff/letters/{receipt.letter_id}" not in newcomer.get("/staff/").text
    assert newcomer.get(f"/staff/letters/{receipt.letter_id}").status_code == 403

    with Session(engine) as session:
        liu = session.exec(select(StaffUser).where(StaffUser.username == "liu")).one()
    users = client.get("/staff/admin/users")
    assert f'action="/staff/admin/users/{liu.id}/grant"' in users.text and "授予心理老师密钥" in page_text(users.text)
    granted = client.post(f"/staff/admin/users/{liu.id}/grant", data={"csrf": token, "audience": "counsellors"}, follow_redirects=False)
    assert granted.status_code == 303
    with Session(engine) as session:
        wraps = session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == liu.id)).all()
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "key.granted")).one()
    assert [w.granted_by for w in wraps] == [school.admin.id] and event.actor_user_id == school.admin.id
    assert f'action="/staff/admin/users/{liu.id}/grant"' not in client.get("/staff/admin/users").text

    # Keys are unlocked at login: after logging in again the letter opens.
    _login(newcomer, "liu", "swallows come back in spring")
    assert f"/staff/letters/{receipt.letter_id}" in newcomer.get("/staff/").text
    assert "新同事也能读" in page_text(newcomer.get(f"/staff/letters/{receipt.letter_id}").text)


def test_granting_a_key_you_do_not_hold_is_refused(client, school, engine, settings, clock):
    _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"])
    zhao = _colleague(engine, school, settings, clock, "zhao", ["teacher"], "my class loves the school garden")
    token = _login(client, "wang", "a quiet river in late autumn")
    refused = client.post(f"/staff/admin/users/{zhao.id}/grant", data={"csrf": token, "audience": "teachers"})
    assert refused.status_code == 403
    with Session(engine) as session:
        assert session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == zhao.id)).all() == []


def test_admin_pages_are_for_admins(client, school, engine, settings, clock):
    wang = _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"])
    _colleague(engine, school, settings, clock, "zhao", ["teacher"], "my class loves the school garden", ["teachers"])
    token = _login(client, "wang", "a quiet river in late autumn")
    for path in ("/staff/admin/kiosks", "/staff/admin/posters", "/staff/recover", "/staff/admin/audit", "/staff/admin/urgent"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "没有权限" in page_text(response.text)
    for path, data in (
        ("/staff/admin/users", {"username": "sneaky", "role_admin": "yes"}),
        (f"/staff/admin/users/{school.admin.id}/reset", {}),
        (f"/staff/admin/users/{school.admin.id}/disable", {"disabled": "yes"}),
        ("/staff/admin/kiosks", {"name": "走廊"}),
        ("/staff/admin/posters", {"label": "门口"}),
        ("/staff/recover", {"recovery_key": school.recovery_key}),
    ):
        assert client.post(path, data={"csrf": token, **data}).status_code == 403, path
    with Session(engine) as session:
        assert session.exec(select(StaffUser).where(StaffUser.username == "sneaky")).first() is None
        admin = session.get(StaffUser, school.admin.id)
        assert admin.passphrase_hash and not admin.disabled
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "recovery.used")).first() is None
    # A counsellor may see the staff list (to grant keys), but a teacher may not.
    assert client.get("/staff/admin/users").status_code == 200
    teacher = _browser(client)
    _login(teacher, "zhao", "my class loves the school garden")
    for path in ("/staff/admin/users", "/staff/admin/kiosks", "/staff/templates", "/staff/summary"):
        assert teacher.get(path).status_code == 403, path
    assert wang.id


# --- logging in and out -----------------------------------------------------------------------------


def test_wrong_passphrases_are_slowed_then_refused_even_with_the_right_one(client, school, engine, slept, clock):
    token = csrf_from(client.get("/staff/login").text)
    for attempt in range(throttle.REFUSE_AFTER):
        wrong = client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": f"not it {attempt}"})
        assert wrong.status_code == 400 and "用户名或密码不对。" in page_text(wrong.text)
    delays = slept.delays
    assert len(delays) == throttle.REFUSE_AFTER - throttle.FREE_FAILURES
    assert all(d > 0 for d in delays) and delays == sorted(delays) and delays[-1] > delays[0]

    locked = client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": ADMIN_PASSPHRASE}, follow_redirects=False)
    assert locked.status_code == 429 and "登录已暂停" in page_text(locked.text)
    assert "qq_staff" not in locked.cookies
    with Session(engine) as session:
        assert session.exec(select(StaffSessionRow)).all() == []
    # The pause ends.
    clock.advance(minutes=16)
    _login(client)


def test_unknown_user_and_wrong_passphrase_look_the_same(client, school):
    token = csrf_from(client.get("/staff/login").text)
    unknown = client.post("/staff/login", data={"csrf": token, "username": "nobody", "passphrase": ADMIN_PASSPHRASE})
    wrong = client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": "not the passphrase"})
    assert unknown.status_code == wrong.status_code == 400

    def message(html):
        return re.search(r'role="alert">(.*?)</p>', html, flags=re.S).group(1)

    assert message(unknown.text) == message(wrong.text)


def test_a_session_ends_after_thirty_idle_minutes(client, school, clock):
    _login(client)
    clock.advance(minutes=29)
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=29)  # idle time counts from the last request
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=31)
    gone = client.get("/staff/", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/staff/login?expired=1"
    assert "登录已过期" in page_text(client.get(gone.headers["location"]).text)
    assert client.get("/staff/", follow_redirects=False).status_code == 303  # and it stays ended


def test_logging_out_ends_the_session_for_that_cookie(client, school, engine, clock):
    token = _login(client)
    cookie = client.cookies.get("qq_staff")
    out = client.post("/staff/logout", data={"csrf": token}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/staff/login")
    assert client.get("/staff/", follow_redirects=False).status_code == 303
    # The old cookie, replayed, opens nothing.
    replay = _browser(client)
    replay.cookies.set("qq_staff", cookie)
    assert replay.get("/staff/", follow_redirects=False).status_code == 303
    with Session(engine) as session:
        assert all(row.revoked_at is not None for row in session.exec(select(StaffSessionRow)).all())


def test_disabling_a_user_ends_their_open_session(client, school, engine, settings, clock):
    wang = _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"])
    other = _browser(client)
    _login(other, "wang", "a quiet river in late autumn")
    assert other.get("/staff/").status_code == 200

    token = _login(client)
    switched = client.post(f"/staff/admin/users/{wang.id}/disable", data={"csrf": token, "disabled": "yes"}, follow_redirects=False)
    assert switched.status_code == 303
    gone = other.get("/staff/", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/staff/login")
    refused = other.post("/staff/login", data={"csrf": csrf_from(other.get("/staff/login").text), "username": "wang", "passphrase": "a quiet river in late autumn"})
    assert refused.status_code == 400
    assert "停用" in page_text(client.get("/staff/admin/users").text)


def test_disabling_in_another_process_ends_the_session_too(client, school, engine, settings, clock):
    wang = _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"])
    _login(client, "wang", "a quiet river in late autumn")
    assert client.get("/staff/").status_code == 200
    # Another worker process (here: the domain function, not this app) switches the account off.
    with Session(engine, expire_on_commit=False) as session:
        set_disabled(session=session, school=school.school, user_id=wang.id, disabled=True, clock=clock, actor_user_id=school.admin.id)
    assert client.get("/staff/", follow_redirects=False).status_code == 303


def test_resetting_a_user_ends_their_session_and_gives_a_new_link(client, school, engine, settings, clock):
    wang = _colleague(engine, school, settings, clock, "wang", ["counsellor"], "a quiet river in late autumn", ["counsellors"])
    other = _browser(client)
    _login(other, "wang", "a quiet river in late autumn")
    token = _login(client)
    page = client.post(f"/staff/admin/users/{wang.id}/reset", data={"csrf": token})
    assert page.status_code == 200
    link = re.search(r'id="invite-url">([^<]+)<', page.text).group(1).removeprefix("http://testserver")
    assert other.get("/staff/", follow_redirects=False).status_code == 303
    with Session(engine) as session:
        assert session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == wang.id)).all() == []
    assert other.get(link).status_code == 200


def test_audit_trail_of_a_friday(client, school, engine, settings, clock):
    receipt = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    token = _login(client)
    path = f"/staff/letters/{receipt.letter_id}"
    client.get(path)
    client.post(f"{path}/claim", data={"csrf": token})
    client.post(f"{path}/reply", data={"csrf": token, "version": "0", "text": "回信"})
    client.post(f"{path}/status", data={"csrf": token, "status": "closed"})
    with Session(engine) as session:
        actions = [
            e.action
            for e in session.exec(select(AuditEvent).where(AuditEvent.target_id == receipt.letter_id).order_by(col(AuditEvent.seq))).all()
        ]
    for expected in ("letter.opened", "letter.claimed", "letter.replied", "letter.status"):
        assert expected in actions
