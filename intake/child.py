"""The child's pages: choose, write, send, and get a pickup code."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.letters import KINDS, MAX_TEXT, MOODS, LetterForm, submit_letter
from qiaoqiao.mailbox.schools import list_schools, school_by_slug


async def home(request: Request) -> Response:
    schools = await db_call(request, lambda session: list_schools(session))
    if len(schools) == 1:
        return RedirectResponse(f"/s/{schools[0].slug}/", status_code=303)
    return render(request, "child/schools.html", {"schools": schools})


async def _school(request: Request):
    return await db_call(request, school_by_slug, slug=request.path_params["slug"])


async def start(request: Request) -> Response:
    school = await _school(request)
    return render(request, "child/start.html", {"school": school})


def _form_context(school, kind: str, values: dict, error: tuple[str, str] | None) -> dict:
    return {"school": school, "kind": kind, "form": values, "error": error, "max_text": MAX_TEXT, "moods": MOODS}


async def write(request: Request) -> Response:
    school = await _school(request)
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise NotFound("kind")
    return render(request, "child/write.html", _form_context(school, kind, {}, None))


async def send(request: Request) -> Response:
    school = await _school(request)
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise NotFound("kind")
    form = await read_form(request)
    values = {name: field(form, name) for name in ("text", "sender_name", "sender_class", "mood")}
    letter = LetterForm(kind=kind, **values)
    try:
        receipt = await db_call(
            request,
            submit_letter,
            school=school,
            form=letter,
            sealing=request.app.state.settings.sealing,
            clock=request.app.state.clock,
        )
    except InvalidInput as exc:
        # Everything the child typed goes back into the form.
        return render(request, "child/write.html", _form_context(school, kind, values, (exc.field, exc.reason)), status_code=400)
    return render(request, "child/sent.html", {"school": school, "kind": kind, "receipt": receipt})
