"""The Friday queue: the opening's boundaries, order, earlier weeks, filters, paging, opening early."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from qiaoqiao.mailbox.errors import NotYetOpen
from qiaoqiao.mailbox.keyring import Keyring, unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.queue import PAGE_SIZE, QueueFilters, build_queue, open_mailbox_now
from qiaoqiao.mailbox.tables import AuditEvent, Letter
from qiaoqiao.mailbox.threads import reply_as_staff

from conftest import ADMIN_PASSPHRASE, shipped_screeners

BEIJING = ZoneInfo("Asia/Shanghai")


def _beijing(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment of 2026 given in Beijing time, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING).astimezone(timezone.utc)


FRIDAY_1359 = _beijing(27, 13, 59)
FRIDAY_1401 = _beijing(27, 14, 1)


@pytest.fixture
def keyring(session, school) -> Keyring:
    """The admin's keys: both the counsellors' and the teachers'."""
    return unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)


def _only(keyring: Keyring, audience: str) -> Keyring:
    audience_id = keyring.names[audience]
    return Keyring(school_id=keyring.school_id, keys={audience_id: keyring.keypair(audience)}, names={audience: audience_id})


def _send(engine, school, settings, clock, *, kind="whisper", level=0, categories="", text="我想说一件事", **fields) -> str:
    if kind == "parent":
        fields.setdefault("sender_name", "小红")
        fields.setdefault("sender_class", "三(2)班")
        fields.setdefault("addressed_to", "mother")
    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind=kind, text=text, **fields), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
        # The stored triage result is set here, whatever the screener made of the test's words.
        letter = session.get(Letter, receipt.letter_id)
        letter.level, letter.categories = level, categories
        session.add(letter)
        session.commit()
    # Letters arrive a minute apart, so "oldest first" has one right answer.
    clock.advance(minutes=1)
    return receipt.letter_id


def _queue(engine, school, keyring, clock, **filters):
    with Session(engine, expire_on_commit=False) as session:
        return build_queue(session=session, school=school.school, keyring=keyring, filters=QueueFilters(**filters), clock=clock)


def _ids(view) -> list[str]:
    return [item.letter.id for item in view.items]


def _open(engine, school, keyring, clock, letter_id):
    with Session(engine, expire_on_commit=False) as session:
        return open_letter(session=session, school=school.school, keyring=keyring, letter_id=letter_id, actor_user_id=school.admin.id, clock=clock)


def _reply(engine, school, keyring, clock, letter_id, text="老师看到了"):
    with Session(engine, expire_on_commit=False) as session:
        return reply_as_staff(
            session=session, school=school.school, keyring=keyring, letter_id=letter_id, text=text,
            author_kind="counsellor", author_user_id=school.admin.id, clock=clock,
        )


def _set(engine, letter_id, **values) -> None:
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        for name, value in values.items():
            setattr(letter, name, value)
        session.add(letter)
        session.commit()


def test_the_clock_fixture_stands_on_wednesday_morning_in_beijing(clock):
    assert clock() == _beijing(25, 10, 30)
    assert FRIDAY_1359.weekday() == 4 and FRIDAY_1359.hour == 5 and FRIDAY_1359.minute == 59


# --- the opening's boundaries ---------------------------------------------------------------


def test_a_routine_whisper_waits_until_friday_at_two(engine, school, settings, clock, keyring):
    letter_id = _send(engine, school, settings, clock, text="周三写的悄悄话")

    clock.now = FRIDAY_1359
    before = _queue(engine, school, keyring, clock)
    assert (before.waiting, before.total, before.replied, _ids(before)) == (1, 0, 0, [])
    assert before.next_opening == _beijing(27, 14, 0)
    with pytest.raises(NotYetOpen):
        _open(engine, school, keyring, clock, letter_id)
    with pytest.raises(NotYetOpen):
        _reply(engine, school, keyring, clock, letter_id)

    clock.now = FRIDAY_1401
    after = _queue(engine, school, keyring, clock)
    assert (after.waiting, after.total, _ids(after)) == (0, 1, [letter_id])
    assert after.last_opening == _beijing(27, 14, 0)
    assert _open(engine, school, keyring, clock, letter_id).text == "周三写的悄悄话"


