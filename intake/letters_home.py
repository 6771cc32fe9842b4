"""The class teacher's letters home: forward with a link, an access code, a QR code, a print."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.qr import qr_png, qr_svg
from qiaoqiao.intake.staff import require_role, require_staff
from qiaoqiao.intake.web import db_call, field, public_base, read_form, render
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput
from qiaoqiao.mailbox.forwarding import forward, letters_home, match_by_hand, release, revoke
from qiaoqiao.mailbox.roster import students_of
from qiaoqiao.mailbox.letters import open_letter
from qiaoqiao.mailbox.schools import school_by_id


async def _context(request: Request):
    staff = await require_staff(request)
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def page(request: Request, problem=None, status_code=200) -> Response:
    staff, school = await _context(request)
    rows = await db_call(request, letters_home, school=school, keyring=staff.keyring, user_id=staff.user_id, roles=staff.roles)
    # The roster is opened only when a letter waits to be matched by hand.
    unmatched = any(row.letter.class_id and not row.letter.student_id for row in rows)
    children = (
        await db_call(request, students_of, school=school, keyring=staff.keyring, user_id=staff.user_id, roles=staff.roles)
        if unmatched
        else []
    )
    return render(
        request, "staff/letters_home.html", {"school": school, "rows": rows, "children": children, "problem": problem},
        status_code=status_code,
    )


async def match(request: Request) -> Response:
    staff, school = await _context(request)
    form = await read_form(request)
    try:
        await db_call(
            request, match_by_hand, school=school, letter_id=request.path_params["letter_id"], student_id=field(form, "student_id"),
            user_id=staff.user_id, roles=staff.roles, clock=request.app.state.clock,
        )
    except InvalidInput:
        return await page(request, problem=("student", "unknown"), status_code=400)
    return RedirectResponse("/staff/letters-home", status_code=303)


async def forward_letter(request: Request) -> Response:
    staff, school = await _context(request)
    await read_form(request)
    letter_id = request.path_params["letter_id"]
    try:
        forwarded = await db_call(
            request, forward, school=school, keyring=staff.keyring, letter_id=letter_id, user_id=staff.user_id,
            roles=staff.roles, clock=request.app.state.clock,
        )
    except Forbidden as exc:
        if str(exc) == "held":
            return await page(request, problem=("letter", "held"), status_code=409)
        raise
    opened = await db_call(
        request, open_letter, school=school, keyring=staff.keyring, letter_id=letter_id, actor_user_id=staff.user_id,
        clock=request.app.state.clock,
    )
    url = f"{public_base(request)}/f/{forwarded.secret}"
    png = base64.b64encode(qr_png(url)).decode()
    return render(
        request, "staff/forwarded.html",
        {
            "school": school, "opened": opened, "url": url, "code": forwarded.access_code, "expires_at": forwarded.link.expires_at,
            "qr_svg": qr_svg(url), "qr_png": png,
        },
    )


async def release_letter(request: Request) -> Response:
    staff = await require_role(request, "counsellor")
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    await read_form(request)
    await db_call(
        request, release, school=school, keyring=staff.keyring, letter_id=request.path_params["letter_id"],
        actor_user_id=staff.user_id, clock=request.app.state.clock,
    )
    return RedirectResponse("/staff/letters-home", status_code=303)


async def revoke_link(request: Request) -> Response:
    staff, school = await _context(request)
    await read_form(request)
    await db_call(
        request, revoke, school=school, link_id=request.path_params["link_id"], user_id=staff.user_id, roles=staff.roles,
        clock=request.app.state.clock,
    )
    return RedirectResponse("/staff/letters-home", status_code=303)
