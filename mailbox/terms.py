"""A school's own screening phrases, kept in the database beside the shipped lexicon."""

from __future__ import annotations

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import InvalidInput, NotFound
from qiaoqiao.mailbox.lexicon import CATEGORIES
from qiaoqiao.mailbox.tables import School, ScreeningTerm


def add_term(
    *, session: Session, school: School, phrase: str, level: int, categories: list[str], clock: Clock, actor_user_id: str
) -> ScreeningTerm:
    """A local word for a risk (a place children are taken, a nickname for a bully)."""
    phrase = "".join(phrase.split())
    if not phrase:
        raise InvalidInput("phrase", "empty")
    if len(phrase) > 40:
        raise InvalidInput("phrase", "too_long")
    if level not in (1, 2, 3):
        raise InvalidInput("level", "unknown")
    if not set(categories) <= set(CATEGORIES):
        raise InvalidInput("categories", "unknown")
    term = ScreeningTerm(
        school_id=school.id, phrase=phrase, level=level, categories=",".join(sorted(set(categories))),
        created_by=actor_user_id, created_at=clock(),
    )
    session.add(term)
    record_event(session, school_id=school.id, action="settings.term_added", now=clock(), actor_user_id=actor_user_id, target_type="term", target_id=term.id, detail={"level": level})
    session.commit()
    return term


def list_terms(session: Session, *, school: School) -> list[ScreeningTerm]:
    return list(session.exec(select(ScreeningTerm).where(ScreeningTerm.school_id == school.id).order_by(col(ScreeningTerm.created_at))).all())


def remove_term(*, session: Session, school: School, term_id: str, clock: Clock, actor_user_id: str) -> None:
    term = session.exec(select(ScreeningTerm).where(ScreeningTerm.school_id == school.id, ScreeningTerm.id == term_id)).first()
    if term is None:
        raise NotFound("term")
    session.delete(term)
    record_event(session, school_id=school.id, action="settings.term_removed", now=clock(), actor_user_id=actor_user_id, target_type="term", target_id=term_id)
    session.commit()
