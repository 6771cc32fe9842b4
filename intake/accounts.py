"""Staff accounts: the people page, invitation links, key grants, the recovery key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao import crypto
from qiaoqiao.intake.sessions import COOKIE
from qiaoqiao.intake.staff import require_role
from qiaoqiao.intake.web import db_call, field, public_base, read_form, render
from qiaoqiao.mailbox.accounts import (
    accept_invite,
    grant_key,
    invite_user,
    list_members,
    recover_keys,
    reset_user,
    set_disabled,
    user_by_invite,
)
from qiaoqiao.mailbox.errors import InvalidInput, WeakPassphrase
from qiaoqiao.mailbox.schools import school_by_id
from qiaoqiao.mailbox.staff import ROLES


async def _page(request: Request, staff, school, *, link=None, problem=None, form=None, status_code=200) -> Response:
    members = await db_call(request, list_members, school=school)
    return render(
        request,
        "staff/users.html",
        {"school": school, "members": members, "link": link, "problem": problem, "form": form or {}, "roles": ROLES},
        status_code=status_code,
    )


async def _context(request: Request, *roles: str):
    staff = await require_role(request, *roles)
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def users(request: Request) -> Response:
    staff, school = await _context(request, "admin", "counsellor")
    return await _page(request, staff, school)


async def invite(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    form = await read_form(request)
    values = {"username": field(form, "username"), "display_name": field(form, "display_name")}
    roles = {role for role in ROLES if field(form, f"role_{role}") == "yes"}
    try:
        invitation = await db_call(
            request, invite_user, school=school, username=values["username"], display_name=values["display_name"], roles=roles,
            kdf=request.app.state.settings.kdf, clock=request.app.state.clock, actor_user_id=staff.user_id,
        )
    except InvalidInput as exc:
        return await _page(request, staff, school, problem=(exc.field, exc.reason), form=values, status_code=400)
    link = f"{public_base(request)}/staff/invite/{invitation.token}"
    return await _page(request, staff, school, link=(invitation.user.username, link))


async def grant(request: Request) -> Response:
    staff, school = await _context(request, "admin", "counsellor")
    form = await read_form(request)
    audience = field(form, "audience")
    if not staff.keyring.has(audience):
        return await _page(request, staff, school, problem=("audience", "not_held"), status_code=403)
    try:
        await db_call(
            request, grant_key, school=school, keyring=staff.keyring, audience_name=audience,
            user_id=request.path_params["user_id"], clock=request.app.state.clock, actor_user_id=staff.user_id,
        )
    except InvalidInput as exc:
        return await _page(request, staff, school, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse("/staff/admin/users", status_code=303)


async def reset(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    await read_form(request)
    invitation = await db_call(
        request, reset_user, school=school, user_id=request.path_params["user_id"], clock=request.app.state.clock,
        actor_user_id=staff.user_id,
    )
    request.app.state.sessions.drop_user(invitation.user.id)
    link = f"{public_base(request)}/staff/invite/{invitation.token}"
    return await _page(request, staff, school, link=(invitation.user.username, link))


async def disable(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    form = await read_form(request)
    disabled = field(form, "disabled") == "yes"
    user = await db_call(
        request, set_disabled, school=school, user_id=request.path_params["user_id"], disabled=disabled,
        clock=request.app.state.clock, actor_user_id=staff.user_id,
    )
    if disabled:
        request.app.state.sessions.drop_user(user.id)
    return RedirectResponse("/staff/admin/users", status_code=303)


async def invitation_form(request: Request) -> Response:
    user = await db_call(request, user_by_invite, token=request.path_params["token"], clock=request.app.state.clock)
    return render(request, "staff/invite.html", {"invited": user, "problem": None})


async def invitation_accept(request: Request) -> Response:
    form = await read_form(request)
    token = request.path_params["token"]
    passphrase, repeat = field(form, "passphrase"), field(form, "passphrase_repeat")
    clock = request.app.state.clock
    user = await db_call(request, user_by_invite, token=token, clock=clock)
    if passphrase != repeat:
        return render(request, "staff/invite.html", {"invited": user, "problem": ("passphrase", "mismatch")}, status_code=400)
    try:
        await db_call(request, accept_invite, token=token, passphrase=passphrase, kdf=request.app.state.settings.kdf, clock=clock)
    except WeakPassphrase as exc:
        return render(request, "staff/invite.html", {"invited": user, "problem": ("passphrase", exc.reason)}, status_code=400)
    return RedirectResponse("/staff/login?welcome=1", status_code=303)


async def recover_form(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    return render(request, "staff/recover.html", {"school": school, "problem": None, "done": False})


async def recover(request: Request) -> Response:
    """Unlock every audience key of the school into this session with the printed recovery key."""
    staff, school = await _context(request, "admin")
    form = await read_form(request)
    clock = request.app.state.clock
    try:
        keyring = await db_call(
            request, recover_keys, school=school, recovery_key=field(form, "recovery_key"), actor_user_id=staff.user_id, clock=clock
        )
    except crypto.CannotOpen:
        return render(request, "staff/recover.html", {"school": school, "problem": "wrong", "done": False}, status_code=400)
    request.app.state.sessions.add_keys(request.cookies.get(COOKIE), keyring)
    return render(request, "staff/recover.html", {"school": school, "problem": None, "done": True})
