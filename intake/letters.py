"""The counsellors' Friday: the queue, one letter, replies, claims, statuses, notes."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.staff import require_role, require_staff
from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox.alerts import acknowledge_letter
from qiaoqiao.mailbox.claims import claim_letter, release_letter, set_status
from qiaoqiao.mailbox.errors import ClaimedByOther, InvalidInput, StaleThread
from qiaoqiao.mailbox.letters import open_letter
from qiaoqiao.mailbox.notes import add_note, list_notes
from qiaoqiao.mailbox.queue import STATUSES, QueueFilters, build_queue, open_mailbox_now
from qiaoqiao.mailbox.reply_templates import list_templates
from qiaoqiao.mailbox.schools import school_by_id
from qiaoqiao.mailbox.threads import reply_as_staff


async def _school(request: Request):
    staff = await require_staff(request)
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


def _filters(request: Request) -> QueueFilters:
    query = request.query_params
    page = query.get("page", "1")
    return QueueFilters(
        kind=query.get("kind", ""),
        status=query.get("status", ""),
        category=query.get("category", ""),
        klass=query.get("class", ""),
        page=int(page) if page.isdigit() else 1,
    )


async def queue(request: Request) -> Response:
    staff, school = await _school(request)
    filters = _filters(request)
    view = await db_call(request, build_queue, school=school, keyring=staff.keyring, filters=filters, clock=request.app.state.clock)
    return render(request, "staff/queue.html", {"school": school, "view": view, "filters": filters.cleaned(), "statuses": STATUSES})


async def open_now(request: Request) -> Response:
    staff = await require_role(request, "counsellor")
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    await read_form(request)
    await db_call(request, open_mailbox_now, school=school, clock=request.app.state.clock, actor_user_id=staff.user_id)
    return RedirectResponse("/staff/", status_code=303)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise InvalidInput("date", "malformed") from None


async def _letter_page(request: Request, staff, school, *, problem=None, draft: str = "", status_code: int = 200) -> Response:
    letter_id = request.path_params["letter_id"]
    clock = request.app.state.clock
    opened = await db_call(
        request, open_letter, school=school, keyring=staff.keyring, letter_id=letter_id, actor_user_id=staff.user_id, clock=clock
    )
    notes = await db_call(request, list_notes, school=school, keyring=staff.keyring, letter_id=letter_id)
    templates = await db_call(request, list_templates, school=school, clock=clock)
    return render(
        request,
        "staff/letter.html",
        {
            "school": school,
            "opened": opened,
            "notes": notes,
            "templates": templates,
            "problem": problem,
            "draft": draft,
            "statuses": STATUSES,
            "mine": opened.letter.claimed_by == staff.user_id,
        },
        status_code=status_code,
    )


async def letter(request: Request) -> Response:
    staff, school = await _school(request)
    return await _letter_page(request, staff, school)


async def reply(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    text = field(form, "text")
    seen = field(form, "version")
    try:
        await db_call(
            request,
            reply_as_staff,
            school=school,
            keyring=staff.keyring,
            letter_id=request.path_params["letter_id"],
            text=text,
            author_kind="counsellor" if "counsellor" in staff.roles else "teacher",
            author_user_id=staff.user_id,
            clock=request.app.state.clock,
            seen_version=int(seen) if seen.isdigit() else None,
            meet_on=_date(field(form, "meet_on")) if field(form, "talk") == "yes" else None,
        )
    except InvalidInput as exc:
        return await _letter_page(request, staff, school, problem=(exc.field, exc.reason), draft=text, status_code=400)
    except StaleThread:
        return await _letter_page(request, staff, school, problem=("thread", "stale"), draft=text, status_code=409)
    except ClaimedByOther:
        return await _letter_page(request, staff, school, problem=("thread", "claimed"), draft=text, status_code=409)
    return RedirectResponse(f"/staff/letters/{request.path_params['letter_id']}#thread", status_code=303)


async def claim(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    letter_id = request.path_params["letter_id"]
    clock = request.app.state.clock
    if field(form, "action") == "release":
        await db_call(request, release_letter, school=school, letter_id=letter_id, user_id=staff.user_id, clock=clock)
    else:
        try:
            await db_call(request, claim_letter, school=school, keyring=staff.keyring, letter_id=letter_id, user_id=staff.user_id, clock=clock)
            # Taking an urgent letter is saying "I'm on it": its alert stops escalating.
            await db_call(request, acknowledge_letter, school_id=school.id, letter_id=letter_id, by_user_id=staff.user_id, clock=clock)
        except ClaimedByOther:
            return await _letter_page(request, staff, school, problem=("thread", "claimed"), status_code=409)
    return RedirectResponse(f"/staff/letters/{letter_id}", status_code=303)


async def status(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    letter_id = request.path_params["letter_id"]
    try:
        await db_call(
            request, set_status, school=school, keyring=staff.keyring, letter_id=letter_id, status=field(form, "status"),
            follow_up_on=_date(field(form, "follow_up_on")), user_id=staff.user_id, clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        return await _letter_page(request, staff, school, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse(f"/staff/letters/{letter_id}", status_code=303)


async def note(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    letter_id = request.path_params["letter_id"]
    try:
        await db_call(
            request, add_note, school=school, keyring=staff.keyring, letter_id=letter_id, text=field(form, "note"),
            author_user_id=staff.user_id, clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        return await _letter_page(request, staff, school, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse(f"/staff/letters/{letter_id}#notes", status_code=303)
