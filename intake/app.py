"""The app factory: ``create_app(settings)`` builds the whole web app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources

import jinja2
from sqlmodel import Session
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from qiaoqiao.intake import (
    accounts,
    admin,
    child,
    letters,
    letters_home,
    parents,
    reply_templates,
    reports,
    roster,
    setup,
    staff,
    urgent,
)
from qiaoqiao.intake.errors import HANDLERS
from qiaoqiao.intake.headers import SecurityHeaders
from qiaoqiao.intake.i18n import Catalogs
from qiaoqiao.intake.sessions import SessionStore
from qiaoqiao.intake.settings import Settings
from qiaoqiao.mailbox.clock import Clock, system_clock
from qiaoqiao.mailbox.database import make_engine
from qiaoqiao.mailbox.dispatch import DispatchConfig, Dispatcher
from qiaoqiao.mailbox.lexicon import Lexicon
from qiaoqiao.mailbox.schools import any_school
from qiaoqiao.mailbox.screening import Screener, ScreenerCache

_OPEN_BEFORE_SETUP = ("/setup", "/static/")


class SetupGate:
    """Until a school exists, every page leads to /setup.

    Once a school exists it always will, so the check stops touching the
    database after the first success.
    """

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.has_school = False

    def _check(self) -> bool:
        with Session(self.engine) as session:
            return any_school(session)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.has_school and not scope["path"].startswith(_OPEN_BEFORE_SETUP):
            self.has_school = await run_in_threadpool(self._check)
            if not self.has_school:
                await RedirectResponse("/setup", status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _templates() -> Jinja2Templates:
    folder = resources.files("qiaoqiao.templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Starlette:
    """Build the app. Pass ``engine`` to share one with a test; otherwise it connects itself.

    ``clock`` and ``sleep`` are time as a parameter: tests stand at a chosen
    moment and see the delays the throttle asks for without waiting them out.
    """
    routes = [
        Route("/", child.home),
        Route("/setup", setup.setup_form, methods=["GET"]),
        Route("/setup", setup.setup_submit, methods=["POST"]),
        Route("/setup/confirm", setup.setup_confirm, methods=["POST"]),
        Route("/k/{token}", child.activate_kiosk),
        Route("/p/{code}", child.poster_entry),
        Route("/s/{slug}/", child.start),
        Route("/s/{slug}/write/{kind}", child.write, methods=["GET"]),
        Route("/s/{slug}/write/{kind}", child.send, methods=["POST"]),
        Route("/s/{slug}/leave", child.leave),
        Route("/s/{slug}/identify", child.identify, methods=["POST"]),
        Route("/s/{slug}/reply", child.code_form, methods=["GET"]),
        Route("/s/{slug}/reply", child.code_submit, methods=["POST"]),
        Route("/s/{slug}/reply/write", child.follow_up, methods=["POST"]),
        Route("/s/{slug}/r/{code}", child.code_link),
        Route("/staff/login", staff.login_form, methods=["GET"]),
        Route("/staff/login", staff.login_submit, methods=["POST"]),
        Route("/staff/logout", staff.logout, methods=["POST"]),
        Route("/staff/", letters.queue),
        Route("/staff/open-now", letters.open_now, methods=["POST"]),
        Route("/staff/letters/{letter_id}", letters.letter),
        Route("/staff/letters/{letter_id}/reply", letters.reply, methods=["POST"]),
        Route("/staff/letters/{letter_id}/claim", letters.claim, methods=["POST"]),
        Route("/staff/letters/{letter_id}/status", letters.status, methods=["POST"]),
        Route("/staff/letters/{letter_id}/note", letters.note, methods=["POST"]),
        Route("/staff/invite/{token}", accounts.invitation_form, methods=["GET"]),
        Route("/staff/invite/{token}", accounts.invitation_accept, methods=["POST"]),
        Route("/staff/admin/users", accounts.users, methods=["GET"]),
        Route("/staff/admin/users", accounts.invite, methods=["POST"]),
        Route("/staff/admin/users/{user_id}/grant", accounts.grant, methods=["POST"]),
        Route("/staff/admin/users/{user_id}/reset", accounts.reset, methods=["POST"]),
        Route("/staff/admin/users/{user_id}/disable", accounts.disable, methods=["POST"]),
        Route("/staff/templates", reply_templates.templates, methods=["GET"]),
        Route("/staff/templates", reply_templates.save, methods=["POST"]),
        Route("/staff/templates/{template_id}/delete", reply_templates.delete, methods=["POST"]),
        Route("/staff/summary", reports.summary_page),
        Route("/staff/summary.csv", reports.summary_csv),
        Route("/staff/admin/audit", reports.audit_page),
        Route("/f/{secret}", parents.entry, methods=["GET"]),
        Route("/f/{secret}", parents.open_letter_page, methods=["POST"]),
        Route("/f/{secret}/reply", parents.reply, methods=["POST"]),
        Route("/staff/letters-home", letters_home.page),
        Route("/staff/letters-home/{letter_id}/forward", letters_home.forward_letter, methods=["POST"]),
        Route("/staff/letters-home/{letter_id}/release", letters_home.release_letter, methods=["POST"]),
        Route("/staff/letters-home/{letter_id}/match", letters_home.match, methods=["POST"]),
        Route("/staff/links/{link_id}/revoke", letters_home.revoke_link, methods=["POST"]),
        Route("/staff/roster", roster.roster),
        Route("/staff/roster/classes", roster.save_class_page, methods=["POST"]),
        Route("/staff/roster/import", roster.import_preview, methods=["POST"]),
        Route("/staff/roster/import/confirm", roster.import_confirm, methods=["POST"]),
        Route("/staff/roster/export.{kind:str}", roster.export),
        Route("/staff/classes/{class_id}", roster.class_page),
        Route("/staff/students/{student_id}", roster.student_page, methods=["GET"]),
        Route("/staff/students/{student_id}", roster.edit_student, methods=["POST"]),
        Route("/staff/students/{student_id}/contacts", roster.contact, methods=["POST"]),
        Route("/ack/{token}", urgent.ack_page, methods=["GET"]),
        Route("/ack/{token}", urgent.ack, methods=["POST"]),
        Route("/staff/admin/urgent", urgent.page, methods=["GET"]),
        Route("/staff/admin/urgent", urgent.change, methods=["POST"]),
        Route("/staff/recover", accounts.recover_form, methods=["GET"]),
        Route("/staff/recover", accounts.recover, methods=["POST"]),
        Route("/staff/admin/kiosks", admin.kiosks, methods=["GET"]),
        Route("/staff/admin/kiosks", admin.kiosk_add, methods=["POST"]),
        Route("/staff/admin/kiosks/{kiosk_id}/revoke", admin.kiosk_revoke, methods=["POST"]),
        Route("/staff/admin/posters", admin.posters, methods=["GET"]),
        Route("/staff/admin/posters", admin.poster_add, methods=["POST"]),
        Route("/staff/admin/posters/{poster_id}", admin.poster_page),
        Route("/staff/admin/posters/{poster_id}/qr.png", admin.poster_png),
        Route("/staff/admin/posters/{poster_id}/qr.svg", admin.poster_svg),
        Mount("/static", StaticFiles(packages=[("qiaoqiao.intake", "static")]), name="static"),
    ]
    engine = engine if engine is not None else make_engine(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        # Alerts are dispatched in this process unless workers do it (qiaoqiao worker).
        dispatcher = None
        if settings.run_dispatcher:
            config = DispatchConfig(base_url=settings.public_url or "http://127.0.0.1:8000", server_key=settings.secret_key.reveal())
            dispatcher = Dispatcher(engine, config=config, clock=clock)
            dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                dispatcher.stop()

    app = Starlette(
        routes=routes,
        exception_handlers=HANDLERS,
        middleware=[Middleware(SecurityHeaders), Middleware(SetupGate, engine=engine)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.sleep = sleep
    app.state.catalogs = Catalogs.load()
    app.state.templates = _templates()
    app.state.imports = roster.PendingImports()
    app.state.screeners = ScreenerCache(Screener(Lexicon.load()))
    app.state.sessions = SessionStore(idle=timedelta(minutes=settings.session_idle_minutes), clock=clock)
    return app
