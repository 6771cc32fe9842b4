"""Sending an urgent-letter alert: e-mail, WeCom and DingTalk group robots, a plain webhook.

Pure delivery. An alert says that a letter needs a person, how soon, what kind
of risk, when and where it came in, and where to read and acknowledge it. It
never carries the letter's words: a robot message sits in a group chat and on
phone lock screens, an e-mail in a mailbox the school does not control.

:func:`deliver` either returns or raises :class:`DeliveryFailed`, whose
``retryable`` tells the outbox whether trying the same channel again later can
help. Failure reasons are one short line with no message text, address of a
robot or secret in them, so they can be logged and shown to an administrator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

KINDS = ("email", "wecom", "dingtalk", "webhook")
SECURITIES = ("starttls", "tls", "none")

LEVEL_WORDS = {3: "立即处理", 2: "当天处理"}
CATEGORY_WORDS = {
    "self_harm": "自伤自杀",
    "abuse": "身体虐待",
    "sexual_abuse": "性侵害",
    "bullying": "欺凌",
    "runaway": "出走",
    "neglect": "无人照顾",
    "peer_at_risk": "同伴有危险",
}
_SOURCE_WORDS = {"kiosk": "平板信箱", "poster": "二维码海报", "web": "网页"}  # as the staff pages say

# Robot answers that mean "not now" rather than "never": WeCom -1 (system busy),
# 45009 and 45033 (rate and concurrency limits); DingTalk 130101 (send too fast).
_RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033, 130101})


class DeliveryFailed(Exception):
    """An alert did not reach its channel; ``reason`` is one short, loggable line."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class AlertMessage:
    """What an alert may say about a letter: everything but the letter."""

    school_name: str
    level: int
    categories: tuple[str, ...]
    created_at: datetime
    timezone: str
    source: str
    letter_url: str
    ack_url: str
    escalation: int = 0

    def __post_init__(self) -> None:
        if self.level not in LEVEL_WORDS:
            raise ValueError(f"an alert is for level 2 or 3, not {self.level!r}")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be an aware datetime")
        # A list read back from storage would make the frozen message unhashable.
        object.__setattr__(self, "categories", tuple(self.categories))

    def subject(self) -> str:
        """The e-mail subject line, in Chinese, on one line."""
        words = LEVEL_WORDS[self.level]
        tag = f"紧急·{words}" if self.level == 3 else words
        if self.escalation:
            tag += f"·第{self.escalation + 1}次提醒"
        return f"【{tag}】{_one_line(self.school_name)} 悄悄话信箱：一封需要{words}的信"

    def text(self) -> str:
        """The alert as plain Chinese text, the same for e-mail and robots."""
        words = LEVEL_WORDS[self.level]
        lines = [f"悄悄话信箱收到一封需要{words}的信。"]
        if self.escalation:
            lines.append(f"这是第{self.escalation + 1}次提醒：之前的提醒还没有人确认收到。")
        lines += [
            f"学校：{_one_line(self.school_name)}",
            f"紧急程度：{words}（{self.level}级）",
            f"类别：{self._category_words()}",
            f"收到时间：{self._local_time()}",
            f"来源：{_source_words(self.source)}",
            f"查看信件（需登录）：{_one_line(self.letter_url)}",
            f"确认收到：{_one_line(self.ack_url)}",
            "为保护孩子，提醒里有意不包含信的内容，请登录后查看。",
        ]
        return "\n".join(lines) + "\n"

    def payload(self) -> dict:
        """The body of a generic JSON webhook."""
        return {
            "school": self.school_name,
            "level": self.level,
            "categories": list(self.categories),
            "created_at": self.created_at.astimezone(timezone.utc).isoformat(),
            "source": self.source,
            "letter_url": self.letter_url,
            "ack_url": self.ack_url,
            "escalation": self.escalation,
        }

    def _category_words(self) -> str:
        if not self.categories:
            return "未分类"
        # An unknown code is shown as it is: an alert must never fail over a label.
        return "、".join(CATEGORY_WORDS.get(code, _one_line(code)) for code in self.categories)

    def _local_time(self) -> str:
        try:
            zone = ZoneInfo(self.timezone)
            label = self.timezone
        except (ZoneInfoNotFoundError, ValueError):
            zone, label = timezone.utc, "UTC"
        local = self.created_at.astimezone(zone)
        return f"{local:%Y-%m-%d %H:%M}（{label}）"


@dataclass(frozen=True)
class Channel:
    """Where one alert goes: an e-mail address, or a robot or webhook URL."""

    kind: str
    target: str
    secret: str = ""

    def __repr__(self) -> str:
        # Robot URLs carry their key in the query string: show only where they point.
        shown = self.target if self.kind == "email" else _url_origin(self.target)
        secret = ", secret=<set>" if self.secret else ""
        return f"Channel(kind={self.kind!r}, target={shown!r}{secret})"


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the outgoing mail server."""

    host: str
    port: int
    security: str
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "qiaoqiao@localhost"
    ca_file: str | None = None
    timeout: float = 10.0


def deliver(channel: Channel, message: AlertMessage, *, smtp: SmtpSettings | None, http: httpx.Client) -> None:
    """Send one alert to one channel; raise :class:`DeliveryFailed` if it did not arrive."""
    if channel.kind == "email":
        if smtp is None:
            raise DeliveryFailed("e-mail is not configured", retryable=False)
        _send_email(channel.target, message, smtp)
    elif channel.kind == "wecom":
        _post_robot("wecom", http, channel.target, _robot_body(message))
    elif channel.kind == "dingtalk":
        url = channel.target
        if channel.secret:
            url = dingtalk_signed_url(url, channel.secret, timestamp_ms=int(time.time() * 1000))
        _post_robot("dingtalk", http, url, _robot_body(message))
    elif channel.kind == "webhook":
        _post(http, channel.target, message.payload(), "webhook")
    else:
        raise DeliveryFailed(f"unknown channel kind {channel.kind!r}", retryable=False)


def dingtalk_signed_url(url: str, secret: str, *, timestamp_ms: int) -> str:
    """A DingTalk robot URL with its ``timestamp`` and ``sign`` (HMAC-SHA256) appended."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if urllib.parse.urlsplit(url).query else ("" if url.endswith("?") else "?")
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


