"""Letters in the domain: validation, sealing, who can open what."""

from __future__ import annotations

import pytest
from sqlmodel import select

from qiaoqiao import crypto
from qiaoqiao.mailbox.errors import InvalidInput, KeysLocked, NotFound
from qiaoqiao.mailbox.keyring import Keyring, unlock_member
from qiaoqiao.mailbox.letters import MAX_TEXT, LetterForm, list_letters, open_letter, submit_letter
from qiaoqiao.mailbox.pickups import find_pickup
from qiaoqiao.mailbox.tables import ContentKeyWrap, Letter

from conftest import ADMIN_PASSPHRASE, shipped_screeners


def _send(session, school, settings, clock, **form):
    form.setdefault("kind", "whisper")
    return submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(**form), sealing=settings.sealing, clock=clock)


def _keyring(session, school) -> Keyring:
    return unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)


def _open(session, school, clock, letter_id, keyring=None):
    # The clock stands on a Wednesday: step past Friday's opening so 悄悄话 can be read.
    clock.advance(days=3)
    return open_letter(
        session=session, school=school.school, keyring=keyring or _keyring(session, school), letter_id=letter_id,
        actor_user_id=school.admin.id, clock=clock,
    )


def test_a_whisper_round_trip(session, school, settings, clock):
    receipt = _send(session, school, settings, clock, text="同桌总是拿我的橡皮\n我不敢说", sender_name="小明", sender_class="三(2)班", mood="sad")
    opened = _open(session, school, clock, receipt.letter_id)
    assert (opened.text, opened.sender_name, opened.sender_class, opened.mood) == (
        "同桌总是拿我的橡皮\n我不敢说", "小明", "三(2)班", "sad",
    )
    assert opened.letter.status == "read"
    assert len(receipt.code.digits) == 12


def test_the_child_code_is_stored_only_as_a_lookup(session, school, settings, clock):
    receipt = _send(session, school, settings, clock, text="你好")
    row = find_pickup(session, school_id=school.school.id, code=receipt.code, sealing=settings.sealing)
    assert receipt.code.digits not in row.lookup_id
    letter = session.get(Letter, receipt.letter_id)
    assert letter.pickup_id == row.id
    other = crypto.new_pickup_code()
    with pytest.raises(NotFound):
        find_pickup(session, school_id=school.school.id, code=other, sealing=settings.sealing)


def test_a_letter_is_bound_to_its_row(session, school, settings, clock):
    first = _send(session, school, settings, clock, text="第一封")
    second = _send(session, school, settings, clock, text="第二封")
    a, b = session.get(Letter, first.letter_id), session.get(Letter, second.letter_id)
    a.body = b.body  # a database intruder swaps ciphertexts between rows
    session.add(a)
    session.commit()
    with pytest.raises(crypto.CannotOpen):
        _open(session, school, clock, first.letter_id)


def test_a_letter_home_is_for_the_teachers_not_the_counsellors(session, school, settings, clock):
    receipt = _send(session, school, settings, clock, kind="parent", text="妈妈我想你", sender_name="小红", sender_class="四(1)班", addressed_to="mother")
    wraps = session.exec(select(ContentKeyWrap).where(ContentKeyWrap.record_id == receipt.letter_id)).all()
    assert sorted(w.recipient_type for w in wraps) == ["audience", "pickup"]
    full = _keyring(session, school)
    counsellors_only = Keyring(
        school_id=full.school_id,
        keys={full.names["counsellors"]: full.keypair("counsellors")},
        names={"counsellors": full.names["counsellors"]},
    )
    with pytest.raises(KeysLocked):
        _open(session, school, clock, receipt.letter_id, keyring=counsellors_only)
    assert _open(session, school, clock, receipt.letter_id, keyring=full).text == "妈妈我想你"


@pytest.mark.parametrize(
    "form, field, reason",
    [
        ({"text": ""}, "text", "empty"),
        ({"text": "  \n\t "}, "text", "empty"),
        ({"text": "字" * (MAX_TEXT + 1)}, "text", "too_long"),
        ({"text": "hello\x00world"}, "text", "control_chars"),
        ({"text": "bell\x07"}, "text", "control_chars"),
        ({"text": "broken \ud800 text"}, "text", "invalid_text"),
        ({"text": "ok", "kind": "parent"}, "sender_name", "empty"),
        ({"text": "ok", "kind": "parent", "sender_name": "小红"}, "sender_class", "empty"),
        ({"text": "ok", "kind": "parent", "sender_name": "小红", "sender_class": "一班"}, "addressed_to", "empty"),
        ({"text": "ok", "kind": "parent", "sender_name": "小红", "sender_class": "一班", "addressed_to": "uncle"}, "addressed_to", "unknown"),
        ({"text": "ok", "sender_name": "名" * 41}, "sender_name", "too_long"),
        ({"text": "ok", "mood": "<b>"}, "mood", "unknown"),
        ({"text": "ok", "kind": "staff"}, "kind", "unknown"),
    ],
)
def test_bad_letters_are_refused_and_nothing_is_stored(session, school, settings, clock, form, field, reason):
    with pytest.raises(InvalidInput) as refused:
        _send(session, school, settings, clock, **form)
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert session.exec(select(Letter)).first() is None


def test_a_letter_of_exactly_the_limit_is_accepted(session, school, settings, clock):
    receipt = _send(session, school, settings, clock, text="好" * MAX_TEXT)
    assert len(_open(session, school, clock, receipt.letter_id).text) == MAX_TEXT


def test_list_is_scoped_to_the_school(session, school, settings, clock):
    from qiaoqiao.mailbox.schools import create_school

    other = create_school(
        session=session, name="希望小学", admin_username="wang", admin_passphrase="another long passphrase",
        kdf=settings.kdf, clock=clock,
    )
    _send(session, school, settings, clock, text="one")
    submit_letter(screeners=shipped_screeners(), session=session, school=other.school, form=LetterForm(kind="whisper", text="two"), sealing=settings.sealing, clock=clock)
    assert len(list_letters(session, school=school.school)) == 1
    theirs = list_letters(session, school=other.school)[0]
    with pytest.raises(NotFound):
        _open(session, school, clock, theirs.id)


def test_a_form_sent_again_later_stores_nothing_and_shows_no_code(session, school, settings, clock):
    from qiaoqiao import crypto

    token = crypto.new_token()
    form = LetterForm(kind="whisper", text="只寄一次")
    first = submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=form, sealing=settings.sealing, clock=clock, submission_token=token)
    clock.advance(seconds=5)  # a double tap: the same code again
    again = submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=form, sealing=settings.sealing, clock=clock, submission_token=token)
    assert again.code == first.code and again.letter_id == first.letter_id
    clock.advance(minutes=3)  # Back and Reload at a shared tablet: no code for whoever is there now
    later = submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=form, sealing=settings.sealing, clock=clock, submission_token=token)
    assert later.letter_id == first.letter_id and later.code is None
    assert len(session.exec(select(Letter)).all()) == 1
