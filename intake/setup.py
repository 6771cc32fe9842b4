"""First run: with no school yet, every page leads here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from qiaoqiao.intake.web import db_call, field, read_form, render
from qiaoqiao.mailbox.errors import AlreadySetUp, InvalidInput, WeakPassphrase
from qiaoqiao.mailbox.schools import any_school, create_school


async def setup_form(request: Request) -> Response:
    if await db_call(request, any_school):
        return RedirectResponse("/staff/login", status_code=303)
    return render(request, "setup/form.html", {"form": {}, "error": None})


async def setup_submit(request: Request) -> Response:
    form = await read_form(request)
    values = {name: field(form, name) for name in ("school_name", "username")}
    passphrase, repeat = field(form, "passphrase"), field(form, "passphrase_repeat")
    error = None
    if passphrase != repeat:
        error = ("passphrase", "mismatch")
    else:
        try:
            result = await db_call(
                request,
                create_school,
                name=values["school_name"],
                admin_username=values["username"],
                admin_passphrase=passphrase,
                kdf=request.app.state.settings.kdf,
                clock=request.app.state.clock,
                first_run=True,
            )
        except AlreadySetUp:
            return RedirectResponse("/staff/login", status_code=303)
        except WeakPassphrase as exc:
            error = ("passphrase", exc.reason)
        except InvalidInput as exc:
            error = (exc.field, exc.reason)
        else:
            return render(
                request,
                "setup/recovery.html",
                {"school": result.school, "recovery_key": result.recovery_key, "must_confirm": False},
            )
    # The form keeps what was typed, passphrases included, so nothing is retyped.
    values.update(passphrase=passphrase, passphrase_repeat=repeat)
    return render(request, "setup/form.html", {"form": values, "error": error}, status_code=400)


async def setup_confirm(request: Request) -> Response:
    """Leave the recovery page only once "I have stored it" is ticked.

    The key comes back in a hidden field so the page can be shown again if the
    box was not ticked; it is never stored anywhere but on the admin's paper.
    """
    form = await read_form(request)
    if field(form, "stored") != "yes":
        return render(
            request,
            "setup/recovery.html",
            {"school": None, "recovery_key": field(form, "recovery_key"), "must_confirm": True},
            status_code=400,
        )
    return RedirectResponse("/staff/login?welcome=1", status_code=303)