def test_a_whisper_written_just_after_the_opening_waits_a_whole_week(engine, school, settings, clock, keyring):
    clock.now = FRIDAY_1401
    letter_id = _send(engine, school, settings, clock)
    view = _queue(engine, school, keyring, clock)
    assert (view.waiting, _ids(view)) == (1, [])
    with pytest.raises(NotYetOpen):
        _open(engine, school, keyring, clock, letter_id)
    clock.now = _beijing(4, 14, 0, month=12)
    assert _ids(_queue(engine, school, keyring, clock)) == [letter_id]


@pytest.mark.parametrize("level", [2, 3])
def test_an_urgent_whisper_is_listed_and_opens_at_once(engine, school, settings, clock, keyring, level):
    urgent = _send(engine, school, settings, clock, level=level, text="我很害怕")
    concern = _send(engine, school, settings, clock, level=1)
    routine = _send(engine, school, settings, clock, level=0)
    view = _queue(engine, school, keyring, clock)  # still Wednesday morning
    assert _ids(view) == [urgent]
    assert view.waiting == 2  # the routine and the concern letter wait for Friday
    assert _open(engine, school, keyring, clock, urgent).text == "我很害怕"
    for waiting in (concern, routine):
        with pytest.raises(NotYetOpen):
            _open(engine, school, keyring, clock, waiting)


def test_a_letter_home_opens_at_once_for_the_teachers_key(engine, school, settings, clock, keyring):
    teachers = _only(keyring, "teachers")
    letter_id = _send(engine, school, settings, clock, kind="parent", text="妈妈我想你", sender_name="小红")
    view = _queue(engine, school, teachers, clock)  # Wednesday: letters home do not wait
    assert (_ids(view), view.waiting, view.total) == ([letter_id], 0, 1)
    assert view.items[0].sender_class == "三(2)班"
    opened = _open(engine, school, teachers, clock, letter_id)
    assert (opened.text, opened.sender_name, opened.addressed_to) == ("妈妈我想你", "小红", "mother")


# --- order -------------------------------------------------------------------------------


def test_most_serious_first_then_oldest_first(engine, school, settings, clock, keyring):
    made = {}
    for name, level in (("a0", 0), ("b3", 3), ("c1", 1), ("d2", 2), ("e0", 0), ("f3", 3), ("g1", 1), ("h2", 2)):
        made[name] = _send(engine, school, settings, clock, level=level)
        clock.advance(minutes=20)
    clock.now = FRIDAY_1401
    view = _queue(engine, school, keyring, clock)
    expected = ["b3", "f3", "d2", "h2", "c1", "g1", "a0", "e0"]
    assert _ids(view) == [made[name] for name in expected]
    assert [item.letter.level for item in view.items] == [3, 3, 2, 2, 1, 1, 0, 0]


def test_order_is_by_arrival_not_by_when_the_level_was_set(engine, school, settings, clock, keyring):
    older = _send(engine, school, settings, clock)
    clock.advance(hours=1)
    newer = _send(engine, school, settings, clock)
    # Screening finishes with the newer letter first.
    _set(engine, newer, level=2)
    _set(engine, older, level=2)
    assert _ids(_queue(engine, school, keyring, clock)) == [older, newer]


# --- earlier weeks ---------------------------------------------------------------------------


