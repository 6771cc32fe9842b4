"""Staff pages: logging in and out, and the access checks every staff page uses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.sessions import COOKIE, StaffSession
from qiaoqiao.intake.web import address_of, db_call, field, keyed, read_form, render, staff_of
from qiaoqiao.mailbox import throttle
from qiaoqiao.mailbox.alerts import open_alert_count
from qiaoqiao.mailbox.errors import Forbidden, LoginFailed, NotFound
from qiaoqiao.mailbox.schools import list_schools, school_by_slug
from qiaoqiao.mailbox.staff import login, roles_of
from qiaoqiao.mailbox.staff_sessions import end_session, start_session


class LoginRequired(Exception):
    """A staff page was asked for without a live session."""


async def require_staff(request: Request) -> StaffSession:
    session = await staff_of(request)
    if session is None:
        raise LoginRequired()
    request.state.staff = session
    # Every staff page carries the banner while an urgent letter waits for a person.
    request.state.open_alerts = await db_call(request, open_alert_count, school_id=session.school_id)
    return session


async def require_role(request: Request, *roles: str) -> StaffSession:
    """The staff session, if its user holds one of ``roles``; :class:`Forbidden` otherwise."""
    session = await require_staff(request)
    if not set(roles) & session.roles:
        raise Forbidden("role")
    return session


async def login_form(request: Request) -> Response:
    schools = await db_call(request, lambda session: list_schools(session))
    return render(request, "staff/login.html", {"schools": schools, "form": {}, "failed": None})


def _throttle_keys(request: Request, slug: str, username: str) -> list[str]:
    """Failed logins count per account and per (keyed hash of the) address."""
    account = keyed(request, f"account:{slug}:{username.strip().casefold()}")
    return [f"login:user:{account}", f"login:addr:{address_of(request)}"]


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    schools = await db_call(request, lambda session: list_schools(session))
    slug = field(form, "school") or (schools[0].slug if len(schools) == 1 else "")
    values = {"username": field(form, "username"), "school": slug}
    clock = request.app.state.clock
    keys = _throttle_keys(request, slug, values["username"])
    verdicts = [await db_call(request, throttle.verdict, key=key, clock=clock) for key in keys]
    if any(v.refused for v in verdicts):
        return render(request, "staff/login.html", {"schools": schools, "form": values, "failed": "locked"}, status_code=429)
    delay = max(v.delay_seconds for v in verdicts)
    if delay:
        await request.app.state.sleep(delay)
    try:
        school = await db_call(request, school_by_slug, slug=slug)
        unlocked = await db_call(
            request,
            login,
            school_id=school.id,
            username=values["username"],
            passphrase=field(form, "passphrase"),
            kdf=request.app.state.settings.kdf,
            clock=clock,
        )
    except (LoginFailed, NotFound):
        for key in keys:
            await db_call(request, throttle.record_failure, key=key, clock=clock)
        return render(request, "staff/login.html", {"schools": schools, "form": values, "failed": "wrong"}, status_code=400)
    await db_call(request, throttle.record_success, key=keys[0], clock=clock)
    token = await db_call(request, start_session, school_id=school.id, user_id=unlocked.user.id, clock=clock)
    request.app.state.sessions.keep(
        token,
        user_id=unlocked.user.id,
        school_id=school.id,
        username=unlocked.user.username,
        roles=roles_of(unlocked.user),
        keyring=unlocked.keyring,
    )
    response = RedirectResponse("/staff/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.app.state.settings.secure_cookies)
    return response


async def logout(request: Request) -> Response:
    await read_form(request)
    token = request.cookies.get(COOKIE)
    request.app.state.sessions.drop(token)
    if token:
        await db_call(request, end_session, token=token, clock=request.app.state.clock)
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
