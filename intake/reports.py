"""The school's reports: the weekly summary (and its CSV) and the audit log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qiaoqiao.intake.staff import require_role
from qiaoqiao.intake.web import db_call, render
from qiaoqiao.mailbox.audit import recent_events, verify_chain
from qiaoqiao.mailbox.schools import school_by_id
from qiaoqiao.mailbox.summary import CATEGORIES, columns, weekly_summary

WEEKS = 8


async def _summary(request: Request):
    staff = await require_role(request, "admin", "counsellor")
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    summary = await db_call(request, weekly_summary, school=school, keyring=staff.keyring, weeks=WEEKS, clock=request.app.state.clock)
    return school, summary


async def summary_page(request: Request) -> Response:
    school, summary = await _summary(request)
    return render(request, "staff/summary.html", {"school": school, "summary": summary, "columns": columns(), "categories": CATEGORIES})


async def summary_csv(request: Request) -> Response:
    school, summary = await _summary(request)
    return Response(
        summary.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="qiaoqiao-summary-{school.slug}.csv"'},
    )


async def audit_page(request: Request) -> Response:
    staff = await require_role(request, "admin")
    school = await db_call(request, school_by_id, school_id=staff.school_id)
    events = await db_call(request, recent_events, school_id=school.id, limit=300)
    report = await db_call(request, verify_chain, school_id=school.id)
    return render(request, "staff/audit.html", {"school": school, "events": events, "report": report})