def test_earlier_weeks_unanswered_stay_answered_go_this_weeks_answered_stay(engine, school, settings, clock, keyring):
    clock.now = _beijing(18, 9, 0)  # last Wednesday
    unanswered_last_week = _send(engine, school, settings, clock, text="上周没人回")
    replied_last_week = _send(engine, school, settings, clock, text="上周回了")
    closed_last_week = _send(engine, school, settings, clock, text="上周结束了")
    clock.now = _beijing(20, 15, 0)  # last Friday, after that opening
    _reply(engine, school, keyring, clock, replied_last_week)
    _set(engine, closed_last_week, status="closed")

    clock.now = _beijing(25, 10, 30)  # this Wednesday
    this_week = _send(engine, school, settings, clock, text="这周的")
    replied_this_week = _send(engine, school, settings, clock, text="这周回了")
    clock.now = FRIDAY_1401
    _reply(engine, school, keyring, clock, replied_this_week)

    view = _queue(engine, school, keyring, clock)
    assert set(_ids(view)) == {unanswered_last_week, this_week, replied_this_week}
    assert (view.replied, view.total) == (1, 3)
    assert _ids(_queue(engine, school, keyring, clock, status="replied")) == [replied_this_week]
    # Oldest first within a level: last week's unanswered letter leads.
    assert _ids(view)[0] == unanswered_last_week


def test_an_unanswered_letter_from_three_weeks_ago_is_still_there(engine, school, settings, clock, keyring):
    clock.now = _beijing(4, 9, 0)
    forgotten = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    assert _ids(_queue(engine, school, keyring, clock)) == [forgotten]


def test_a_follow_up_from_last_week_stays_until_it_is_closed(engine, school, settings, clock, keyring):
    clock.now = _beijing(18, 9, 0)
    letter_id = _send(engine, school, settings, clock)
    clock.now = _beijing(20, 15, 0)
    _reply(engine, school, keyring, clock, letter_id)
    _set(engine, letter_id, status="follow_up")
    clock.now = FRIDAY_1401
    assert _ids(_queue(engine, school, keyring, clock)) == [letter_id]
    _set(engine, letter_id, status="closed")
    assert _ids(_queue(engine, school, keyring, clock)) == []


def test_an_urgent_letter_stays_after_its_reply_until_it_is_closed(engine, school, settings, clock, keyring):
    clock.now = _beijing(18, 9, 0)
    urgent = _send(engine, school, settings, clock, level=3)
    _reply(engine, school, keyring, clock, urgent)
    clock.now = FRIDAY_1401
    view = _queue(engine, school, keyring, clock)
    assert _ids(view) == [urgent] and (view.replied, view.total) == (1, 1)
    _set(engine, urgent, status="closed")
    assert _ids(_queue(engine, school, keyring, clock)) == []


def test_a_letter_home_answered_mid_week_stays_in_this_weeks_progress(engine, school, settings, clock, keyring):
    teachers = _only(keyring, "teachers")
    answered = _send(engine, school, settings, clock, kind="parent")
    waiting = _send(engine, school, settings, clock, kind="parent")
    with Session(engine, expire_on_commit=False) as session:
        reply_as_staff(
            session=session, school=school.school, keyring=teachers, letter_id=answered, text="你好，我是班主任",
            author_kind="teacher", author_user_id=school.admin.id, clock=clock,
        )
    clock.advance(hours=1)  # still Wednesday
    view = _queue(engine, school, teachers, clock)
    assert set(_ids(view)) == {answered, waiting}
    assert (view.replied, view.total) == (1, 2)


# --- filters and pages -----------------------------------------------------------------------


def test_filter_by_kind_and_status(engine, school, settings, clock, keyring):
    whisper = _send(engine, school, settings, clock)
    home = _send(engine, school, settings, clock, kind="parent")
    unread = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    _open(engine, school, keyring, clock, whisper)  # new → read
    assert set(_ids(_queue(engine, school, keyring, clock, kind="whisper"))) == {whisper, unread}
    assert _ids(_queue(engine, school, keyring, clock, kind="parent")) == [home]
    assert _ids(_queue(engine, school, keyring, clock, status="read")) == [whisper]
    assert set(_ids(_queue(engine, school, keyring, clock, status="new"))) == {home, unread}
    assert _ids(_queue(engine, school, keyring, clock, kind="parent", status="read")) == []
    # Unknown values mean "any", never an error and never an injection.
    everything = set(_ids(_queue(engine, school, keyring, clock)))
    assert set(_ids(_queue(engine, school, keyring, clock, kind="x' OR '1'='1", status="deleted"))) == everything


