"""The page where counsellors keep the school's reply openings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.staff import require_role
from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox.errors import InvalidInput
from qiaoqiao.mailbox.reply_templates import delete_template, list_templates, save_template
from qiaoqiao.mailbox.schools import school_by_id


async def _context(request: Request):
    staff = await require_role(request, "admin", "counsellor")
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def _page(request: Request, school, problem=None, status_code: int = 200) -> Response:
    rows = await db_call(request, list_templates, school=school, clock=request.app.state.clock)
    return render(request, "staff/templates.html", {"school": school, "templates": rows, "problem": problem}, status_code=status_code)


async def templates(request: Request) -> Response:
    _staff, school = await _context(request)
    return await _page(request, school)


async def save(request: Request) -> Response:
    staff, school = await _context(request)
    form = await read_form(request)
    try:
        await db_call(
            request, save_template, school=school, template_id=field(form, "id") or None, title=field(form, "title"),
            body=field(form, "body"), clock=request.app.state.clock, actor_user_id=staff.user_id,
        )
    except InvalidInput as exc:
        return await _page(request, school, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse("/staff/templates", status_code=303)


async def delete(request: Request) -> Response:
    staff, school = await _context(request)
    await read_form(request)
    await db_call(
        request, delete_template, school=school, template_id=request.path_params["template_id"],
        clock=request.app.state.clock, actor_user_id=staff.user_id,
    )
    return RedirectResponse("/staff/templates", status_code=303)
