"""Replies and follow-ups: sealed for the right readers, found by the right code."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.errors import InvalidInput, KeysLocked, NotFound
from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.tables import ContentKeyWrap, Letter, Reply
from qiaoqiao.mailbox.threads import follow_up_as_child, open_thread, reply_as_staff

from conftest import ADMIN_PASSPHRASE, shipped_screeners


@pytest.fixture
def keyring(session, school):
    return unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)


def _send(session, school, settings, clock, text, **kw):
    return submit_letter(screeners=shipped_screeners(), session=session, school=school.school, form=LetterForm(kind=kw.pop("kind", "whisper"), text=text, **kw), sealing=settings.sealing, clock=clock)


def _reply(session, school, keyring, clock, letter_id, text):
    if clock().weekday() < 4:
        clock.advance(days=3)  # from Wednesday to past Friday's opening: 悄悄话 wait for it
    return reply_as_staff(
        session=session, school=school.school, keyring=keyring, letter_id=letter_id, text=text,
        author_kind="counsellor", author_user_id=school.admin.id, clock=clock,
    )


def test_a_reply_reaches_the_childs_code_and_only_that_code(session, school, settings, clock, keyring):
    mine = _send(session, school, settings, clock, "我的信")
    other = _send(session, school, settings, clock, "别人的信")
    _reply(session, school, keyring, clock, mine.letter_id, "给你的回信")
    thread = open_thread(session=session, school=school.school, code=mine.code, sealing=settings.sealing, clock=clock)
    assert [e.text for e in thread.entries] == ["给你的回信"] and thread.has_reply
    theirs = open_thread(session=session, school=school.school, code=other.code, sealing=settings.sealing, clock=clock)
    assert theirs.entries == [] and not theirs.has_reply and theirs.text == "别人的信"


def test_the_reply_is_sealed_for_the_code_and_the_letters_readers_only(session, school, settings, clock, keyring):
    receipt = _send(session, school, settings, clock, "我的信")
    reply = _reply(session, school, keyring, clock, receipt.letter_id, "回信")
    wraps = session.exec(select(ContentKeyWrap).where(ContentKeyWrap.record_id == reply.id)).all()
    letter_wraps = session.exec(select(ContentKeyWrap).where(ContentKeyWrap.record_id == receipt.letter_id)).all()
    assert sorted((w.recipient_type, w.recipient_id) for w in wraps) == sorted((w.recipient_type, w.recipient_id) for w in letter_wraps)


def test_reading_marks_the_reply_read_and_the_counsellor_sees_it(session, school, settings, clock, keyring):
    receipt = _send(session, school, settings, clock, "我的信")
    clock.advance(days=3)  # past Friday's opening
    _reply(session, school, keyring, clock, receipt.letter_id, "回信")
    before = open_letter(session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, actor_user_id=school.admin.id, clock=clock)
    assert before.entries[0].read_at is None
    clock.advance(hours=2)
    open_thread(session=session, school=school.school, code=receipt.code, sealing=settings.sealing, clock=clock)
    after = open_letter(session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, actor_user_id=school.admin.id, clock=clock)
    assert after.entries[0].read_at == clock()


def test_the_child_writes_back_and_the_letter_needs_a_person_again(session, school, settings, clock, keyring):
    receipt = _send(session, school, settings, clock, "我的信")
    clock.advance(days=3)  # past Friday's opening
    _reply(session, school, keyring, clock, receipt.letter_id, "回信")
    assert session.get(Letter, receipt.letter_id).status == "replied"
    clock.advance(minutes=5)
    follow_up_as_child(session=session, school=school.school, code=receipt.code, text="谢谢老师", sealing=settings.sealing, clock=clock)
    opened = open_letter(session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, actor_user_id=school.admin.id, clock=clock)
    assert [(e.author_kind, e.text) for e in opened.entries] == [("counsellor", "回信"), ("child", "谢谢老师")]
    assert opened.letter.status == "read"


def test_an_unknown_code_finds_nothing(session, school, settings, clock):
    _send(session, school, settings, clock, "我的信")
    with pytest.raises(NotFound):
        open_thread(session=session, school=school.school, code=crypto.new_pickup_code(), sealing=settings.sealing, clock=clock)
    with pytest.raises(NotFound):
        follow_up_as_child(session=session, school=school.school, code=crypto.new_pickup_code(), text="hi", sealing=settings.sealing, clock=clock)


def test_only_a_reader_of_the_letter_may_reply(session, school, settings, clock, keyring):
    from qiaoqiao.mailbox.keyring import Keyring

    receipt = _send(session, school, settings, clock, "我的信")
    teachers_only = Keyring(school_id=keyring.school_id, keys={keyring.names["teachers"]: keyring.keypair("teachers")}, names={"teachers": keyring.names["teachers"]})
    with pytest.raises(KeysLocked):
        _reply(session, school, teachers_only, clock, receipt.letter_id, "不该能回")
    assert session.exec(select(Reply)).all() == []


def test_an_empty_or_oversized_reply_is_refused(session, school, settings, clock, keyring):
    receipt = _send(session, school, settings, clock, "我的信")
    for text, reason in (("  ", "empty"), ("字" * 4001, "too_long")):
        with pytest.raises(InvalidInput) as refused:
            _reply(session, school, keyring, clock, receipt.letter_id, text)
        assert refused.value.reason == reason
    assert session.exec(select(Reply)).all() == []


def test_the_same_form_sent_twice_at_once_stores_one_letter(engine, school, settings, clock):
    token = crypto.new_token()
    receipts, errors = [], []
    barrier = threading.Barrier(2)

    def send():
        try:
            with Session(engine, expire_on_commit=False) as session:
                barrier.wait()
                receipts.append(
                    submit_letter(screeners=shipped_screeners(), 
                        session=session, school=school.school, form=LetterForm(kind="whisper", text="双击"),
                        sealing=settings.sealing, clock=clock, submission_token=token,
                    )
                )
        except Exception as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=send) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert receipts[0].letter_id == receipts[1].letter_id and receipts[0].code == receipts[1].code
    with Session(engine) as session:
        assert len(session.exec(select(Letter)).all()) == 1