def test_filter_by_category(engine, school, settings, clock, keyring):
    bullied = _send(engine, school, settings, clock, level=1, categories="bullying")
    both = _send(engine, school, settings, clock, level=2, categories="neglect,bullying")
    neglect = _send(engine, school, settings, clock, level=1, categories="neglect")
    plain = _send(engine, school, settings, clock)
    clock.now = FRIDAY_1401
    assert _ids(_queue(engine, school, keyring, clock, category="bullying")) == [both, bullied]
    assert _ids(_queue(engine, school, keyring, clock, category="neglect")) == [both, neglect]
    assert set(_ids(_queue(engine, school, keyring, clock, category="%"))) == {bullied, both, neglect, plain}


def test_a_category_filter_matches_whole_categories_only(engine, school, settings, clock, keyring):
    abuse = _send(engine, school, settings, clock, level=2, categories="abuse")
    sexual = _send(engine, school, settings, clock, level=3, categories="sexual_abuse")
    assert _ids(_queue(engine, school, keyring, clock, category="sexual_abuse")) == [sexual]
    assert _ids(_queue(engine, school, keyring, clock, category="abuse")) == [abuse]


def test_filter_by_the_sealed_class(engine, school, settings, clock, keyring):
    three_two = _send(engine, school, settings, clock, sender_class="三(2)班")
    five_one = _send(engine, school, settings, clock, sender_class="五(1)班")
    nameless = _send(engine, school, settings, clock)
    home = _send(engine, school, settings, clock, kind="parent", sender_class="三(2)班")
    clock.now = FRIDAY_1401
    # The class is stored sealed: no plaintext to compare in SQL.
    with Session(engine) as session:
        stored = session.get(Letter, three_two).sender_class
    assert stored and "三(2)班".encode() not in stored
    view = _queue(engine, school, keyring, clock, klass="三(2)")
    assert _ids(view) == [three_two, home]
    assert [item.sender_class for item in view.items] == ["三(2)班", "三(2)班"]
    assert _ids(_queue(engine, school, keyring, clock, klass="  五(1)班 ")) == [five_one]
    assert _ids(_queue(engine, school, keyring, clock, klass="三(2)", kind="whisper")) == [three_two]
    assert _ids(_queue(engine, school, keyring, clock, klass="六")) == []
    assert nameless in _ids(_queue(engine, school, keyring, clock))


def test_pages_of_page_size(engine, school, settings, clock, keyring):
    made = []
    for n in range(PAGE_SIZE + 3):
        made.append(_send(engine, school, settings, clock, text=f"第{n}封", sender_class="四(1)班" if n % 2 else ""))
        clock.advance(seconds=1)
    clock.now = FRIDAY_1401
    first = _queue(engine, school, keyring, clock)
    second = _queue(engine, school, keyring, clock, page=2)
    assert (first.pages, first.page, len(first.items), first.total) == (2, 1, PAGE_SIZE, PAGE_SIZE + 3)
    assert (second.pages, second.page) == (2, 2)
    assert _ids(first) + _ids(second) == made
    assert _ids(_queue(engine, school, keyring, clock, page=3)) == []
    assert _queue(engine, school, keyring, clock, page=0).page == 1  # cleaned, not an error
    # The class filter pages too (it opens each class, so it counts in Python).
    odd = made[1::2]
    by_class = _queue(engine, school, keyring, clock, klass="四(1)")
    assert (by_class.pages, _ids(by_class)) == (1, odd)


