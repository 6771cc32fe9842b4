"""The admin's pages for the ways in: kiosks and QR posters."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qiaoqiao.intake.qr import qr_png, qr_svg
from qiaoqiao.intake.staff import require_role
from qiaoqiao.intake.web import db_call, field, public_base, read_form, render
from qiaoqiao.mailbox.errors import InvalidInput
from qiaoqiao.mailbox.schools import school_by_id
from qiaoqiao.mailbox.sources import add_kiosk, add_poster, list_kiosks, list_posters, poster_by_id, revoke_kiosk


async def _school(request: Request):
    staff = await require_role(request, "admin")
    return staff, await db_call(request, school_by_id, school_id=staff.school_id)


async def kiosks(request: Request) -> Response:
    staff, school = await _school(request)
    rows = await db_call(request, list_kiosks, school=school)
    return render(request, "staff/kiosks.html", {"school": school, "kiosks": rows, "new_url": None, "error": None})


async def kiosk_add(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    new_url, error = None, None
    try:
        _kiosk, token = await db_call(
            request, add_kiosk, school=school, name=field(form, "name"), clock=request.app.state.clock, actor_user_id=staff.user_id
        )
        new_url = f"{public_base(request)}/k/{token}"
    except InvalidInput as exc:
        error = (exc.field, exc.reason)
    rows = await db_call(request, list_kiosks, school=school)
    return render(request, "staff/kiosks.html", {"school": school, "kiosks": rows, "new_url": new_url, "error": error})


async def kiosk_revoke(request: Request) -> Response:
    staff, school = await _school(request)
    await read_form(request)
    await db_call(
        request, revoke_kiosk, school=school, kiosk_id=request.path_params["kiosk_id"], clock=request.app.state.clock,
        actor_user_id=staff.user_id,
    )
    rows = await db_call(request, list_kiosks, school=school)
    return render(request, "staff/kiosks.html", {"school": school, "kiosks": rows, "new_url": None, "error": None})


async def posters(request: Request) -> Response:
    staff, school = await _school(request)
    rows = await db_call(request, list_posters, school=school)
    return render(request, "staff/posters.html", {"school": school, "posters": rows, "error": None})


async def poster_add(request: Request) -> Response:
    staff, school = await _school(request)
    form = await read_form(request)
    error = None
    try:
        await db_call(
            request, add_poster, school=school, label=field(form, "label"), clock=request.app.state.clock, actor_user_id=staff.user_id
        )
    except InvalidInput as exc:
        error = (exc.field, exc.reason)
    rows = await db_call(request, list_posters, school=school)
    return render(request, "staff/posters.html", {"school": school, "posters": rows, "error": error}, status_code=400 if error else 200)


async def _poster(request: Request):
    _staff, school = await _school(request)
    poster = await db_call(request, poster_by_id, school=school, poster_id=request.path_params["poster_id"])
    return school, poster, f"{public_base(request)}/p/{poster.code}"


async def poster_page(request: Request) -> Response:
    """The printable A4 poster: a large QR code and a few words for a child."""
    school, poster, url = await _poster(request)
    return render(request, "staff/poster.html", {"school": school, "poster": poster, "url": url, "qr": qr_svg(url)})


async def poster_png(request: Request) -> Response:
    _school_row, poster, url = await _poster(request)
    return Response(qr_png(url), media_type="image/png", headers={"Content-Disposition": f'inline; filename="poster-{poster.code}.png"'})


async def poster_svg(request: Request) -> Response:
    _school_row, poster, url = await _poster(request)
    return Response(qr_svg(url), media_type="image/svg+xml", headers={"Content-Disposition": f'inline; filename="poster-{poster.code}.svg"'})
