"""The child's pages: choose, write, send, get a pickup code, read the answers.

At a kiosk (a browser that opened a kiosk URL once) the pages reset by
themselves so the next child never sees the last one's words; through a
poster's QR code the letter remembers which poster it came from. Neither
records an address or a browser.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao import crypto
from qiaoqiao.intake.web import address_of, db_call, field, read_form, render
from qiaoqiao.mailbox import throttle
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.alerts import settings_of as alert_settings_of
from qiaoqiao.mailbox.letters import ADDRESSEES, KINDS, MOODS, LetterForm, identify_sender, submit_letter
from qiaoqiao.mailbox.roster import list_classes
from qiaoqiao.mailbox.schools import list_schools, school_by_id, school_by_slug
from qiaoqiao.mailbox.sources import kiosk_by_token, poster_by_code
from qiaoqiao.mailbox.text import MAX_TEXT
from qiaoqiao.mailbox.threads import follow_up_as_child, open_thread

KIOSK_COOKIE = "qq_kiosk"
POSTER_COOKIE = "qq_poster"
_TEN_YEARS = 10 * 365 * 24 * 3600


async def home(request: Request) -> Response:
    kiosk = await _kiosk(request)
    if kiosk is not None:
        school = await db_call(request, school_by_id, school_id=kiosk.school_id)
        return RedirectResponse(f"/s/{school.slug}/", status_code=303)
    schools = await db_call(request, lambda session: list_schools(session))
    if len(schools) == 1:
        return RedirectResponse(f"/s/{schools[0].slug}/", status_code=303)
    return render(request, "child/schools.html", {"schools": schools})


async def _kiosk(request: Request):
    token = request.cookies.get(KIOSK_COOKIE)
    if not token:
        return None
    try:
        return await db_call(request, kiosk_by_token, token=token)
    except NotFound:
        return None


async def _context(request: Request) -> dict:
    """The school of the URL, and whether this browser is one of its kiosks."""
    school = await db_call(request, school_by_slug, slug=request.path_params["slug"])
    kiosk = await _kiosk(request)
    if kiosk is not None and kiosk.school_id != school.id:
        kiosk = None
    timing = request.app.state.settings
    return {
        "school": school,
        "kiosk": kiosk,
        "idle_seconds": timing.kiosk_idle_seconds,
        "warn_seconds": timing.kiosk_warn_seconds,
        "receipt_seconds": timing.kiosk_receipt_seconds,
        "now": request.app.state.clock(),
    }


async def _source(request: Request, context: dict) -> tuple[str, str | None, str]:
    """Which way in a letter came: kind, id, and a label for alerts ("kiosk: 教学楼一楼")."""
    if context["kiosk"] is not None:
        return "kiosk", context["kiosk"].id, f"kiosk: {context['kiosk'].name}"
    code = request.cookies.get(POSTER_COOKIE)
    if code:
        try:
            poster = await db_call(request, poster_by_code, code=code)
        except NotFound:
            return "web", None, "web"
        if poster.school_id == context["school"].id:
            return "poster", poster.id, f"poster: {poster.label}"
    return "web", None, "web"


async def start(request: Request) -> Response:
    return render(request, "child/start.html", await _context(request))


async def activate_kiosk(request: Request) -> Response:
    """Opened once on a tablet, the kiosk URL makes that browser a kiosk."""
    token = request.path_params["token"]
    kiosk = await db_call(request, kiosk_by_token, token=token)
    school = await db_call(request, school_by_id, school_id=kiosk.school_id)
    response = RedirectResponse(f"/s/{school.slug}/", status_code=303)
    response.set_cookie(
        KIOSK_COOKIE, token, max_age=_TEN_YEARS, httponly=True, samesite="lax", secure=request.app.state.settings.secure_cookies
    )
    return response


async def poster_entry(request: Request) -> Response:
    """Where a poster's QR code leads: remember the poster for this visit only."""
    poster = await db_call(request, poster_by_code, code=request.path_params["code"])
    school = await db_call(request, school_by_id, school_id=poster.school_id)
    response = RedirectResponse(f"/s/{school.slug}/", status_code=303)
    response.set_cookie(POSTER_COOKIE, poster.code, httponly=True, samesite="lax", secure=request.app.state.settings.secure_cookies)
    return response


def _form_context(context: dict, kind: str, values: dict, error: tuple[str, str] | None, token: str, classes=()) -> dict:
    return {
        **context,
        "classes": classes,
        "kind": kind,
        "form": values,
        "error": error,
        "max_text": MAX_TEXT,
        "moods": MOODS,
        "addressees": ADDRESSEES,
        "submission": token,
    }


def _kind(request: Request) -> str:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise NotFound("kind")
    return kind


async def _classes(request: Request, context: dict, kind: str):
    # A letter home names the class from the school's list (never other children's names).
    return await db_call(request, list_classes, school=context["school"]) if kind == "parent" else []


async def write(request: Request) -> Response:
    context = await _context(request)
    kind = _kind(request)
    classes = await _classes(request, context, kind)
    return render(request, "child/write.html", _form_context(context, kind, {}, None, crypto.new_token(), classes))