def test_the_class_filter_pages_past_page_size(engine, school, settings, clock, keyring):
    made = []
    for _ in range(PAGE_SIZE + 3):
        made.append(_send(engine, school, settings, clock, sender_class="二(3)班"))
        clock.advance(seconds=1)
    _send(engine, school, settings, clock, sender_class="一(1)班")
    clock.now = FRIDAY_1401
    first = _queue(engine, school, keyring, clock, klass="二(3)")
    second = _queue(engine, school, keyring, clock, klass="二(3)", page=2)
    assert (first.pages, len(first.items), len(second.items)) == (2, PAGE_SIZE, 3)
    assert _ids(first) + _ids(second) == made


# --- opening early ----------------------------------------------------------------------------


def test_opening_the_mailbox_early_makes_waiting_letters_readable_and_is_audited(engine, school, settings, clock, keyring):
    first = _send(engine, school, settings, clock, text="第一封")
    second = _send(engine, school, settings, clock, text="第二封")
    assert _queue(engine, school, keyring, clock).waiting == 2
    clock.advance(minutes=10)
    with Session(engine, expire_on_commit=False) as session:
        opened = open_mailbox_now(session=session, school=school.school, clock=clock, actor_user_id=school.admin.id)
    assert opened == 2
    view = _queue(engine, school, keyring, clock)  # still Wednesday
    assert (view.waiting, _ids(view)) == (0, [first, second])
    assert _open(engine, school, keyring, clock, second).text == "第二封"
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "mailbox.opened_early")).all()
    assert [(e.actor_user_id, json.loads(e.detail)) for e in events] == [(school.admin.id, {"letters": 2})]

    # A letter written after the early opening waits for Friday again.
    clock.advance(minutes=10)
    later = _send(engine, school, settings, clock)
    view = _queue(engine, school, keyring, clock)
    assert view.waiting == 1 and later not in _ids(view)
    with pytest.raises(NotYetOpen):
        _open(engine, school, keyring, clock, later)


def test_opening_early_leaves_letters_home_and_other_schools_alone(engine, school, settings, clock, keyring):
    from qiaoqiao.mailbox.schools import create_school

    with Session(engine, expire_on_commit=False) as session:
        other = create_school(
            session=session, name="月亮小学", admin_username="li", admin_passphrase="the moon over the river",
            kdf=settings.kdf, clock=clock,
        )
        theirs = submit_letter(
            session=session, school=other.school, form=LetterForm(kind="whisper", text="别的学校"), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
    home = _send(engine, school, settings, clock, kind="parent")
    with Session(engine) as session:
        home_opening = session.get(Letter, home).opening_at
    with Session(engine, expire_on_commit=False) as session:
        assert open_mailbox_now(session=session, school=school.school, clock=clock, actor_user_id=school.admin.id) == 0
    with Session(engine) as session:
        assert session.get(Letter, home).opening_at == home_opening
        their_letter = session.get(Letter, theirs.letter_id)
        assert their_letter.opening_at.replace(tzinfo=timezone.utc) == _beijing(27, 14, 0)


# --- who sees what ----------------------------------------------------------------------------


def test_the_teachers_key_alone_does_not_see_whispers(engine, school, settings, clock, keyring):
    teachers = _only(keyring, "teachers")
    routine = _send(engine, school, settings, clock)
    urgent = _send(engine, school, settings, clock, level=3)
    home = _send(engine, school, settings, clock, kind="parent")
    clock.now = FRIDAY_1401
    view = _queue(engine, school, teachers, clock)
    assert (_ids(view), view.total) == ([home], 1)
    assert _ids(_queue(engine, school, teachers, clock, kind="whisper")) == []
    assert _ids(_queue(engine, school, teachers, clock, klass="三(2)")) == [home]
    # The counsellors' key alone sees the 悄悄话 and not the routine letter home.
    counsellors = _only(keyring, "counsellors")
    assert _ids(_queue(engine, school, counsellors, clock)) == [urgent, routine]


def test_the_teachers_key_alone_is_not_told_how_many_whispers_wait(engine, school, settings, clock, keyring):
    _send(engine, school, settings, clock)
    _send(engine, school, settings, clock)
    assert _queue(engine, school, _only(keyring, "teachers"), clock).waiting == 0
