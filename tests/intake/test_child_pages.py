"""The child's pages through HTTP: ways in, letters, codes, replies, throttling."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from conftest import ADMIN_PASSPHRASE, csrf_from, page_text, shipped_screeners
from qiaoqiao.mailbox.letters import LetterForm, submit_letter
from qiaoqiao.mailbox.sources import add_kiosk, add_poster
from qiaoqiao.mailbox.tables import Letter, Reply
from qiaoqiao.mailbox import throttle


def _write(client, slug, kind="whisper", **fields):
    page = client.get(f"/s/{slug}/write/{kind}")
    token = csrf_from(page.text)
    submission = re.search(r'name="submission" value="([^"]+)"', page.text).group(1)
    data = {"csrf": token, "submission": submission, "text": "", "sender_name": "", "sender_class": "", **fields}
    return client.post(f"/s/{slug}/write/{kind}", data=data), data


def _code(html: str) -> str:
    return re.search(r'id="pickup-code">([0-9 ]+)<', html).group(1)


def _read(client, slug, code):
    token = csrf_from(client.get(f"/s/{slug}/reply").text)
    return client.post(f"/s/{slug}/reply", data={"csrf": token, "code": code})


def test_every_child_page_is_no_store_and_has_a_quick_exit(client, school):
    slug = school.school.slug
    for path in (f"/s/{slug}/", f"/s/{slug}/write/whisper", f"/s/{slug}/write/parent", f"/s/{slug}/reply"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert f'href="/s/{slug}/leave"' in page.text
        assert 'autocomplete="off"' in page.text or path.endswith(f"/s/{slug}/")
    leave = client.get(f"/s/{slug}/leave", follow_redirects=False)
    assert leave.status_code == 303 and leave.headers["location"] == f"/s/{slug}/"


def test_the_forms_say_who_reads_and_carry_pinyin(client, school):
    slug = school.school.slug
    whisper = client.get(f"/s/{slug}/write/whisper").text
    assert "只有心理老师能看到这封信" in page_text(whisper)
    assert "<ruby>寄<rt>jì</rt></ruby>" in whisper
    parent = page_text(client.get(f"/s/{slug}/write/parent").text)
    assert "班主任会把这封信寄给你的家人" in parent and "写给谁" in parent and "爸爸妈妈" in parent


def test_a_letter_home_needs_an_addressee_and_keeps_the_text(client, school):
    response, _ = _write(client, school.school.slug, kind="parent", text="爸爸你什么时候回来", sender_name="小红", sender_class="三(2)班")
    assert response.status_code == 400
    assert "请选一选这封信是写给谁的" in response.text and "爸爸你什么时候回来" in response.text


def test_a_double_tap_sends_one_letter_and_shows_the_same_code(client, school, engine):
    slug = school.school.slug
    first, data = _write(client, slug, text="我想妈妈了", mood="homesick")
    second = client.post(f"/s/{slug}/write/whisper", data=data)
    assert first.status_code == second.status_code == 200
    assert _code(first.text) == _code(second.text)
    with Session(engine) as session:
        assert len(session.exec(select(Letter)).all()) == 1


def test_the_whole_thread_with_a_code(client, school, engine, settings, clock):
    slug = school.school.slug
    sent, _ = _write(client, slug, text="同学笑我没有爸爸妈妈来开家长会", mood="sad")
    code = _code(sent.text)
    assert "老师会在11月27日 星期五 14:00打开信箱" in sent.text  # the clock stands on Wednesday
    assert f'href="/s/{slug}/r/{code.replace(" ", "")}"' in sent.text  # a phone may save the link

    waiting = _read(client, slug, code)
    assert waiting.status_code == 200
    assert "同学笑我没有爸爸妈妈来开家长会" in waiting.text
    assert "还没有回信" in waiting.text

    # A counsellor answers through the staff page.
    token = csrf_from(client.get("/staff/login").text)
    client.post("/staff/login", data={"csrf": token, "username": "zhang", "passphrase": ADMIN_PASSPHRASE})
    with Session(engine) as session:
        letter_id = session.exec(select(Letter.id)).one()
    assert client.get(f"/staff/letters/{letter_id}").status_code == 403  # Wednesday: it waits for Friday
    client.post("/staff/open-now", data={"csrf": csrf_from(client.get("/staff/").text)})
    staff_page = client.get(f"/staff/letters/{letter_id}")
    replied = client.post(
        f"/staff/letters/{letter_id}/reply", data={"csrf": csrf_from(staff_page.text), "text": "谢谢你告诉老师。<b>你不是一个人。</b>"}
    )
    assert replied.status_code == 200 and "孩子未读" in replied.text

    answered = _read(client, slug, code.replace(" ", "-"))
    assert "有回信啦" in page_text(answered.text)
    assert "&lt;b&gt;你不是一个人。&lt;/b&gt;" in answered.text
    assert "孩子已读" in client.get(f"/staff/letters/{letter_id}").text

    # The child writes back in the same thread.
    follow = client.post(
        f"/s/{slug}/reply/write", data={"csrf": csrf_from(answered.text), "code": code.replace(" ", ""), "text": "谢谢老师"}
    )
    assert follow.status_code == 200 and "谢谢老师" in follow.text
    with Session(engine) as session:
        kinds = sorted(r.author_kind for r in session.exec(select(Reply)).all())
    assert kinds == ["child", "counsellor"]


def test_a_reply_reaches_only_its_own_code(client, school, engine, settings, clock):
    with Session(engine, expire_on_commit=False) as session:
        mine = submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind="whisper", text="我的信"), sealing=settings.sealing, clock=clock)
        other = submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind="whisper", text="别人的信"), sealing=settings.sealing, clock=clock)
    page = _read(client, school.school.slug, other.code.formatted())
    assert "别人的信" in page.text and "我的信" not in page.text.replace("我的信和回信", "")
    assert "别人的信" not in _read(client, school.school.slug, mine.code.formatted()).text


def test_a_miscopied_code_is_told_gently_and_not_counted(client, school, engine):
    digits = list("123456789012")
    response = _read(client, school.school.slug, "".join(digits))
    assert response.status_code in (400, 404)
    assert "回信码好像不太对" in response.text or "没有找到这个回信码的信" in response.text


def test_wrong_codes_are_slowed_then_refused(client, school, engine, clock, slept):
    from qiaoqiao import crypto

    slug = school.school.slug
    for n in range(throttle.REFUSE_AFTER):
        response = _read(client, slug, crypto.new_pickup_code().formatted())
        assert response.status_code == 404, n
        assert "没有找到这个回信码的信" in response.text
        clock.advance(seconds=1)
    # The first few mistakes are free; then each answer waits longer.
    assert slept.delays[0] == 0.5 and slept.delays == sorted(slept.delays)
    assert len(slept.delays) == throttle.REFUSE_AFTER - throttle.FREE_FAILURES
    refused = _read(client, slug, crypto.new_pickup_code().formatted())
    assert refused.status_code == 429 and "试了太多次了" in refused.text
    # The counter is in the database, so a second app process sees it too.
    with Session(engine) as session:
        rows = session.exec(select(throttle.Throttle)).all()
    assert len(rows) == 1 and rows[0].failures == throttle.REFUSE_AFTER
    clock.advance(minutes=16)
    assert _read(client, slug, crypto.new_pickup_code().formatted()).status_code == 404


def test_a_kiosk_url_makes_a_kiosk_and_letters_remember_it(client, school, engine, clock):
    with Session(engine, expire_on_commit=False) as session:
        kiosk, token = add_kiosk(session=session, school=school.school, name="教学楼一楼", clock=clock)
    landing = client.get(f"/k/{token}", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == f"/s/{school.school.slug}/"
    form = client.get(f"/s/{school.school.slug}/write/whisper")
    assert 'data-kiosk="1"' in form.text and 'data-idle="120"' in form.text
    sent, _ = _write(client, school.school.slug, text="今天很开心")
    assert 'http-equiv="refresh" content="62;url=' in sent.text  # child.js returns at 60 s; this is the fallback
    assert "/r/" not in sent.text  # no saved link on a shared tablet
    with Session(engine) as session:
        letter = session.exec(select(Letter)).one()
    assert (letter.source_kind, letter.source_id) == ("kiosk", kiosk.id)
    assert client.get("/k/not-a-real-token").status_code == 404


def test_a_poster_letter_remembers_the_poster(client, school, engine, clock):
    with Session(engine, expire_on_commit=False) as session:
        poster = add_poster(session=session, school=school.school, label="宿舍二楼", clock=clock)
    client.get(f"/p/{poster.code}")
    sent, _ = _write(client, school.school.slug, text="宿舍晚上有人哭")
    assert 'http-equiv="refresh"' not in sent.text
    with Session(engine) as session:
        letter = session.exec(select(Letter)).one()
    assert (letter.source_kind, letter.source_id) == ("poster", poster.id)


def test_no_address_or_browser_is_stored(client, school, engine, database_url):
    client.headers["user-agent"] = "UniqueAgent/9.9 (tracking-marker)"
    sent, _ = _write(client, school.school.slug, text="你好")
    assert sent.status_code == 200
    with Session(engine) as session:
        letter = session.exec(select(Letter)).one()
        values = " ".join(str(v) for v in letter.model_dump().values())
    assert "UniqueAgent" not in values and "testclient" not in values


def test_payloads_are_inert_on_the_childs_pages(client, school):
    slug = school.school.slug
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    response, _ = _write(client, slug, text=payload)
    code = _code(response.text)
    thread = _read(client, slug, code)
    assert "<script>alert(1)</script>" not in thread.text and "<img src=x" not in thread.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in thread.text
    refused, _ = _write(client, slug, text=payload + "\x00")
    assert "<img src=x" not in refused.text and "&lt;img src=x" in refused.text


def test_when_storage_fails_the_child_keeps_the_letter_and_nothing_is_half_stored(client, school, engine, session):
    from sqlalchemy import text

    session.rollback()  # end the fixture's open read, which would hold PostgreSQL's DROP
    # Break the storage for real: the table of key wraps is gone.
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE content_key_wrap"))
    response, _ = _write(client, school.school.slug, text="今天考试没考好，怕奶奶骂我", sender_name="小刚")
    assert response.status_code == 503
    assert "信箱现在没能收下你的信" in response.text
    assert "今天考试没考好，怕奶奶骂我" in response.text and 'value="小刚"' in response.text
    with Session(engine) as session:
        assert session.exec(select(Letter)).all() == []
        from qiaoqiao.mailbox.tables import PickupCode

        assert session.exec(select(PickupCode)).all() == []


def test_text_that_is_not_valid_utf8_gets_a_gentle_message(client, school):
    slug = school.school.slug
    page = client.get(f"/s/{slug}/write/whisper")
    token = csrf_from(page.text)
    body = f"csrf={token}&submission=&text=%E6%88%91%FF%FE&sender_name=&sender_class=".encode()
    response = client.post(
        f"/s/{slug}/write/whisper", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400 and "有些字读不出来" in response.text


def test_a_talk_in_person_reaches_the_child(client, school, engine, settings, clock):
    from datetime import date

    from qiaoqiao.mailbox.keyring import unlock_member
    from qiaoqiao.mailbox.threads import reply_as_staff

    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(screeners=shipped_screeners(), 
            session=session, school=school.school,
            form=LetterForm(kind="whisper", text="我想找老师说说话", sender_name="小明", sender_class="三(2)班"),
            sealing=settings.sealing, clock=clock,
        )
        keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
        clock.advance(days=3)
        reply_as_staff(
            session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, text="好的，我们见面聊。",
            author_kind="counsellor", author_user_id=school.admin.id, clock=clock, meet_on=date(2026, 12, 2),
        )
    thread = _read(client, school.school.slug, receipt.code.formatted())
    assert "老师想在12月2日 星期三和你当面聊一聊" in page_text(thread.text)