async def send(request: Request) -> Response:
    context = await _context(request)
    kind = _kind(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("text", "sender_name", "sender_class", "mood", "addressed_to", "class_id")}
    token = field(form, "submission")
    source_kind, source_id, source_label = await _source(request, context)
    try:
        receipt = await db_call(
            request,
            submit_letter,
            school=context["school"],
            form=LetterForm(kind=kind, **values),
            sealing=request.app.state.settings.sealing,
            clock=request.app.state.clock,
            screeners=request.app.state.screeners,
            source_kind=source_kind,
            source_id=source_id,
            source_label=source_label,
            submission_token=token,
        )
    except InvalidInput as exc:
        # Everything the child typed goes back into the form (a box of only
        # spaces comes back empty, so the counter and the box agree).
        error, status = (exc.field, exc.reason), 400
        if exc.field == "text" and exc.reason == "empty":
            values["text"] = ""
    except SQLAlchemyError:
        error, status = ("text", "unavailable"), 503
    else:
        numbers = await db_call(request, alert_settings_of, school_id=context["school"].id) if receipt.level >= 2 else None
        named = bool(values["sender_name"].strip())
        return render(request, "child/sent.html", {**context, "kind": kind, "receipt": receipt, "numbers": numbers, "named": named})
    classes = await _classes(request, context, kind)
    return render(request, "child/write.html", _form_context(context, kind, values, error, token, classes), status_code=status)


async def leave(request: Request) -> Response:
    """The quick exit without JavaScript: straight back to the start."""
    response = RedirectResponse(f"/s/{request.path_params['slug']}/", status_code=303)
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def _throttle_key(request: Request, context: dict) -> str:
    """Wrong codes are counted per kiosk, or per address (only ever as a keyed hash)."""
    if context["kiosk"] is not None:
        return f"code:kiosk:{context['kiosk'].id}"
    return f"code:addr:{address_of(request)}"


async def code_form(request: Request) -> Response:
    return render(request, "child/code.html", {**await _context(request), "problem": None, "typed": ""})


async def _thread_or_problem(request: Request, context: dict, typed: str) -> Response:
    """Check a typed code (slowed and limited per kiosk or address) and show the thread."""
    clock = request.app.state.clock
    key = _throttle_key(request, context)
    verdict = await db_call(request, throttle.verdict, key=key, clock=clock)
    if verdict.refused:
        return render(request, "child/code.html", {**context, "problem": "refused", "typed": ""}, status_code=429)
    if verdict.delay_seconds:
        await request.app.state.sleep(verdict.delay_seconds)
    try:
        code = crypto.normalise_pickup_code(typed)
    except crypto.CodeTypo:
        # A miscopied code is not a guess: it says nothing about any letter.
        return render(request, "child/code.html", {**context, "problem": "typo", "typed": typed}, status_code=400)
    try:
        thread = await db_call(
            request, open_thread, school=context["school"], code=code, sealing=request.app.state.settings.sealing, clock=clock
        )
    except NotFound:
        await db_call(request, throttle.record_failure, key=key, clock=clock)
        return render(request, "child/code.html", {**context, "problem": "unknown", "typed": typed}, status_code=404)
    await db_call(request, throttle.record_success, key=key, clock=clock)
    return render(request, "child/thread.html", {**context, "thread": thread, "code": code, "problem": None, "draft": ""})


async def code_submit(request: Request) -> Response:
    context = await _context(request)
    form = await read_form(request)
    return await _thread_or_problem(request, context, field(form, "code"))


async def code_link(request: Request) -> Response:
    """The link a child may save on their own phone: the code is in it."""
    context = await _context(request)
    return await _thread_or_problem(request, context, request.path_params["code"])


async def follow_up(request: Request) -> Response:
    context = await _context(request)
    form = await read_form(request)
    typed, text = field(form, "code"), field(form, "text")
    sealing, clock = request.app.state.settings.sealing, request.app.state.clock
    key = _throttle_key(request, context)
    if (await db_call(request, throttle.verdict, key=key, clock=clock)).refused:
        return render(request, "child/code.html", {**context, "problem": "refused", "typed": ""}, status_code=429)
    problem = None
    try:
        code = crypto.normalise_pickup_code(typed)
        await db_call(request, follow_up_as_child, school=context["school"], code=code, text=text, sealing=sealing, clock=clock)
    except (crypto.CodeTypo, NotFound):
        # Only a forged form gets here: count it like any wrong code.
        await db_call(request, throttle.record_failure, key=key, clock=clock)
        return render(request, "child/code.html", {**context, "problem": "unknown", "typed": ""}, status_code=404)
    except InvalidInput as exc:
        problem = (exc.field, exc.reason)
    thread = await db_call(request, open_thread, school=context["school"], code=code, sealing=sealing, clock=clock)
    return render(
        request,
        "child/thread.html",
        {**context, "thread": thread, "code": code, "problem": problem, "draft": text if problem else ""},
        status_code=400 if problem else 200,
    )


async def identify(request: Request) -> Response:
    """After an urgent note: the child chose to leave a name and class."""
    context = await _context(request)
    form = await read_form(request)
    numbers = await db_call(request, alert_settings_of, school_id=context["school"].id)
    try:
        code = crypto.normalise_pickup_code(field(form, "code"))
        await db_call(
            request, identify_sender, school=context["school"], code=code, sender_name=field(form, "sender_name"),
            sender_class=field(form, "sender_class"), sealing=request.app.state.settings.sealing, clock=request.app.state.clock,
        )
    except (crypto.CodeTypo, NotFound):
        raise NotFound("pickup") from None
    except InvalidInput as exc:
        return render(
            request, "child/identified.html", {**context, "numbers": numbers, "problem": (exc.field, exc.reason)}, status_code=400
        )
    return render(request, "child/identified.html", {**context, "numbers": numbers, "problem": None})
