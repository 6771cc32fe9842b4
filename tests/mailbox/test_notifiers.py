"""Alert delivery against real servers on 127.0.0.1: SMTP (plain, STARTTLS, TLS) and HTTP robots."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from receivers import HttpReceiver, MailReceiver, Reply, make_certificate, unused_port

from qiaoqiao.mailbox.notifiers import (
    AlertMessage,
    Channel,
    DeliveryFailed,
    SmtpSettings,
    deliver,
    dingtalk_signed_url,
)

LETTER_TEXT = "我不想活了，今晚就把药吃了"  # never given to the notifier: a sanity check
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
USERS = {"counsellor": "right horse battery"}


def alert(**changes) -> AlertMessage:
    values = dict(
        school_name="阳光小学",
        level=3,
        categories=("self_harm", "peer_at_risk"),
        created_at=datetime(2026, 11, 25, 2, 30, tzinfo=timezone.utc),
        timezone="Asia/Shanghai",
        source="kiosk: 教学楼一楼",
        letter_url="https://xx.example.cn/staff/letters/42",
        ack_url="https://xx.example.cn/ack/v1.Zm9v.YmFy",
    )
    return AlertMessage(**{**values, **changes})


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def http():
    with httpx.Client(timeout=2.0) as client:
        yield client


@pytest.fixture
def receiver():
    with HttpReceiver() as server:
        yield server


def smtp_for(mail: MailReceiver, security: str, **changes) -> SmtpSettings:
    ca_file = str(mail.certificate.ca_file) if mail.certificate else None
    values = dict(host="127.0.0.1", port=mail.port, security=security, ca_file=ca_file, timeout=3.0)
    return SmtpSettings(**{**values, **changes})


def raw_mail(mail: MailReceiver) -> str:
    return mail.envelopes[-1].original_content.decode("ascii")


# --- what an alert says -------------------------------------------------------


def test_an_alert_has_no_field_for_the_letter():
    # Adding a field here (an excerpt, a name, a class) must be a deliberate change.
    assert [f.name for f in dataclasses.fields(AlertMessage)] == [
        "school_name", "level", "categories", "created_at", "timezone",
        "source", "letter_url", "ack_url", "escalation",
    ]


def test_the_text_says_exactly_this_and_nothing_more():
    assert alert().text() == (
        "悄悄话信箱收到一封需要立即处理的信。\n"
        "学校：阳光小学\n"
        "紧急程度：立即处理（3级）\n"
        "类别：自伤自杀、同伴有危险\n"
        "收到时间：2026-11-25 10:30（Asia/Shanghai）\n"
        "来源：平板信箱：教学楼一楼\n"
        "查看信件（需登录）：https://xx.example.cn/staff/letters/42\n"
        "确认收到：https://xx.example.cn/ack/v1.Zm9v.YmFy\n"
        "为保护孩子，提醒里有意不包含信的内容，请登录后查看。\n"
    )
    assert alert().subject() == "【紧急·立即处理】阳光小学 悄悄话信箱：一封需要立即处理的信"
    assert alert(categories=["bullying"]).categories == ("bullying",)


def test_same_day_letters_and_escalations_say_so():
    message = alert(level=2, categories=("bullying",), source="poster: 宿舍二楼", escalation=1)
    assert message.subject() == "【当天处理·第2次提醒】阳光小学 悄悄话信箱：一封需要当天处理的信"
    text = message.text()
    assert "紧急程度：当天处理（2级）" in text
    assert "这是第2次提醒：之前的提醒还没有人确认收到。" in text
    assert "类别：欺凌" in text and "来源：二维码海报：宿舍二楼" in text


def test_every_category_has_chinese_words_and_unknown_codes_still_send():
    codes = ("self_harm", "abuse", "sexual_abuse", "bullying", "runaway", "neglect", "peer_at_risk")
    assert "类别：自伤自杀、身体虐待、性侵害、欺凌、出走、无人照顾、同伴有危险\n" in alert(categories=codes).text()
    assert "类别：未分类" in alert(categories=()).text()
    assert "类别：欺凌、new_code" in alert(categories=("bullying", "new_code")).text()


def test_time_is_shown_in_the_school_zone_and_sent_as_utc():
    beijing = timezone(timedelta(hours=8))
    message = alert(created_at=datetime(2026, 11, 25, 23, 5, tzinfo=beijing), source="web")
    assert "收到时间：2026-11-25 23:05（Asia/Shanghai）" in message.text()
    assert "来源：网页" in message.text()
    assert "收到时间：2026-11-25 15:05（UTC）" in alert(
        created_at=message.created_at, timezone="Mars/Olympus"
    ).text()
    assert message.payload() == {
        "school": "阳光小学",
        "level": 3,
        "categories": ["self_harm", "peer_at_risk"],
        "created_at": "2026-11-25T15:05:00+00:00",
        "source": "web",
        "letter_url": "https://xx.example.cn/staff/letters/42",
        "ack_url": "https://xx.example.cn/ack/v1.Zm9v.YmFy",
        "escalation": 0,
    }


def test_an_alert_refuses_a_routine_level_or_a_naive_time():
    with pytest.raises(ValueError):
        alert(level=1)
    with pytest.raises(ValueError):
        alert(created_at=datetime(2026, 11, 25, 2, 30))


def test_a_configured_name_cannot_add_lines():
    message = alert(school_name="阳光\n小学\r\n来源：伪造", source="kiosk: 一楼\n确认收到：https://evil")
    assert "\n" not in message.subject()
    assert len(message.text().splitlines()) == len(alert().text().splitlines())


def test_reprs_hide_secrets_and_robot_keys():
    robot = Channel("dingtalk", f"https://oapi.dingtalk.com/robot/send?access_token={ROBOT_KEY}", DINGTALK_SECRET)
    assert ROBOT_KEY not in repr(robot) and DINGTALK_SECRET not in repr(robot)
    assert "oapi.dingtalk.com" in repr(robot)
    wecom = Channel("wecom", f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}")
    assert ROBOT_KEY not in repr(wecom) and ROBOT_KEY not in str(wecom)
    assert ROBOT_KEY not in repr(Channel("webhook", f"https://hooks.example.cn/{ROBOT_KEY}"))
    assert "counsellor@school.cn" in repr(Channel("email", "counsellor@school.cn"))
    settings = SmtpSettings("smtp.example.cn", 587, "starttls", "counsellor", "right horse battery")
    assert "right horse battery" not in repr(settings) and "counsellor" in repr(settings)


def test_dingtalk_signing_follows_the_documented_scheme():
    robot = "https://oapi.dingtalk.com/robot/send?access_token=t"
    url = dingtalk_signed_url(robot, "SECabc", timestamp_ms=1700000000000)
    expected = base64.b64encode(hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()).decode()
    assert url == (
        f"{robot}&timestamp=1700000000000&sign="
        + expected.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    )
    assert dingtalk_signed_url("http://h/robot", "s", timestamp_ms=1).startswith("http://h/robot?timestamp=1&sign=")


# --- e-mail ---------------------------------------------------------------------


def test_email_arrives_in_chinese_with_links_and_without_the_letter(http):
    with MailReceiver() as mail:
        deliver(Channel("email", "duty@school.cn"), alert(), smtp=smtp_for(mail, "none"), http=http)
        [received] = mail.messages
        assert mail.envelopes[0].rcpt_tos == ["duty@school.cn"]
        raw = raw_mail(mail)
    assert "=?utf-8?" in raw  # the Chinese subject is RFC 2047 encoded, the raw mail is ASCII
    assert received["Subject"] == alert().subject()
    assert received["To"] == "duty@school.cn" and received["From"] == "qiaoqiao@localhost"
    assert received["Auto-Submitted"] == "auto-generated"
    body = received.get_content()
    assert body == alert().text()
    assert "阳光小学" in body and alert().letter_url in body and alert().ack_url in body
    assert LETTER_TEXT not in body and LETTER_TEXT not in raw


def test_email_over_starttls_with_auth_login(http, certificate):
    with MailReceiver(tls="starttls", certificate=certificate, users=USERS) as mail:
        settings = smtp_for(mail, "starttls", username="counsellor", password=USERS["counsellor"])
        deliver(Channel("email", "duty@school.cn"), alert(escalation=2), smtp=settings, http=http)
        # The server refuses MAIL before STARTTLS and AUTH outside TLS, so arriving proves both.
        assert mail.logins == [("LOGIN", "counsellor", True)]
        [received] = mail.messages
    assert received["Subject"] == alert(escalation=2).subject()
    assert "第3次提醒" in received.get_content()


# aiosmtpd warns about AUTH without STARTTLS; on an implicit-TLS port that is the point.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_over_implicit_tls(http, certificate):
    with MailReceiver(tls="tls", certificate=certificate, users=USERS) as mail:
        settings = smtp_for(mail, "tls", username="counsellor", password=USERS["counsellor"])
        deliver(Channel("email", "duty@school.cn"), alert(), smtp=settings, http=http)
        assert mail.logins == [("LOGIN", "counsellor", True)]
        assert mail.messages[0]["Subject"] == alert().subject()


def test_a_wrong_smtp_password_fails_without_saying_it(http, certificate):
    with MailReceiver(tls="starttls", certificate=certificate, users=USERS) as mail:
        settings = smtp_for(mail, "starttls", username="counsellor", password="wrong pony")
        with pytest.raises(DeliveryFailed) as failed:
            deliver(Channel("email", "duty@school.cn"), alert(), smtp=settings, http=http)
        assert mail.envelopes == []
    assert not failed.value.retryable
    assert "535" in failed.value.reason and "wrong pony" not in str(failed.value)


def test_an_untrusted_certificate_is_refused(http, certificate):
    with MailReceiver(tls="starttls", certificate=certificate) as mail:
        with pytest.raises(DeliveryFailed) as failed:
            settings = smtp_for(mail, "starttls", ca_file=None)  # the system store does not know our CA
            deliver(Channel("email", "d@school.cn"), alert(), smtp=settings, http=http)
        assert mail.envelopes == []
    assert not failed.value.retryable and "certificate" in failed.value.reason


def test_smtp_connection_refused_is_retryable(http):
    settings = SmtpSettings("127.0.0.1", unused_port(), "none", timeout=2.0)
    with pytest.raises(DeliveryFailed) as failed:
        deliver(Channel("email", "d@school.cn"), alert(), smtp=settings, http=http)
    assert failed.value.retryable


@pytest.mark.parametrize(
    ("address", "settings"),
    [
        ("d@school.cn", None),
        ("d@school.cn\nBcc: all@school.cn", SmtpSettings("127.0.0.1", 25, "none")),
        ("d@school.cn", SmtpSettings("127.0.0.1", 25, "starttls", ca_file="/nonexistent/ca.pem")),
        ("d@school.cn", SmtpSettings("127.0.0.1", 25, "ssl")),
    ],
)
def test_email_that_can_never_work_is_not_retryable(http, address, settings):
    with pytest.raises(DeliveryFailed) as failed:
        deliver(Channel("email", address), alert(), smtp=settings, http=http)
    assert not failed.value.retryable


# --- robots and webhooks ----------------------------------------------------------


def test_wecom_gets_a_text_message(receiver, http):
    url = receiver.url(f"/cgi-bin/webhook/send?key={ROBOT_KEY}")
    deliver(Channel("wecom", url), alert(), smtp=None, http=http)
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": [ROBOT_KEY]}
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"msgtype": "text", "text": {"content": alert().text()}}


def test_dingtalk_is_signed_with_the_robot_secret(receiver, http):
    before = int(time.time() * 1000)
    url = receiver.url(f"/robot/send?access_token={ROBOT_KEY}")
    deliver(Channel("dingtalk", url, DINGTALK_SECRET), alert(), smtp=None, http=http)
    [request] = receiver.requests
    assert request.json() == {"msgtype": "text", "text": {"content": alert().text()}}
    assert request.query["access_token"] == [ROBOT_KEY]
    [timestamp], [sign] = request.query["timestamp"], request.query["sign"]
    assert before <= int(timestamp) <= int(time.time() * 1000)
    expected = hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256)
    assert sign == base64.b64encode(expected.digest()).decode()


def test_dingtalk_without_a_secret_is_sent_unsigned(receiver, http):
    deliver(Channel("dingtalk", receiver.url("/robot/send?access_token=t")), alert(), smtp=None, http=http)
    assert receiver.requests[0].query == {"access_token": ["t"]}


def test_a_generic_webhook_gets_the_payload(receiver, http):
    receiver.reply(Reply(204, b""))
    deliver(Channel("webhook", receiver.url("/hooks/qiaoqiao")), alert(escalation=1), smtp=None, http=http)
    assert receiver.requests[0].json() == alert(escalation=1).payload()


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "webhook"])
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (400, False)])
def test_http_errors(receiver, http, kind, status, retryable):
    receiver.reply(Reply(status, {"error": "no"}))
    channel = Channel(kind, receiver.url(f"/send?key={ROBOT_KEY}"), DINGTALK_SECRET if kind == "dingtalk" else "")
    with pytest.raises(DeliveryFailed) as failed:
        deliver(channel, alert(), smtp=None, http=http)
    assert failed.value.retryable is retryable
    assert str(status) in failed.value.reason
    assert ROBOT_KEY not in failed.value.reason and DINGTALK_SECRET not in failed.value.reason


@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
def test_a_robot_error_code_in_a_200_is_a_failure(receiver, http, kind):
    receiver.reply(Reply(200, {"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc]"}))
    with pytest.raises(DeliveryFailed) as failed:
        deliver(Channel(kind, receiver.url(f"/send?key={ROBOT_KEY}"), "SECx"), alert(), smtp=None, http=http)
    assert "310000" in failed.value.reason and "sign not match" in failed.value.reason
    assert not failed.value.retryable and ROBOT_KEY not in failed.value.reason


@pytest.mark.parametrize(("body", "retryable"), [
    ({"errcode": 130101, "errmsg": "send too fast"}, True),
    ({"errcode": 45009, "errmsg": "api freq out of limit"}, True),
    ({"errcode": 93000, "errmsg": "invalid webhook url"}, False),
    ({"ok": True}, True),
    (b"<html>captive portal</html>", True),
])
def test_robot_answers_that_are_not_a_clear_yes(receiver, http, body, retryable):
    receiver.reply(Reply(200, body))
    with pytest.raises(DeliveryFailed) as failed:
        deliver(Channel("wecom", receiver.url("/send")), alert(), smtp=None, http=http)
    assert failed.value.retryable is retryable


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "webhook"])
def test_connection_refused_is_retryable(http, kind):
    url = f"http://127.0.0.1:{unused_port()}/send?key={ROBOT_KEY}"
    with pytest.raises(DeliveryFailed) as failed:
        deliver(Channel(kind, url, "SECx"), alert(), smtp=None, http=http)
    assert failed.value.retryable and ROBOT_KEY not in failed.value.reason
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_a_timeout_is_retryable(receiver):
    receiver.reply(Reply(200, delay=1.0))
    with httpx.Client(timeout=0.2) as impatient:
        with pytest.raises(DeliveryFailed) as failed:
            deliver(Channel("wecom", receiver.url("/send")), alert(), smtp=None, http=impatient)
    assert failed.value.retryable and "timed out" in failed.value.reason


@pytest.mark.parametrize(
    "channel", [Channel("sms", "+8613800000000"), Channel("webhook", "ftp://h/x"), Channel("wecom", "not a url")]
)
def test_channels_that_can_never_work_are_not_retryable(http, channel):
    with pytest.raises(DeliveryFailed) as failed:
        deliver(channel, alert(), smtp=None, http=http)
    assert not failed.value.retryable
