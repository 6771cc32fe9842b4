"""Reusable openings for replies, written by the school for its children.

These are the school's own words, not a child's, so they are stored in clear
and any counsellor may edit them. A new school starts with a few warm,
age-appropriate ones.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.tables import ReplyTemplate, School

DEFAULTS = (
    ("谢谢你告诉老师", "谢谢你愿意把心里话告诉老师。你写的每一个字，老师都认真读了。"),
    ("你不是一个人", "你的感受很重要，你不是一个人，老师一直都在。"),
    ("约你聊一聊", "老师很想和你当面聊一聊。你愿意的话，这周找个时间来心理辅导室找我，好吗？"),
    ("想家的时候", "想爸爸妈妈的时候，心里难受是很正常的。你可以给他们写一封信，老师帮你寄出去。"),
    ("为你高兴", "听到你的好消息，老师也替你开心！继续加油。"),
)


def list_templates(session: Session, *, school: School, clock: Clock) -> list[ReplyTemplate]:
    """The school's templates; a school without any gets the defaults."""
    rows = session.exec(
        select(ReplyTemplate).where(ReplyTemplate.school_id == school.id).order_by(col(ReplyTemplate.position), col(ReplyTemplate.created_at))
    ).all()
    if rows:
        return list(rows)
    now = clock()
    defaults = [ReplyTemplate(school_id=school.id, title=t, body=b, position=i, created_at=now) for i, (t, b) in enumerate(DEFAULTS)]
    session.add_all(defaults)
    session.commit()
    return defaults


def _clean(title: str, body: str) -> tuple[str, str]:
    title, body = " ".join(title.split()), body.strip()
    if not title:
        raise InvalidInput("title", "empty")
    if not body:
        raise InvalidInput("body", "empty")
    if len(title) > 60 or len(body) > 2000:
        raise InvalidInput("body" if len(body) > 2000 else "title", "too_long")
    return title, body


def save_template(
    *, session: Session, school: School, template_id: str | None, title: str, body: str, clock: Clock, actor_user_id: str
) -> ReplyTemplate:
    """Add a template (no id) or change one."""
    title, body = _clean(title, body)
    if template_id:
        row = session.exec(select(ReplyTemplate).where(ReplyTemplate.school_id == school.id, ReplyTemplate.id == template_id)).first()
        if row is None:
            raise NotFound("template")
        row.title, row.body = title, body
    else:
        count = len(list_templates(session, school=school, clock=clock))
        row = ReplyTemplate(school_id=school.id, title=title, body=body, position=count, created_at=clock())
    session.add(row)
    record_event(session, school_id=school.id, action="settings.template_saved", now=clock(), actor_user_id=actor_user_id, target_type="template", target_id=row.id)
    session.commit()
    return row


def delete_template(*, session: Session, school: School, template_id: str, clock: Clock, actor_user_id: str) -> None:
    row = session.exec(select(ReplyTemplate).where(ReplyTemplate.school_id == school.id, ReplyTemplate.id == template_id)).first()
    if row is None:
        raise NotFound("template")
    session.delete(row)
    record_event(session, school_id=school.id, action="settings.template_deleted", now=clock(), actor_user_id=actor_user_id, target_type="template", target_id=template_id)
    session.commit()
