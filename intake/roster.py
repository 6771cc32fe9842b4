"""The staff pages of the roster: classes, import and export, the family contact log."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.staff import require_role, require_staff
from qiaoqiao.intake.web import check_csrf, db_call, field, read_form, render
from qiaoqiao.mailbox.accounts import list_members
from qiaoqiao.mailbox.contacts import CHANNELS, add_contact, contacts_of, month_overview
from qiaoqiao.mailbox.errors import InvalidInput
from qiaoqiao.mailbox.roster import (
    COLUMNS,
    MAX_UPLOAD,
    apply_import,
    classes_of_teacher,
    export_table,
    preview_import,
    read_table,
    require_class,
    save_class,
    students_of,
    student_view,
    update_student,
)
from qiaoqiao.mailbox.schools import school_by_id

PREVIEW_MINUTES = 15


class PendingImports:
    """Previewed imports waiting for the admin's confirmation, in memory only, for 15 minutes."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str, object]] = {}
        self._lock = threading.Lock()

    def keep(self, user_id: str, preview) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if now - v[0] < PREVIEW_MINUTES * 60}
            self._items[token] = (now, user_id, preview)
        return token

    def take(self, token: str, user_id: str):
        with self._lock:
            item = self._items.pop(token, None)
        if item is None or item[1] != user_id or time.monotonic() - item[0] > PREVIEW_MINUTES * 60:
            return None
        return item[2]


async def _context(request: Request, *roles: str):
    staff = await (require_role(request, *roles) if roles else require_staff(request))
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def _page(request: Request, staff, school, *, preview=None, token="", problem=None, status_code=200) -> Response:
    classes = await db_call(request, classes_of_teacher, school=school, user_id=staff.user_id, roles=staff.roles)
    members = await db_call(request, list_members, school=school)
    return render(
        request, "staff/roster.html",
        {"school": school, "classes": classes, "members": members, "preview": preview, "token": token, "problem": problem},
        status_code=status_code,
    )


async def roster(request: Request) -> Response:
    staff, school = await _context(request)
    return await _page(request, staff, school)


async def save_class_page(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    form = await read_form(request)
    try:
        await db_call(
            request, save_class, school=school, name=field(form, "name"), teacher_user_id=field(form, "teacher_user_id") or None,
            clock=request.app.state.clock, actor_user_id=staff.user_id,
        )
    except InvalidInput as exc:
        return await _page(request, staff, school, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse("/staff/roster", status_code=303)


async def import_preview(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD + 64 * 1024:
        return await _page(request, staff, school, problem=("file", "too_large"), status_code=413)
    form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_UPLOAD + 1)
    check_csrf(request, form)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return await _page(request, staff, school, problem=("file", "empty"), status_code=400)
    data = await upload.read(MAX_UPLOAD + 1)
    try:
        table = read_table(upload.filename or "", data)
        preview = await db_call(request, preview_import, school=school, table=table, sealing=request.app.state.settings.sealing)
    except InvalidInput as exc:
        return await _page(request, staff, school, problem=(exc.field, exc.reason), status_code=400)
    token = request.app.state.imports.keep(staff.user_id, preview) if not preview.problems else ""
    return await _page(request, staff, school, preview=preview, token=token, status_code=200 if not preview.problems else 400)


async def import_confirm(request: Request) -> Response:
    staff, school = await _context(request, "admin")
    form = await read_form(request)
    preview = request.app.state.imports.take(field(form, "token"), staff.user_id)
    if preview is None:
        return await _page(request, staff, school, problem=("file", "expired"), status_code=400)
    await db_call(
        request, apply_import, school=school, preview=preview, sealing=request.app.state.settings.sealing,
        clock=request.app.state.clock, actor_user_id=staff.user_id,
    )
    return RedirectResponse("/staff/roster?imported=1", status_code=303)


async def export(request: Request) -> Response:
    staff, school = await _context(request)
    kind = request.path_params["kind"]
    views = await db_call(request, students_of, school=school, keyring=staff.keyring, user_id=staff.user_id, roles=staff.roles)
    data = export_table(views, kind="xlsx" if kind == "xlsx" else "csv")
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if kind == "xlsx" else "text/csv; charset=utf-8"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="roster-{school.slug}.{kind}"'})


async def class_page(request: Request) -> Response:
    staff, school = await _context(request)
    klass = await db_call(request, require_class, school=school, class_id=request.path_params["class_id"], user_id=staff.user_id, roles=staff.roles)
    rows = await db_call(
        request, month_overview, school=school, keyring=staff.keyring, class_id=klass.id, user_id=staff.user_id,
        roles=staff.roles, clock=request.app.state.clock,
    )
    return render(request, "staff/class.html", {"school": school, "klass": klass, "rows": rows})


async def student_page(request: Request, problem=None, status_code=200) -> Response:
    staff, school = await _context(request)
    student_id = request.path_params["student_id"]
    contacts = await db_call(request, contacts_of, school=school, keyring=staff.keyring, student_id=student_id, user_id=staff.user_id, roles=staff.roles)
    view = await db_call(
        request, student_view, school=school, keyring=staff.keyring, student_id=student_id, user_id=staff.user_id, roles=staff.roles
    )
    return render(
        request, "staff/student.html",
        {"school": school, "view": view, "contacts": contacts, "channels": CHANNELS, "problem": problem, "today": request.app.state.clock().astimezone(ZoneInfo(school.timezone)).date()},
        status_code=status_code,
    )


async def contact(request: Request) -> Response:
    staff, school = await _context(request)
    form = await read_form(request)
    student_id = request.path_params["student_id"]
    try:
        on = date.fromisoformat(field(form, "on"))
    except ValueError:
        return await student_page(request, problem=("date", "malformed"), status_code=400)
    try:
        await db_call(
            request, add_contact, school=school, student_id=student_id, on=on, channel=field(form, "channel"), note=field(form, "note"),
            user_id=staff.user_id, roles=staff.roles, clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        return await student_page(request, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse(f"/staff/students/{student_id}", status_code=303)


async def edit_student(request: Request) -> Response:
    staff, school = await _context(request)
    form = await read_form(request)
    student_id = request.path_params["student_id"]
    view = await db_call(
        request, student_view, school=school, keyring=staff.keyring, student_id=student_id, user_id=staff.user_id, roles=staff.roles
    )
    values = {key: field(form, key) for _, key in COLUMNS}
    values["name"] = view.record.get("name", "")
    try:
        await db_call(
            request, update_student, school=school, student_id=student_id, values=values, user_id=staff.user_id,
            roles=staff.roles, clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        return await student_page(request, problem=(exc.field, exc.reason), status_code=400)
    return RedirectResponse(f"/staff/students/{student_id}", status_code=303)