def _email(address: str, message: AlertMessage, smtp: SmtpSettings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject()
    mail["From"] = smtp.sender
    mail["To"] = address
    mail["Date"] = formatdate(usegmt=True)
    sender_domain = parseaddr(smtp.sender)[1].rpartition("@")[2]
    mail["Message-ID"] = make_msgid(domain=sender_domain or None)
    # Keeps vacation responders from answering a robot.
    mail["Auto-Submitted"] = "auto-generated"
    if message.level == 3:
        mail["Importance"] = "high"
        mail["X-Priority"] = "1"
    # base64, not 8bit: some school relays still do not speak 8BITMIME.
    mail.set_content(message.text(), charset="utf-8", cte="base64")
    return mail


def _send_email(address: str, message: AlertMessage, smtp: SmtpSettings) -> None:
    if smtp.security not in SECURITIES:
        raise DeliveryFailed(f"unknown SMTP security {smtp.security!r}", retryable=False)
    try:
        mail = _email(address, message, smtp)
    except ValueError:
        raise DeliveryFailed("e-mail address or sender is malformed", retryable=False) from None
    try:
        context = ssl.create_default_context(cafile=smtp.ca_file) if smtp.security != "none" else None
    except OSError:  # ssl.SSLError is one too
        raise DeliveryFailed("SMTP CA file cannot be read", retryable=False) from None
    stage = "connect"
    try:
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                stage = "STARTTLS"
                client.starttls(context=context)
            if smtp.username:
                stage = "login"
                client.login(smtp.username, smtp.password)
            stage = "send"
            client.send_message(mail)
    except smtplib.SMTPRecipientsRefused as error:
        codes = sorted({code for code, _ in error.recipients.values()})
        raise DeliveryFailed(
            f"SMTP refused the recipient ({', '.join(map(str, codes))})",
            retryable=all(400 <= code < 500 for code in codes),
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryFailed(f"SMTP {stage}: not supported by the server", retryable=False) from None
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryFailed(
            f"SMTP login refused ({error.smtp_code})", retryable=400 <= error.smtp_code < 500
        ) from None
    except smtplib.SMTPResponseException as error:
        raise DeliveryFailed(
            f"SMTP {stage} refused ({error.smtp_code})", retryable=not 500 <= error.smtp_code < 600
        ) from None
    except smtplib.SMTPException as error:
        raise DeliveryFailed(f"SMTP {stage} failed ({type(error).__name__})") from None
    except ssl.SSLCertVerificationError as error:
        # A certificate that does not check out is a configuration problem, not a blip.
        raise DeliveryFailed(
            f"SMTP server certificate not trusted ({error.verify_message})", retryable=False
        ) from None
    except UnicodeError:
        # A non-ASCII password or address the server cannot take: retrying will not help.
        raise DeliveryFailed(f"SMTP {stage}: text the server cannot take", retryable=False) from None
    except OSError as error:
        raise DeliveryFailed(f"SMTP {stage} failed ({type(error).__name__})") from None


def _robot_body(message: AlertMessage) -> dict:
    return {"msgtype": "text", "text": {"content": message.text()}}


def _post_robot(kind: str, http: httpx.Client, url: str, body: dict) -> None:
    response = _post(http, url, body, kind)
    # Both robots answer 200 to almost everything; the verdict is in the body.
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryFailed(f"{kind} robot gave an answer that is not JSON") from None
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if errcode == 0:
        return
    if errcode is None:
        raise DeliveryFailed(f"{kind} robot answered without an errcode")
    errmsg = _one_line(str(answer.get("errmsg", "")))[:120]
    raise DeliveryFailed(
        f"{kind} robot refused: errcode {errcode} {errmsg}".rstrip(),
        retryable=errcode in _RETRYABLE_ERRCODES,
    )


def _post(http: httpx.Client, url: str, body: dict, kind: str) -> httpx.Response:
    # httpx errors carry the request, and with it the URL and its key: never chained.
    try:
        response = http.post(url, json=body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise DeliveryFailed(f"{kind} URL is not a usable http(s) URL", retryable=False) from None
    except httpx.TimeoutException as error:
        raise DeliveryFailed(f"{kind} timed out ({type(error).__name__})") from None
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{kind} connection failed ({type(error).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    raise DeliveryFailed(f"{kind} answered HTTP {status}", retryable=status == 429 or status >= 500)


def _one_line(value: str) -> str:
    # Names and labels come from configuration; a stray newline must not forge a line.
    return " ".join(value.split())


def _source_words(source: str) -> str:
    kind, colon, place = source.partition(":")
    words = _SOURCE_WORDS.get(kind.strip())
    if words is None:
        return _one_line(source)
    return f"{words}：{_one_line(place)}" if colon and place.strip() else words


def _url_origin(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    if not parts.scheme or not parts.hostname:
        return "…"
    return f"{parts.scheme}://{parts.hostname}{port}/…"
