"""Urgent notes from the child's submit to a person: alerts, delivery, retries, escalation, acknowledgement.

Everything is real: letters through ``submit_letter`` or the child's form,
alerts delivered by ``dispatch_once`` through the real notifiers to real
servers on 127.0.0.1 (an aiosmtpd server, threaded HTTP robots). Time is the
``clock`` fixture: retries and escalation are reached by moving it, never by
sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from receivers import HttpReceiver, MailReceiver, Reply, unused_port
from sqlalchemy import event
from sqlmodel import Session, col, select

from qiaoqiao.mailbox.accounts import accept_invite, invite_user
from qiaoqiao.mailbox.alerts import ack_token
from qiaoqiao.mailbox.channels import add_channel, save_alert_settings
from qiaoqiao.mailbox.dispatch import BACKOFF_SECONDS, CLAIM_TIMEOUT, MAX_ATTEMPTS, DispatchConfig, claim, dispatch_once, plan
from qiaoqiao.mailbox.errors import KeysLocked
from qiaoqiao.mailbox.keyring import Keyring, unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.rota import add_slot
from qiaoqiao.mailbox.tables import Alert, AlertDelivery, AuditEvent, ContentKeyWrap, Letter, StaffUser

from conftest import ADMIN_PASSPHRASE, csrf_from, page_text, shipped_screeners

BASE_URL = "http://127.0.0.1:8000"
URGENT_NOTE = "我不想活了，今晚就从楼顶跳下去"  # level 3: a wish to die, a method and a time
LEVEL2_NOTE = "我不想活了 真的 每天都好累 没有人喜欢我"  # level 2: a wish to die, no plan
ROUTINE_NOTE = "今天数学考试我考了九十分，想告诉你。"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
WECOM_REFUSAL = {"errcode": 93000, "errmsg": "invalid webhook url"}
COLLEAGUE_PASSPHRASE = "the swallows come back in spring"
ACK_LINK = re.compile(r"https?://[^\s\"]+(/ack/[A-Za-z0-9_\-.]+)")


# --- helpers ------------------------------------------------------------------


def _call(engine, fn: Callable, **kwargs):
    with Session(engine, expire_on_commit=False) as session:
        return fn(session=session, **kwargs)


def _submit(engine, school, settings, clock, text=URGENT_NOTE, kind="whisper", **form):
    return _call(
        engine, submit_letter, school=school.school, form=LetterForm(kind=kind, text=text, **form),
        sealing=settings.sealing, clock=clock, screeners=shipped_screeners(), source_label="kiosk: 教学楼一楼",
    )


def _config(settings, worker_id: str = "main") -> DispatchConfig:
    return DispatchConfig(base_url=BASE_URL, server_key=settings.secret_key.reveal(), worker_id=worker_id)


def _dispatch(engine, settings, clock, http, worker_id: str = "main") -> int:
    return dispatch_once(engine, config=_config(settings, worker_id), http=http, clock=clock)


def _use_smtp(engine, school, settings, clock, mail: MailReceiver, **changes) -> None:
    values = {
        "day_start_hour": "7", "day_end_hour": "21", "ack_minutes_level3": "10", "ack_minutes_level2": "60",
        "smtp_host": "127.0.0.1", "smtp_port": str(mail.port), "smtp_security": "none",
        "smtp_sender": "xinxiang@yangguang.example.cn", **changes,
    }
    _call(
        engine, save_alert_settings, school=school.school, values=values, smtp_password=None,
        server_key=settings.secret_key.reveal(), clock=clock, actor_user_id=school.admin.id,
    )


def _channel(engine, school, settings, clock, kind: str, target: str, *, user_id=None, secret="", label=""):
    return _call(
        engine, add_channel, school=school.school, kind=kind, target=target, secret=secret, label=label or kind,
        user_id=user_id, server_key=settings.secret_key.reveal(), clock=clock, actor_user_id=school.admin.id,
    )


def _colleague(engine, school, settings, clock, username: str) -> StaffUser:
    """A second counsellor, invited by the admin, who has chosen a passphrase.

    Joins a minute after the last one: without a rota, people are alerted in
    the order they joined.
    """
    clock.advance(minutes=1)
    invitation = _call(
        engine, invite_user, school=school.school, username=username, display_name=f"{username}老师",
        roles={"counsellor"}, kdf=settings.kdf, clock=clock, actor_user_id=school.admin.id,
    )
    return _call(engine, accept_invite, token=invitation.token, passphrase=COLLEAGUE_PASSPHRASE, kdf=settings.kdf, clock=clock)


def _on_duty(engine, school, clock, user: StaffUser) -> None:
    """Put a colleague on the rota all day, every day (the admin then comes after the rota)."""
    _call(
        engine, add_slot, school=school.school, user_id=user.id, weekday=-1, start_minute=0, end_minute=24 * 60,
        clock=clock, actor_user_id=school.admin.id,
    )


def _alerts(engine, letter_id: str | None = None) -> list[Alert]:
    with Session(engine) as session:
        query = select(Alert)
        if letter_id is not None:
            query = query.where(Alert.letter_id == letter_id)
        return list(session.exec(query.order_by(col(Alert.created_at), col(Alert.id))).all())


def _alert(engine, alert_id: str) -> Alert:
    with Session(engine) as session:
        return session.get(Alert, alert_id)


def _deliveries(engine, alert_id: str | None = None) -> list[AlertDelivery]:
    with Session(engine) as session:
        query = select(AlertDelivery)
        if alert_id is not None:
            query = query.where(AlertDelivery.alert_id == alert_id)
        return list(session.exec(query.order_by(col(AlertDelivery.created_at), col(AlertDelivery.id))).all())


def _events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))).all())


def _at_beijing(clock, day: int, hour: int, minute: int = 0) -> None:
    clock.now = datetime(2026, 11, day, hour, minute, tzinfo=timezone(timedelta(hours=8))).astimezone(timezone.utc)


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _recipients(mail: MailReceiver) -> list[str]:
    return [to for envelope in mail.envelopes for to in envelope.rcpt_tos]


def _fragments(note: str) -> set[str]:
    """Every two-character piece of the note (punctuation left out)."""
    chars = [c for c in note if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:])}


def _leaks(text: str, note: str) -> set[str]:
    return {piece for piece in _fragments(note) if piece in text}


def _json_text(request) -> str:
    """A request body as text, both raw and re-encoded, so escaped forms are seen too."""
    raw = request.body.decode("utf-8")
    return raw + "\n" + json.dumps(request.json(), ensure_ascii=False)


def _ack_path(text: str) -> str:
    found = ACK_LINK.search(text)
    assert found, "no acknowledgement link"
    return found.group(1)


def _login(client, username="zhang", passphrase=ADMIN_PASSPHRASE):
    token = csrf_from(client.get("/staff/login").text)
    response = client.post(
        "/staff/login", data={"csrf": token, "username": username, "passphrase": passphrase}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def mail():
    with MailReceiver() as server:
        yield server


# --- an urgent note raises an alert -----------------------------------------------


def test_an_urgent_note_raises_one_alert_with_the_letter_and_a_routine_note_none(engine, school, settings, clock):
    commits = []
    with Session(engine, expire_on_commit=False) as session:
        event.listen(session, "after_commit", lambda s: commits.append(1))
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind="whisper", text=URGENT_NOTE),
            sealing=settings.sealing, clock=clock, screeners=shipped_screeners(), source_label="kiosk: 教学楼一楼",
        )
    # Letter and alert were written by one commit: there is no moment with one and not the other.
    assert len(commits) == 1
    assert receipt.level == 3
    [alert] = _alerts(engine, receipt.letter_id)
    assert (alert.level, alert.categories, alert.source, alert.status, alert.step) == (
        3, "self_harm", "kiosk: 教学楼一楼", "waiting", -1,
    )
    assert alert.due_at.replace(tzinfo=timezone.utc) == clock.now  # level 3: due at once

    routine = _submit(engine, school, settings, clock, text=ROUTINE_NOTE)
    assert routine.level == 0
    assert _alerts(engine, routine.letter_id) == []
    assert len(_alerts(engine)) == 1


def test_one_dispatch_delivers_one_message_on_every_channel_and_none_carries_the_letter(engine, school, settings, clock, http, mail):
    _use_smtp(engine, school, settings, clock, mail)
    with HttpReceiver() as wecom, HttpReceiver() as dingtalk, HttpReceiver() as webhook:
        _channel(engine, school, settings, clock, "email", "zhang@yangguang.example.cn", user_id=school.admin.id)
        _channel(engine, school, settings, clock, "wecom", wecom.url("/cgi-bin/webhook/send?key=693a91f6-7xxx"))
        _channel(engine, school, settings, clock, "dingtalk", dingtalk.url("/robot/send?access_token=abc123"), secret=DINGTALK_SECRET)
        _channel(engine, school, settings, clock, "webhook", webhook.url("/hooks/qiaoqiao"))
        receipt = _submit(engine, school, settings, clock)
        letter_path = f"/staff/letters/{receipt.letter_id}"

        assert _dispatch(engine, settings, clock, http) == 4

        assert len(mail.messages) == 1 and _recipients(mail) == ["zhang@yangguang.example.cn"]
        assert [len(wecom.requests), len(dingtalk.requests), len(webhook.requests)] == [1, 1, 1]
        message = mail.messages[0]
        email_text = str(message["Subject"]) + "\n" + _body(message)
        robot_texts = {
            "wecom": wecom.requests[0].json()["text"]["content"],
            "dingtalk": dingtalk.requests[0].json()["text"]["content"],
        }
        for name, text in {"email": email_text, **robot_texts}.items():
            assert "阳光小学" in text, name
            assert "（3级）" in text, name
            assert f"{BASE_URL}{letter_path}" in text, name
            assert _ack_path(text).startswith("/ack/"), name
        payload = webhook.requests[0].json()
        assert payload["school"] == "阳光小学" and payload["level"] == 3
        assert urlsplit(payload["letter_url"]).path == letter_path
        assert urlsplit(payload["ack_url"]).path.startswith("/ack/")

        # Not a word of the note: not in the e-mail (raw and decoded), not in any JSON body.
        raw_email = mail.envelopes[0].original_content.decode("ascii", "replace")
        assert _leaks(email_text + raw_email, URGENT_NOTE) == set()
        for request in (wecom.requests + dingtalk.requests + webhook.requests):
            assert _leaks(_json_text(request), URGENT_NOTE) == set()

        # DingTalk's signature: HMAC-SHA256 of "timestamp\nsecret", keyed with the secret.
        signed = dingtalk.requests[0]
        assert signed.query["access_token"] == ["abc123"]
        [timestamp], [sign] = signed.query["timestamp"], signed.query["sign"]
        expected = base64.b64encode(
            hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        assert hmac.compare_digest(sign, expected)
        # DingTalk refuses a signature more than an hour off the real time.
        assert abs(int(timestamp) / 1000 - time.time()) < 3600

        # Each channel got its own acknowledgement link (one per delivery).
        links = {_ack_path(email_text), *(_ack_path(t) for t in robot_texts.values()), urlsplit(payload["ack_url"]).path}
        assert len(links) == 4
        assert {d.status for d in _deliveries(engine)} == {"sent"}

        # A second round at the same moment sends nothing again.
        assert _dispatch(engine, settings, clock, http) == 0
        assert len(mail.messages) == 1 and [len(wecom.requests), len(dingtalk.requests), len(webhook.requests)] == [1, 1, 1]


def test_level_2_at_night_waits_for_the_school_day_and_level_3_does_not(engine, school, settings, clock, http, mail):
    _use_smtp(engine, school, settings, clock, mail)
    _channel(engine, school, settings, clock, "email", "zhang@yangguang.example.cn", user_id=school.admin.id)
    _at_beijing(clock, 25, 23, 0)
    worrying = _submit(engine, school, settings, clock, text=LEVEL2_NOTE)
    assert worrying.level == 2
    [alert] = _alerts(engine, worrying.letter_id)
    expected_due = datetime(2026, 11, 26, 7, 0, tzinfo=timezone(timedelta(hours=8)))
    assert alert.due_at.replace(tzinfo=timezone.utc) == expected_due

    assert _dispatch(engine, settings, clock, http) == 0
    assert mail.messages == []
    _at_beijing(clock, 26, 6, 59)
    assert _dispatch(engine, settings, clock, http) == 0
    assert mail.messages == []
    _at_beijing(clock, 26, 7, 0)
    assert _dispatch(engine, settings, clock, http) == 1
    [message] = mail.messages
    assert "（2级）" in _body(message) and "当天处理" in str(message["Subject"])

    # The same night, a level 3 note goes out at once.
    _at_beijing(clock, 26, 23, 0)
    urgent = _submit(engine, school, settings, clock)
    assert _dispatch(engine, settings, clock, http) == 1
    assert len(mail.messages) == 2 and "（3级）" in _body(mail.messages[1])
    assert _alerts(engine, urgent.letter_id)[0].status == "alerting"


# --- failures and retries ----------------------------------------------------------


def test_a_webhook_answering_500_is_retried_after_the_backoff_and_then_succeeds(engine, school, settings, clock, http):
    with HttpReceiver() as webhook:
        webhook.reply(Reply(status=500, body={"error": "busy"}))
        _channel(engine, school, settings, clock, "webhook", webhook.url("/hook"))
        receipt = _submit(engine, school, settings, clock)
        [alert] = _alerts(engine, receipt.letter_id)
        start = clock.now

        assert _dispatch(engine, settings, clock, http) == 0
        [delivery] = _deliveries(engine, alert.id)
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "webhook answered HTTP 500")
        assert delivery.next_attempt_at.replace(tzinfo=timezone.utc) == start + timedelta(seconds=BACKOFF_SECONDS[0])

        clock.advance(seconds=BACKOFF_SECONDS[0] - 1)
        assert _dispatch(engine, settings, clock, http) == 0
        assert len(webhook.requests) == 1  # not before its time

        clock.advance(seconds=1)
        assert _dispatch(engine, settings, clock, http) == 1
        assert len(webhook.requests) == 2
        assert webhook.requests[0].json()["letter_url"] == webhook.requests[1].json()["letter_url"]
        [delivery] = _deliveries(engine, alert.id)
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
        assert delivery.sent_at.replace(tzinfo=timezone.utc) == clock.now


def test_a_wecom_robot_refusing_with_errcode_93000_fails_for_good(engine, school, settings, clock, http):
    with HttpReceiver(default=Reply(status=200, body=WECOM_REFUSAL)) as wecom:
        _channel(engine, school, settings, clock, "wecom", wecom.url("/cgi-bin/webhook/send?key=gone"))
        receipt = _submit(engine, school, settings, clock)
        [alert] = _alerts(engine, receipt.letter_id)

        assert _dispatch(engine, settings, clock, http) == 0
        [delivery] = _deliveries(engine, alert.id)
        assert delivery.status == "failed" and delivery.attempts == 1
        assert delivery.last_error == "wecom robot refused: errcode 93000 invalid webhook url"
        # The failure reason is safe to show: no robot key in it.
        assert "gone" not in delivery.last_error

        for _ in range(3):
            clock.advance(minutes=5)
            _dispatch(engine, settings, clock, http)
        assert len(wecom.requests) == 1  # never tried again


def test_connection_refused_is_retried_with_backoff_and_then_fails_for_good(engine, school, settings, clock, http):
    port = unused_port()
    _channel(engine, school, settings, clock, "webhook", f"http://127.0.0.1:{port}/hook")
    receipt = _submit(engine, school, settings, clock)
    [alert] = _alerts(engine, receipt.letter_id)

    assert _dispatch(engine, settings, clock, http) == 0
    for attempt, wait in enumerate(BACKOFF_SECONDS, start=1):
        [delivery] = _deliveries(engine, alert.id)
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
        assert delivery.last_error == "webhook connection failed (ConnectError)"
        assert str(port) not in delivery.last_error
        clock.advance(seconds=wait - 1)
        assert _dispatch(engine, settings, clock, http) == 0
        assert _deliveries(engine, alert.id)[0].attempts == attempt  # not yet
        clock.advance(seconds=1)
        assert _dispatch(engine, settings, clock, http) == 0
    [delivery] = _deliveries(engine, alert.id)
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)
    clock.advance(minutes=10)
    _dispatch(engine, settings, clock, http)
    assert _deliveries(engine, alert.id)[0].attempts == MAX_ATTEMPTS


# --- escalation -----------------------------------------------------------------------


def test_when_every_channel_of_the_first_person_fails_for_good_the_next_person_is_alerted_at_once(
    engine, school, settings, clock, http, mail
):
    _use_smtp(engine, school, settings, clock, mail)
    li = _colleague(engine, school, settings, clock, "li")
    wang = _colleague(engine, school, settings, clock, "wang")
    _on_duty(engine, school, clock, li)
    _on_duty(engine, school, clock, wang)
    with HttpReceiver(default=Reply(status=200, body=WECOM_REFUSAL)) as li_robot:
        _channel(engine, school, settings, clock, "wecom", li_robot.url("/cgi-bin/webhook/send?key=li"), user_id=li.id)
        _channel(engine, school, settings, clock, "webhook", f"http://127.0.0.1:{unused_port()}/li", user_id=li.id)
        _channel(engine, school, settings, clock, "email", "wang@yangguang.example.cn", user_id=wang.id)
        _channel(engine, school, settings, clock, "email", "zhang@yangguang.example.cn", user_id=school.admin.id)
        receipt = _submit(engine, school, settings, clock)
        [alert] = _alerts(engine, receipt.letter_id)
        start = clock.now

        # Li's robot refuses for good; Li's webhook is still being retried: Li is not given up on yet.
        assert _dispatch(engine, settings, clock, http) == 0
        assert sorted(d.status for d in _deliveries(engine, alert.id)) == ["failed", "pending"]
        assert _dispatch(engine, settings, clock, http) == 0
        assert _alert(engine, alert.id).step == 0 and mail.messages == []

        for wait in BACKOFF_SECONDS:
            clock.advance(seconds=wait)
            _dispatch(engine, settings, clock, http)
        # Both of Li's channels have now failed for good, well before the ten minutes are up.
        assert clock.now - start < timedelta(minutes=10)
        assert [d.status for d in _deliveries(engine, alert.id)] == ["failed", "failed"]
        assert mail.messages == []
        assert _dispatch(engine, settings, clock, http) == 1  # the same moment: Wang
        assert _recipients(mail) == ["wang@yangguang.example.cn"]
        assert "第2次提醒" in _body(mail.messages[0])
        escalated = _events(engine, "alert.escalated")
        assert [json.loads(e.detail) for e in escalated] == [{"step": 1, "to": wang.id}]


def test_without_acknowledgement_the_alert_escalates_after_ten_minutes_and_reaches_the_admin_last(
    engine, school, settings, clock, http, mail
):
    _use_smtp(engine, school, settings, clock, mail)
    wang = _colleague(engine, school, settings, clock, "wang")
    _on_duty(engine, school, clock, wang)
    _channel(engine, school, settings, clock, "email", "wang@yangguang.example.cn", user_id=wang.id)
    _channel(engine, school, settings, clock, "email", "zhang@yangguang.example.cn", user_id=school.admin.id)
    receipt = _submit(engine, school, settings, clock)
    [alert] = _alerts(engine, receipt.letter_id)

    assert _dispatch(engine, settings, clock, http) == 1
    assert _recipients(mail) == ["wang@yangguang.example.cn"]

    clock.advance(minutes=9, seconds=59)
    assert _dispatch(engine, settings, clock, http) == 0
    assert len(mail.messages) == 1
    clock.advance(seconds=1)
    assert _dispatch(engine, settings, clock, http) == 1
    assert _recipients(mail) == ["wang@yangguang.example.cn", "zhang@yangguang.example.cn"]
    assert "第2次提醒" in _body(mail.messages[1]) and "第2次提醒" in str(mail.messages[1]["Subject"])

    # Nobody is left after the admin: the alert is marked exhausted, nothing more is sent.
    clock.advance(minutes=10)
    assert _dispatch(engine, settings, clock, http) == 0
    assert len(mail.messages) == 2
    assert _alert(engine, alert.id).status == "exhausted"
    assert len(_events(engine, "alert.exhausted")) == 1
    clock.advance(hours=2)
    assert _dispatch(engine, settings, clock, http) == 0
    assert len(mail.messages) == 2


# --- acknowledgement ------------------------------------------------------------------


def _two_alerts_for_the_admin_then_wang(engine, school, settings, clock, mail):
    """Two urgent letters; without a rota the admin (a counsellor, first to join) comes first, then Wang."""
    _use_smtp(engine, school, settings, clock, mail)
    wang = _colleague(engine, school, settings, clock, "wang")
    _channel(engine, school, settings, clock, "email", "zhang@yangguang.example.cn", user_id=school.admin.id)
    _channel(engine, school, settings, clock, "email", "wang@yangguang.example.cn", user_id=wang.id)
    first = _submit(engine, school, settings, clock)
    clock.advance(seconds=1)
    second = _submit(engine, school, settings, clock)
    return first, second


def test_the_link_in_the_message_acknowledges_with_a_button_and_stops_escalation(engine, school, settings, clock, http, mail, client):
    first, second = _two_alerts_for_the_admin_then_wang(engine, school, settings, clock, mail)
    assert _dispatch(engine, settings, clock, http) == 2
    assert _recipients(mail) == ["zhang@yangguang.example.cn"] * 2
    [acked, ignored] = [_alerts(engine, first.letter_id)[0], _alerts(engine, second.letter_id)[0]]
    by_letter = {re.search(r"/staff/letters/(\w+)", _body(m)).group(1): _ack_path(_body(m)) for m in mail.messages}
    path = by_letter[first.letter_id]

    # Opening the link (as a chat app's link preview would) only shows a page with a button.
    page = client.get(path)
    assert page.status_code == 200
    assert 'id="acknowledge"' in page.text and f'action="{path}"' in page.text
    assert client.get(path).status_code == 200
    assert _alert(engine, acked.id).acknowledged_at is None

    done = client.post(path, data={"csrf": csrf_from(page.text)})
    assert done.status_code == 200 and 'id="acknowledged"' in done.text
    row = _alert(engine, acked.id)
    assert row.status == "acknowledged" and row.acknowledged_by == school.admin.id
    assert row.acknowledged_at.replace(tzinfo=timezone.utc) == clock.now
    [event_row] = _events(engine, "alert.acknowledged")
    assert (event_row.target_id, event_row.actor_user_id, json.loads(event_row.detail)) == (acked.id, school.admin.id, {"via": "link"})
    # Pressing again changes nothing and logs nothing more.
    assert client.post(path, data={"csrf": csrf_from(page.text)}).status_code == 200
    assert len(_events(engine, "alert.acknowledged")) == 1

    clock.advance(minutes=30)
    assert _dispatch(engine, settings, clock, http) == 1  # only the letter nobody acknowledged goes on, to Wang
    assert _recipients(mail)[2:] == ["wang@yangguang.example.cn"]
    assert f"/staff/letters/{second.letter_id}" in _body(mail.messages[2])
    assert _alert(engine, ignored.id).step == 1
    assert [d.step for d in _deliveries(engine, acked.id)] == [0]
    clock.advance(minutes=30)
    _dispatch(engine, settings, clock, http)
    assert all(f"/staff/letters/{first.letter_id}" not in _body(m) for m in mail.messages[2:])


def test_a_forged_or_expired_acknowledgement_link_is_not_found(engine, school, settings, clock, http, mail, client):
    first, _second = _two_alerts_for_the_admin_then_wang(engine, school, settings, clock, mail)
    _dispatch(engine, settings, clock, http)
    path = _ack_path(_body(mail.messages[0]))
    csrf = csrf_from(client.get(path).text)
    alert_id, delivery_id, expires, signature = path.removeprefix("/ack/").split(".")

    forged_signature = "A" + signature[1:] if signature[0] != "A" else "B" + signature[1:]
    later = str(int(expires) + 3600)
    other_key = ack_token(server_key=b"another server's key", alert_id=alert_id, delivery_id=delivery_id, now=clock.now)
    forgeries = [
        f"/ack/{alert_id}.{delivery_id}.{expires}.{forged_signature}",
        f"/ack/{alert_id}.{delivery_id}.{later}.{signature}",  # a longer life, with the old signature
        f"/ack/{other_key}",
        f"/ack/{alert_id}.{delivery_id}.{expires}",
        "/ack/nonsense",
    ]
    for forged in forgeries:
        assert client.get(forged).status_code == 404, forged
        assert client.post(forged, data={"csrf": csrf}).status_code == 404, forged
    # A well-signed link whose delivery belongs to another alert.
    other_delivery = next(d for d in _deliveries(engine) if d.alert_id != alert_id)
    swapped = ack_token(server_key=settings.secret_key.reveal(), alert_id=alert_id, delivery_id=other_delivery.id, now=clock.now)
    assert client.post(f"/ack/{swapped}", data={"csrf": csrf}).status_code == 404

    clock.advance(hours=48, seconds=1)
    assert client.get(path).status_code == 404
    assert client.post(path, data={"csrf": csrf}).status_code == 404
    assert all(a.acknowledged_at is None for a in _alerts(engine))
    assert _events(engine, "alert.acknowledged") == []


def test_claiming_the_letter_on_the_staff_page_acknowledges_its_alert(engine, school, settings, clock, http, mail, client):
    first, second = _two_alerts_for_the_admin_then_wang(engine, school, settings, clock, mail)
    assert _dispatch(engine, settings, clock, http) == 2
    _login(client)
    letter_page = client.get(f"/staff/letters/{first.letter_id}")
    assert letter_page.status_code == 200 and 'id="claim"' in letter_page.text
    claimed = client.post(
        f"/staff/letters/{first.letter_id}/claim", data={"csrf": csrf_from(letter_page.text)}, follow_redirects=False
    )
    assert claimed.status_code == 303

    [acked] = _alerts(engine, first.letter_id)
    assert acked.status == "acknowledged" and acked.acknowledged_by == school.admin.id
    [event_row] = _events(engine, "alert.acknowledged")
    assert json.loads(event_row.detail) == {"via": "staff page"}

    clock.advance(minutes=30)
    assert _dispatch(engine, settings, clock, http) == 1
    assert _recipients(mail)[2:] == ["wang@yangguang.example.cn"]
    assert f"/staff/letters/{second.letter_id}" in _body(mail.messages[2])


# --- two dispatchers at once ------------------------------------------------------------


@pytest.mark.parametrize("planned_first", [False, True], ids=["racing-from-plan", "racing-to-claim"])
def test_two_dispatchers_racing_send_every_delivery_exactly_once(engine, school, settings, clock, planned_first):
    letters = 20
    with HttpReceiver() as webhook:
        _channel(engine, school, settings, clock, "webhook", webhook.url("/hook"))
        ids = {_submit(engine, school, settings, clock).letter_id for _ in range(letters)}
        alert_ids = {a.id for a in _alerts(engine)}
        assert len(alert_ids) == letters
        if planned_first:
            _call(engine, plan, now=clock.now)
            assert len(_deliveries(engine)) == letters

        barrier = threading.Barrier(2)
        sent: dict[str, int] = {}
        errors: list[BaseException] = []

        def run(worker_id: str) -> None:
            try:
                with httpx.Client(timeout=5) as http:
                    barrier.wait(timeout=10)
                    sent[worker_id] = _dispatch(engine, settings, clock, http, worker_id=worker_id)
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("worker-a", "worker-b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []

        per_alert = Counter(_ack_path(r.json()["ack_url"]).removeprefix("/ack/").split(".")[0] for r in webhook.requests)
        assert set(per_alert) == alert_ids
        assert {alert_id: n for alert_id, n in per_alert.items() if n != 1} == {}
        assert sum(sent.values()) == letters
        assert {urlsplit(r.json()["letter_url"]).path.rsplit("/", 1)[1] for r in webhook.requests} == ids
        deliveries = _deliveries(engine)
        assert len(deliveries) == letters
        assert {d.status for d in deliveries} == {"sent"} and {d.attempts for d in deliveries} == {1}


def test_a_delivery_left_half_sent_by_a_dispatcher_that_died_is_sent_by_another(engine, school, settings, clock, http):
    with HttpReceiver() as webhook:
        _channel(engine, school, settings, clock, "webhook", webhook.url("/hook"))
        _submit(engine, school, settings, clock)
        _call(engine, plan, now=clock.now)
        [taken] = _call(engine, claim, now=clock.now, worker_id="died")  # and then nothing: the process is gone
        assert _dispatch(engine, settings, clock, http, worker_id="alive") == 0
        clock.advance(seconds=CLAIM_TIMEOUT.total_seconds())
        assert _dispatch(engine, settings, clock, http, worker_id="alive") == 0  # not a moment too early
        clock.advance(seconds=1)
        assert _dispatch(engine, settings, clock, http, worker_id="alive") == 1
        assert len(webhook.requests) == 1
        [delivery] = _deliveries(engine)
        assert (delivery.id, delivery.status, delivery.attempts) == (taken, "sent", 1)


# --- letters home and the child's side -----------------------------------------------------


def test_a_letter_home_that_screens_urgent_is_held_and_sealed_for_the_counsellors_too(engine, school, settings, clock):
    receipt = _submit(
        engine, school, settings, clock, kind="parent", text="妈妈，" + URGENT_NOTE,
        sender_name="小红", sender_class="四(1)班", addressed_to="mother",
    )
    assert receipt.level == 3
    with Session(engine) as session:
        letter = session.get(Letter, receipt.letter_id)
        assert letter.held is True and letter.kind == "parent"
        wraps = session.exec(select(ContentKeyWrap).where(ContentKeyWrap.record_id == receipt.letter_id)).all()
        assert sorted(w.recipient_type for w in wraps) == ["audience", "audience", "pickup"]
        full = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    assert len(_alerts(engine, receipt.letter_id)) == 1

    counsellors_only = Keyring(
        school_id=full.school_id,
        keys={full.names["counsellors"]: full.keypair("counsellors")},
        names={"counsellors": full.names["counsellors"]},
    )
    opened = _call(
        engine, open_letter, school=school.school, keyring=counsellors_only, letter_id=receipt.letter_id,
        actor_user_id=school.admin.id, clock=clock,
    )
    assert (opened.text, opened.sender_name, opened.sender_class) == ("妈妈，" + URGENT_NOTE, "小红", "四(1)班")

    # A routine letter home stays with the teachers alone, and is not held.
    routine = _submit(
        engine, school, settings, clock, kind="parent", text="妈妈我想你", sender_name="小红", sender_class="四(1)班",
        addressed_to="mother",
    )
    with Session(engine) as session:
        assert session.get(Letter, routine.letter_id).held is False
    with pytest.raises(KeysLocked):
        _call(
            engine, open_letter, school=school.school, keyring=counsellors_only, letter_id=routine.letter_id,
            actor_user_id=school.admin.id, clock=clock,
        )


def _write_whisper(client, school, text: str, **fields):
    slug = school.school.slug
    form = client.get(f"/s/{slug}/write/whisper").text
    submission = re.search(r'name="submission" value="([^"]+)"', form).group(1)
    data = {"csrf": csrf_from(form), "submission": submission, "text": text, "sender_name": "", "sender_class": "", **fields}
    return client.post(f"/s/{slug}/write/whisper", data=data)


def _safety_numbers(html: str) -> str:
    section = re.search(r'<section class="safety" id="safety".*?</section>', html, flags=re.S)
    assert section, "no safety message"
    return page_text(section.group(0))


def test_the_child_sees_the_safety_message_and_may_leave_a_name_which_is_sealed_into_the_letter(engine, school, client, clock):
    sent = _write_whisper(client, school, URGENT_NOTE)
    assert sent.status_code == 200
    numbers = _safety_numbers(sent.text)
    for number in ("110", "120", "12356", "12355"):
        assert number in numbers
    assert 'id="identify"' in sent.text
    [letter_id] = [a.letter_id for a in _alerts(engine)]
    assert _alerts(engine)[0].source == "web"

    identify = re.search(r'<form[^>]*id="identify".*?</form>', sent.text, flags=re.S).group(0)
    code = re.search(r'name="code" value="(\d+)"', identify).group(1)
    named = client.post(
        f"/s/{school.school.slug}/identify",
        data={"csrf": csrf_from(identify), "code": code, "sender_name": "小兰", "sender_class": "五(1)班"},
    )
    assert named.status_code == 200
    assert 'id="safety"' in named.text
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        assert letter.sender_name is not None and "小兰".encode() not in letter.sender_name  # sealed, not stored as text
    assert len(_events(engine, "letter.identified")) == 1

    _login(client)
    page = client.get(f"/staff/letters/{letter_id}")
    assert page.status_code == 200
    sender = re.search(r'<dd id="sender">(.*?)</dd>', page.text, flags=re.S).group(1)
    assert page_text(sender) == "小兰 · 五(1)班"


def test_a_signed_urgent_note_gets_the_safety_message_but_no_identify_form(engine, school, client):
    sent = _write_whisper(client, school, URGENT_NOTE, sender_name="小明", sender_class="三(2)班")
    assert sent.status_code == 200
    assert "12356" in _safety_numbers(sent.text)
    assert 'id="identify"' not in sent.text


def test_a_routine_note_gets_neither_the_safety_message_nor_the_identify_form(engine, school, client):
    sent = _write_whisper(client, school, ROUTINE_NOTE)
    assert sent.status_code == 200
    assert 'id="safety"' not in sent.text and 'id="identify"' not in sent.text
    assert _alerts(engine) == []
