"""A school's own screening words reach the screener from the next letter on."""

from __future__ import annotations

import pytest
from sqlmodel import select

from conftest import shipped_screeners
from qiaoqiao.mailbox.errors import InvalidInput
from qiaoqiao.mailbox.letters import LetterForm, submit_letter
from qiaoqiao.mailbox.tables import Alert, Letter
from qiaoqiao.mailbox.terms import add_term, list_terms, remove_term


def _level(session, school, settings, clock, text) -> int:
    receipt = submit_letter(
        screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind="whisper", text=text),
        sealing=settings.sealing, clock=clock,
    )
    return session.get(Letter, receipt.letter_id).level


def test_a_local_word_is_screened_for_that_school_only(session, school, settings, clock):
    assert _level(session, school, settings, clock, "他们又要带我去后山水库") == 0
    term = add_term(
        session=session, school=school.school, phrase="去后山水库", level=3, categories=["bullying"], clock=clock,
        actor_user_id=school.admin.id,
    )
    assert _level(session, school, settings, clock, "他们又要带我去后山水库") == 3
    assert session.exec(select(Alert)).one().categories == "bullying"
    remove_term(session=session, school=school.school, term_id=term.id, clock=clock, actor_user_id=school.admin.id)
    assert _level(session, school, settings, clock, "他们又要带我去后山水库") == 0
    assert list_terms(session, school=school.school) == []


@pytest.mark.parametrize("phrase, level, categories", [("", 2, []), ("x" * 41, 2, []), ("后山", 4, []), ("后山", 2, ["nonsense"])])
def test_a_bad_term_is_refused(session, school, clock, phrase, level, categories):
    with pytest.raises(InvalidInput):
        add_term(session=session, school=school.school, phrase=phrase, level=level, categories=categories, clock=clock, actor_user_id=school.admin.id)
