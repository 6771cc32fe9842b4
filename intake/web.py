"""What every handler shares: rendering, the database call, forms and CSRF."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from qiaoqiao.intake import i18n
from qiaoqiao.intake.dates import day_formatter, formatter
from qiaoqiao.intake.pinyin import ruby_for
from qiaoqiao.intake.sessions import COOKIE as STAFF_COOKIE
from qiaoqiao.intake.sessions import StaffSession
from qiaoqiao.mailbox.staff_sessions import check_session

CSRF_COOKIE = "qq_csrf"
CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 64 * 1024

T = TypeVar("T")


class CsrfRejected(Exception):
    """A form arrived without the token this browser was given."""


class FormTooLarge(Exception):
    """A form body larger than any page of ours can produce."""


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (double-submit cookie), minted on first use."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


async def read_form(request: Request) -> FormData:
    """The posted form, after the CSRF check; raises :class:`CsrfRejected`."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormTooLarge()
    form = await request.form(max_files=0, max_fields=50, max_part_size=MAX_FORM_BYTES)
    check_csrf(request, form)
    return form


def check_csrf(request: Request, form: FormData) -> None:
    """The form must carry the token this browser was given (double-submit cookie)."""
    sent = form.get(CSRF_FIELD, "")
    sent = sent if isinstance(sent, str) else ""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()


def field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


async def db_call(request: Request, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one domain function with a fresh database session, off the event loop."""
    engine = request.app.state.engine

    def run() -> T:
        with Session(engine, expire_on_commit=False) as session:
            return fn(session=session, **kwargs)

    return await run_in_threadpool(run)


def keyed(request: Request, value: str) -> str:
    """A keyed hash (server secret) of a value the throttles count by: never stored in clear."""
    secret = request.app.state.settings.secret_key.reveal()
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:40]


def address_of(request: Request) -> str:
    """The keyed hash of where a request came from; used for throttling only."""
    return keyed(request, "address:" + (request.client.host if request.client else "unknown"))


def public_base(request: Request) -> str:
    """The address people use: the configured public URL, else the one this request came to."""
    return request.app.state.settings.public_url or str(request.base_url).rstrip("/")


def locale_of(request: Request) -> str:
    return i18n.pick_locale(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE))


async def staff_of(request: Request) -> StaffSession | None:
    """The live staff session of this request: keys in memory, and a row not revoked or idle."""
    token = request.cookies.get(STAFF_COOKIE)
    kept = request.app.state.sessions.get(token)
    if kept is None:
        return None
    settings = request.app.state.settings
    row = await db_call(
        request, check_session, token=token, idle=timedelta(minutes=settings.session_idle_minutes), clock=request.app.state.clock
    )
    if row is None:
        request.app.state.sessions.drop(token)
        return None
    return kept


def render(request: Request, template: str, context: dict | None = None, *, status_code: int = 200) -> Response:
    """Render a page in the request's language, with the CSRF token at hand."""
    locale = locale_of(request)
    translations = request.app.state.catalogs.get(locale)
    full = {
        "_": translations.gettext,
        "py": ruby_for(locale),
        "lang": i18n.HTML_LANG[locale],
        "locale": locale,
        "csrf_token": csrf_token(request),
        "staff": getattr(request.state, "staff", None),
        "open_alerts": getattr(request.state, "open_alerts", 0),
    }
    full.update(context or {})
    school = full.get("school")
    full["when"] = formatter(locale, school.timezone if school is not None else "Asia/Shanghai")
    full["when_day"] = day_formatter(locale)
    response = request.app.state.templates.TemplateResponse(request, template, full, status_code=status_code)
    finish(request, response)
    return response


def finish(request: Request, response: Response) -> None:
    """Set the cookies a page needs: a new CSRF token, a changed language."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(
            CSRF_COOKIE, new, httponly=True, samesite="strict", secure=request.app.state.settings.secure_cookies
        )
    lang = request.query_params.get("lang")
    if lang:
        # At a shared kiosk the choice lasts only as long as one child's visit.
        kiosk = request.cookies.get("qq_kiosk")
        lifetime = request.app.state.settings.kiosk_idle_seconds if kiosk else 365 * 24 * 3600
        response.set_cookie(i18n.COOKIE, locale_of(request), samesite="lax", max_age=lifetime)
