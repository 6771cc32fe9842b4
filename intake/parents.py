"""The parent's page: a phone far away, Chinese first, large text.

Access code, then the letter, then a reply. Wrong access codes are counted
per link in the database and slowed, then refused for a while.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qiaoqiao import crypto
from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox import throttle
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.forwarding import LinkGone, find_link, open_for_parent, parent_reply


def _key(secret: str) -> str:
    return f"parent:{crypto.link_hash(secret)[:40]}"


async def _live_or_page(request: Request, secret: str):
    try:
        await db_call(request, find_link, secret=secret, clock=request.app.state.clock)
    except LinkGone:
        return render(request, "parent/gone.html", {"unknown": False}, status_code=410)
    except NotFound:
        return render(request, "parent/gone.html", {"unknown": True}, status_code=404)
    return None


async def entry(request: Request) -> Response:
    secret = request.path_params["secret"]
    gone = await _live_or_page(request, secret)
    return gone or render(request, "parent/code.html", {"secret": secret, "problem": None})


async def _open(request: Request, secret: str, code: str, *, reply_text: str = "", sent: bool = False, problem=None, status_code=200):
    clock = request.app.state.clock
    verdict = await db_call(request, throttle.verdict, key=_key(secret), clock=clock)
    if verdict.refused:
        return render(request, "parent/code.html", {"secret": secret, "problem": "refused"}, status_code=429)
    if verdict.delay_seconds:
        await request.app.state.sleep(verdict.delay_seconds)
    try:
        view = await db_call(request, open_for_parent, secret=secret, code=code, clock=clock)
    except InvalidInput:
        await db_call(request, throttle.record_failure, key=_key(secret), clock=clock)
        return render(request, "parent/code.html", {"secret": secret, "problem": "wrong"}, status_code=400)
    await db_call(request, throttle.record_success, key=_key(secret), clock=clock)
    return render(
        request, "parent/letter.html",
        {"secret": secret, "code": code, "view": view, "draft": reply_text, "sent": sent, "problem": problem},
        status_code=status_code,
    )


async def open_letter_page(request: Request) -> Response:
    secret = request.path_params["secret"]
    gone = await _live_or_page(request, secret)
    if gone:
        return gone
    form = await read_form(request)
    return await _open(request, secret, field(form, "code"))


async def reply(request: Request) -> Response:
    secret = request.path_params["secret"]
    gone = await _live_or_page(request, secret)
    if gone:
        return gone
    form = await read_form(request)
    code, text = field(form, "code"), field(form, "text")
    clock = request.app.state.clock
    verdict = await db_call(request, throttle.verdict, key=_key(secret), clock=clock)
    if verdict.refused:
        return render(request, "parent/code.html", {"secret": secret, "problem": "refused"}, status_code=429)
    if verdict.delay_seconds:
        await request.app.state.sleep(verdict.delay_seconds)
    try:
        await db_call(
            request, parent_reply, secret=secret, code=code, text=text, screeners=request.app.state.screeners, clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        if exc.field == "access_code":
            await db_call(request, throttle.record_failure, key=_key(secret), clock=request.app.state.clock)
            return render(request, "parent/code.html", {"secret": secret, "problem": "wrong"}, status_code=400)
        return await _open(request, secret, code, reply_text=text, problem=(exc.field, exc.reason), status_code=400)
    return await _open(request, secret, code, sent=True)
