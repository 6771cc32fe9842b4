"""Errors once: every domain error and every failure becomes a page here.

A child never sees a stack trace or an English error; a staff member sees a
plain sentence. Nothing about the request body is logged.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.staff import LoginRequired
from qiaoqiao.intake.web import CsrfRejected, FormTooLarge, render
from qiaoqiao.mailbox.errors import Forbidden, KeysLocked, NotFound

log = logging.getLogger("qiaoqiao")


def _page(request: Request, status: int, reason: str) -> Response:
    path = request.url.path
    audience = "staff" if path.startswith(("/staff", "/ack")) else "child"
    return render(request, f"{audience}/error.html", {"reason": reason, "status": status}, status_code=status)


async def not_found(request: Request, exc: Exception) -> Response:
    return _page(request, 404, "not_found")


async def forbidden(request: Request, exc: Exception) -> Response:
    return _page(request, 403, "forbidden")


async def csrf_rejected(request: Request, exc: Exception) -> Response:
    return _page(request, 403, "csrf")


async def too_large(request: Request, exc: Exception) -> Response:
    return _page(request, 413, "too_large")


async def login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/staff/login?expired=1", status_code=303)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return _page(request, exc.status_code, "not_found" if exc.status_code == 404 else "error")


async def database_error(request: Request, exc: Exception) -> Response:
    # The type only: the statement could carry parameters, and those are sealed
    # blobs at best and a child's words at worst.
    log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return _page(request, 503, "unavailable")


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return _page(request, 500, "error")


HANDLERS = {
    NotFound: not_found,
    Forbidden: forbidden,
    KeysLocked: forbidden,
    CsrfRejected: csrf_rejected,
    FormTooLarge: too_large,
    LoginRequired: login_required,
    HTTPException: http_error,
    SQLAlchemyError: database_error,
    Exception: server_error,
}
