"""Urgent notes on the staff side: acknowledgement links, and the admin's settings page.

The link in an alert opens a page with one button; the button acknowledges.
A link that acknowledged on opening would be "clicked" by the link previews
of chat apps and mail scanners, and escalation would stop with nobody there.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.staff import require_role
from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox.accounts import list_members
from qiaoqiao.mailbox.alerts import acknowledge_by_link, list_alerts, read_ack_token, settings_of
from qiaoqiao.mailbox.channels import add_channel, list_channels, remove_channel, save_alert_settings
from qiaoqiao.mailbox.errors import InvalidInput
from qiaoqiao.mailbox.rota import add_slot, list_slots, remove_slot
from qiaoqiao.mailbox.schools import school_by_id
from qiaoqiao.mailbox.staff import ROLES
from qiaoqiao.mailbox.terms import add_term, list_terms, remove_term


def _ticket(request: Request):
    settings = request.app.state.settings
    return read_ack_token(server_key=settings.secret_key.reveal(), token=request.path_params["token"], now=request.app.state.clock())


async def ack_page(request: Request) -> Response:
    ticket = _ticket(request)
    return render(request, "staff/ack.html", {"done": False, "token": request.path_params["token"], "alert_id": ticket.alert_id})


async def ack(request: Request) -> Response:
    await read_form(request)
    alert = await db_call(
        request, acknowledge_by_link, server_key=request.app.state.settings.secret_key.reveal(),
        token=request.path_params["token"], clock=request.app.state.clock,
    )
    return render(request, "staff/ack.html", {"done": True, "token": "", "alert_id": alert.id})


async def _context(request: Request):
    staff = await require_role(request, "admin")
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def _page(request: Request, school, problem=None, status_code: int = 200) -> Response:
    data = {
        "school": school,
        "settings_row": await db_call(request, lambda session: settings_of(session, school.id)),
        "channels": await db_call(request, list_channels, school=school),
        "slots": await db_call(request, list_slots, school=school),
        "terms": await db_call(request, list_terms, school=school),
        "alerts": await db_call(request, list_alerts, school_id=school.id, limit=50),
        "members": await db_call(request, list_members, school=school),
        "roles": ROLES,
        "problem": problem,
    }
    return render(request, "staff/urgent.html", data, status_code=status_code)


async def page(request: Request) -> Response:
    _staff, school = await _context(request)
    return await _page(request, school)


async def change(request: Request) -> Response:
    """Every form of the page posts here with an ``action``: one place, one audit trail."""
    staff, school = await _context(request)
    form = await read_form(request)
    action = field(form, "action")
    common = {"school": school, "clock": request.app.state.clock, "actor_user_id": staff.user_id}
    key = request.app.state.settings.secret_key.reveal()
    try:
        if action == "settings":
            names = (
                "day_start_hour", "day_end_hour", "ack_minutes_level3", "ack_minutes_level2", "smtp_host", "smtp_port",
                "smtp_security", "smtp_username", "smtp_sender", "police_number", "ambulance_number",
                "counselling_hotline", "youth_hotline",
            )
            await db_call(
                request, save_alert_settings, values={n: field(form, n) for n in names},
                smtp_password=field(form, "smtp_password") or None, server_key=key, **common,
            )
        elif action == "add_channel":
            await db_call(
                request, add_channel, kind=field(form, "kind"), target=field(form, "target"), secret=field(form, "secret"),
                label=field(form, "label"), user_id=field(form, "user_id") or None, server_key=key, **common,
            )
        elif action == "remove_channel":
            await db_call(request, remove_channel, channel_id=field(form, "id"), **common)
        elif action == "add_slot":
            start, end = field(form, "start"), field(form, "end")
            await db_call(
                request, add_slot, user_id=field(form, "user_id"), weekday=int(field(form, "weekday") or -1),
                start_minute=_minutes(start), end_minute=_minutes(end), **common,
            )
        elif action == "remove_slot":
            await db_call(request, remove_slot, slot_id=field(form, "id"), **common)
        elif action == "add_term":
            await db_call(
                request, add_term, phrase=field(form, "phrase"), level=int(field(form, "level") or 0),
                categories=form.getlist("categories"), **common,
            )
        elif action == "remove_term":
            await db_call(request, remove_term, term_id=field(form, "id"), **common)
        else:
            raise InvalidInput("action", "unknown")
    except InvalidInput as exc:
        return await _page(request, school, problem=(exc.field, exc.reason), status_code=400)
    except ValueError:
        return await _page(request, school, problem=("time", "malformed"), status_code=400)
    return RedirectResponse("/staff/admin/urgent", status_code=303)


def _minutes(value: str) -> int:
    """'07:30' → 450; '24:00' allowed as the end of a day."""
    hours, _, minutes = value.partition(":")
    result = int(hours) * 60 + int(minutes or 0)
    if not 0 <= result <= 24 * 60:
        raise ValueError(value)
    return result
