"""The staff pages of the thin path: log in, see the letters, open one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.sessions import COOKIE
from qiaoqiao.intake.web import db_call, field, read_form, render, staff_of
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, LoginFailed, NotFound
from qiaoqiao.mailbox.threads import reply_as_staff
from qiaoqiao.mailbox.letters import list_letters, open_letter
from qiaoqiao.mailbox.schools import list_schools, school_by_id, school_by_slug
from qiaoqiao.mailbox.staff import login, roles_of


class LoginRequired(Exception):
    """A staff page was asked for without a live session."""


def require_staff(request: Request):
    session = staff_of(request)
    if session is None:
        raise LoginRequired()
    request.state.staff = session
    return session


def require_role(request: Request, role: str):
    """The staff session, if its user holds ``role``; :class:`Forbidden` otherwise."""
    session = require_staff(request)
    if role not in session.roles:
        raise Forbidden(role)
    return session


async def login_form(request: Request) -> Response:
    schools = await db_call(request, lambda session: list_schools(session))
    return render(request, "staff/login.html", {"schools": schools, "form": {}, "failed": False})


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    schools = await db_call(request, lambda session: list_schools(session))
    slug = field(form, "school") or (schools[0].slug if len(schools) == 1 else "")
    values = {"username": field(form, "username"), "school": slug}
    try:
        school = await db_call(request, school_by_slug, slug=slug)
        unlocked = await db_call(
            request,
            login,
            school_id=school.id,
            username=values["username"],
            passphrase=field(form, "passphrase"),
            kdf=request.app.state.settings.kdf,
            clock=request.app.state.clock,
        )
    except (LoginFailed, NotFound):
        return render(request, "staff/login.html", {"schools": schools, "form": values, "failed": True}, status_code=400)
    token = request.app.state.sessions.create(
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
    request.app.state.sessions.drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


async def letters(request: Request) -> Response:
    staff = require_staff(request)
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    rows = await db_call(request, list_letters, school=school)
    return render(request, "staff/letters.html", {"school": school, "letters": rows})


async def letter(request: Request) -> Response:
    staff = require_staff(request)
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    opened = await db_call(
        request,
        open_letter,
        school=school,
        keyring=staff.keyring,
        letter_id=request.path_params["letter_id"],
        actor_user_id=staff.user_id,
        clock=request.app.state.clock,
    )
    return render(request, "staff/letter.html", {"school": school, "opened": opened, "problem": None, "draft": ""})


async def reply(request: Request) -> Response:
    staff = require_staff(request)
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    form = await read_form(request)
    letter_id = request.path_params["letter_id"]
    text = field(form, "text")
    problem = None
    try:
        await db_call(
            request,
            reply_as_staff,
            school=school,
            keyring=staff.keyring,
            letter_id=letter_id,
            text=text,
            author_kind="counsellor" if "counsellor" in staff.roles else "teacher",
            author_user_id=staff.user_id,
            clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        problem = (exc.field, exc.reason)
    opened = await db_call(
        request, open_letter, school=school, keyring=staff.keyring, letter_id=letter_id, actor_user_id=staff.user_id,
        clock=request.app.state.clock,
    )
    return render(
        request,
        "staff/letter.html",
        {"school": school, "opened": opened, "problem": problem, "draft": text if problem else ""},
        status_code=400 if problem else 200,
    )
