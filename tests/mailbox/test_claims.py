"""Claims, concurrent replies and statuses: two counsellors on one Friday queue."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from qiaoqiao.mailbox.accounts import accept_invite, grant_key, invite_user
from qiaoqiao.mailbox.claims import STALE_AFTER, claim_letter, release_letter, set_status
from qiaoqiao.mailbox.errors import ClaimedByOther, InvalidInput, KeysLocked, NotFound, StaleThread
from qiaoqiao.mailbox.keyring import Keyring, unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.staff import login
from qiaoqiao.mailbox.tables import AuditEvent, Letter, Reply
from qiaoqiao.mailbox.threads import follow_up_as_child, reply_as_staff

from conftest import ADMIN_PASSPHRASE, shipped_screeners

WANG_PASSPHRASE = "a quiet river in late autumn"


@dataclass(frozen=True)
class Counsellor:
    user_id: str
    name: str
    keyring: Keyring


@pytest.fixture
def zhang(session, school) -> Counsellor:
    """The admin, who is also a counsellor."""
    keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    return Counsellor(user_id=school.admin.id, name="zhang", keyring=keyring)


@pytest.fixture
def wang(session, school, settings, clock, zhang) -> Counsellor:
    """A second counsellor, invited, with a passphrase of her own and the counsellors' key granted."""
    invitation = invite_user(
        session=session, school=school.school, username="wang", display_name="王老师", roles={"counsellor"},
        kdf=settings.kdf, clock=clock, actor_user_id=zhang.user_id,
    )
    accept_invite(session=session, token=invitation.token, passphrase=WANG_PASSPHRASE, kdf=settings.kdf, clock=clock)
    grant_key(
        session=session, school=school.school, keyring=zhang.keyring, audience_name="counsellors",
        user_id=invitation.user.id, clock=clock, actor_user_id=zhang.user_id,
    )
    unlocked = login(
        session=session, school_id=school.school.id, username="wang", passphrase=WANG_PASSPHRASE, kdf=settings.kdf, clock=clock
    )
    assert unlocked.keyring.has("counsellors") and not unlocked.keyring.has("teachers")
    return Counsellor(user_id=unlocked.user.id, name="王老师", keyring=unlocked.keyring)


@pytest.fixture
def letter(engine, school, settings, clock):
    """A 悄悄话 from Wednesday, read on Friday after the opening; its receipt (letter id and code)."""
    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind="whisper", text="我和同桌吵架了", sender_name="小明"),
            sealing=settings.sealing, clock=clock, screeners=shipped_screeners(),
        )
    clock.advance(days=2, hours=4)  # Friday 14:30 in Beijing: past the opening
    return receipt


def _call(engine, fn: Callable, **kwargs):
    """One domain call in a session of its own, as one web request makes it."""
    with Session(engine, expire_on_commit=False) as session:
        return fn(session=session, **kwargs)


def _claim(engine, school, clock, who: Counsellor, letter_id: str) -> Letter:
    return _call(engine, claim_letter, school=school.school, keyring=who.keyring, letter_id=letter_id, user_id=who.user_id, clock=clock)


def _reply(engine, school, clock, who: Counsellor, letter_id: str, text: str, seen_version: int | None = None):
    return _call(
        engine, reply_as_staff, school=school.school, keyring=who.keyring, letter_id=letter_id, text=text,
        author_kind="counsellor", author_user_id=who.user_id, clock=clock, seen_version=seen_version,
    )


def _open(engine, school, clock, who: Counsellor, letter_id: str):
    return _call(engine, open_letter, school=school.school, keyring=who.keyring, letter_id=letter_id, actor_user_id=who.user_id, clock=clock)


def _stored(engine, letter_id: str) -> Letter:
    with Session(engine) as session:
        return session.get(Letter, letter_id)


def _replies(engine, letter_id: str) -> list[Reply]:
    with Session(engine) as session:
        return list(session.exec(select(Reply).where(Reply.letter_id == letter_id).order_by(col(Reply.created_at))).all())


def _events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))).all())


def _race(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs in threads released at the same instant; each result or the exception it raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except Exception as exc:  # collected and checked by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return results


# --- claims ------------------------------------------------------------------------------


def test_a_claim_keeps_a_colleague_out(engine, school, clock, zhang, wang, letter):
    claimed = _claim(engine, school, clock, zhang, letter.letter_id)
    assert (claimed.claimed_by, claimed.claimed_at.replace(tzinfo=None)) == (zhang.user_id, clock().replace(tzinfo=None))
    with pytest.raises(ClaimedByOther) as refused:
        _claim(engine, school, clock, wang, letter.letter_id)
    assert refused.value.holder == "zhang"
    assert _stored(engine, letter.letter_id).claimed_by == zhang.user_id
    # Claiming again keeps it (and renews it) for the holder.
    clock.advance(minutes=30)
    assert _claim(engine, school, clock, zhang, letter.letter_id).claimed_by == zhang.user_id
    assert [e.actor_user_id for e in _events(engine, "letter.claimed")] == [zhang.user_id, zhang.user_id]
    assert all(e.target_id == letter.letter_id for e in _events(engine, "letter.claimed"))


def test_the_holders_display_name_is_given(engine, school, clock, zhang, wang, letter):
    _claim(engine, school, clock, wang, letter.letter_id)
    with pytest.raises(ClaimedByOther) as refused:
        _claim(engine, school, clock, zhang, letter.letter_id)
    assert refused.value.holder == "王老师"


def test_a_claim_is_stale_after_two_hours(engine, school, clock, zhang, wang, letter):
    assert STALE_AFTER == timedelta(hours=2)
    _claim(engine, school, clock, zhang, letter.letter_id)
    clock.advance(hours=2)  # exactly two hours: still fresh
    with pytest.raises(ClaimedByOther):
        _claim(engine, school, clock, wang, letter.letter_id)
    clock.advance(minutes=1)
    assert _claim(engine, school, clock, wang, letter.letter_id).claimed_by == wang.user_id
    with pytest.raises(ClaimedByOther):
        _claim(engine, school, clock, zhang, letter.letter_id)


def test_giving_a_claim_back(engine, school, clock, zhang, wang, letter):
    _claim(engine, school, clock, zhang, letter.letter_id)
    # Only the holder can give it back.
    _call(engine, release_letter, school=school.school, letter_id=letter.letter_id, user_id=wang.user_id, clock=clock)
    assert _stored(engine, letter.letter_id).claimed_by == zhang.user_id
    _call(engine, release_letter, school=school.school, letter_id=letter.letter_id, user_id=zhang.user_id, clock=clock)
    stored = _stored(engine, letter.letter_id)
    assert (stored.claimed_by, stored.claimed_at) == (None, None)
    assert _claim(engine, school, clock, wang, letter.letter_id).claimed_by == wang.user_id
    assert zhang.user_id in [e.actor_user_id for e in _events(engine, "letter.released")]


def test_claiming_an_unknown_letter_is_not_found(engine, school, clock, zhang):
    with pytest.raises(NotFound):
        _claim(engine, school, clock, zhang, "0" * 32)


def test_two_claims_at_the_same_instant_one_wins(engine, school, clock, zhang, wang, letter):
    for _round in range(3):
        results = _race(
            lambda: _claim(engine, school, clock, zhang, letter.letter_id),
            lambda: _claim(engine, school, clock, wang, letter.letter_id),
        )
        winners = [r for r in results if isinstance(r, Letter)]
        losers = [r for r in results if isinstance(r, ClaimedByOther)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert _stored(engine, letter.letter_id).claimed_by == winners[0].claimed_by
        _call(engine, release_letter, school=school.school, letter_id=letter.letter_id, user_id=winners[0].claimed_by, clock=clock)
    assert len(_events(engine, "letter.claimed")) == 3


def test_two_counsellors_claiming_different_letters_at_once_both_succeed(request, engine, school, settings, clock, zhang, wang, letter):
    with Session(engine, expire_on_commit=False) as session:
        other = submit_letter(
            session=session, school=school.school, form=LetterForm(kind="whisper", text="另一封"), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
    clock.advance(minutes=1)
    for _round in range(10):
        results = _race(
            lambda: _claim(engine, school, clock, zhang, letter.letter_id),
            lambda: _claim(engine, school, clock, wang, other.letter_id),
        )
        assert all(isinstance(r, Letter) for r in results), results
        for who, letter_id in ((zhang, letter.letter_id), (wang, other.letter_id)):
            _call(engine, release_letter, school=school.school, letter_id=letter_id, user_id=who.user_id, clock=clock)


# --- concurrent replies ---------------------------------------------------------------------------


def test_a_reply_after_a_colleagues_reply_without_a_claim_is_stale(engine, school, clock, zhang, wang, letter):
    seen_by_zhang = _open(engine, school, clock, zhang, letter.letter_id).letter.version
    seen_by_wang = _open(engine, school, clock, wang, letter.letter_id).letter.version
    assert seen_by_zhang == seen_by_wang == 0
    _reply(engine, school, clock, zhang, letter.letter_id, "张老师的回信", seen_version=seen_by_zhang)
    clock.advance(hours=2, minutes=1)  # zhang's claim (taken by the reply) is stale: only the version stands in the way
    with pytest.raises(StaleThread):
        _reply(engine, school, clock, wang, letter.letter_id, "王老师的回信", seen_version=seen_by_wang)
    assert [r.author_user_id for r in _replies(engine, letter.letter_id)] == [zhang.user_id]
    assert _stored(engine, letter.letter_id).version == 1


def test_two_counsellors_answer_the_same_version_one_after_the_other(engine, school, clock, zhang, wang, letter):
    seen_by_zhang = _open(engine, school, clock, zhang, letter.letter_id).letter.version
    seen_by_wang = _open(engine, school, clock, wang, letter.letter_id).letter.version
    _reply(engine, school, clock, zhang, letter.letter_id, "张老师的回信", seen_version=seen_by_zhang)
    with pytest.raises(StaleThread):
        _reply(engine, school, clock, wang, letter.letter_id, "王老师的回信", seen_version=seen_by_wang)
    assert len(_replies(engine, letter.letter_id)) == 1


def test_two_counsellors_answer_the_same_version_at_the_same_instant(engine, school, clock, zhang, wang, letter):
    seen = _open(engine, school, clock, zhang, letter.letter_id).letter.version
    assert _open(engine, school, clock, wang, letter.letter_id).letter.version == seen
    results = _race(
        lambda: _reply(engine, school, clock, zhang, letter.letter_id, "张老师的回信", seen_version=seen),
        lambda: _reply(engine, school, clock, wang, letter.letter_id, "王老师的回信", seen_version=seen),
    )
    stored = [r for r in results if isinstance(r, Reply)]
    refused = [r for r in results if not isinstance(r, Reply)]
    assert len(stored) == 1 and len(refused) == 1, results
    # Whoever read the letter before the winner committed is told the thread moved on; one who
    # read it just after sees the winner's claim. Either way nothing of theirs is stored.
    assert isinstance(refused[0], (StaleThread, ClaimedByOther)), refused
    replies = _replies(engine, letter.letter_id)
    assert [r.id for r in replies] == [stored[0].id]
    after = _stored(engine, letter.letter_id)
    assert (after.version, after.status, after.claimed_by) == (1, "replied", stored[0].author_user_id)
    assert len(_events(engine, "letter.replied")) == 1


def test_a_reply_written_before_the_childs_follow_up_is_stale(engine, school, settings, clock, zhang, letter):
    seen = _open(engine, school, clock, zhang, letter.letter_id).letter.version
    clock.advance(minutes=5)
    _call(engine, follow_up_as_child, school=school.school, code=letter.code, text="老师，还有一件事", sealing=settings.sealing, clock=clock)
    with pytest.raises(StaleThread):
        _reply(engine, school, clock, zhang, letter.letter_id, "写在孩子补充之前", seen_version=seen)
    assert [r.author_kind for r in _replies(engine, letter.letter_id)] == ["child"]
    # With the page reloaded (the new version), the reply goes through.
    fresh = _open(engine, school, clock, zhang, letter.letter_id)
    assert fresh.letter.version == seen + 1 and [e.text for e in fresh.entries] == ["老师，还有一件事"]
    clock.advance(minutes=1)
    _reply(engine, school, clock, zhang, letter.letter_id, "看到了你的补充", seen_version=fresh.letter.version)
    assert [r.author_kind for r in _replies(engine, letter.letter_id)] == ["child", "counsellor"]


def test_a_colleagues_fresh_claim_refuses_a_reply(engine, school, clock, zhang, wang, letter):
    _claim(engine, school, clock, wang, letter.letter_id)
    with pytest.raises(ClaimedByOther):
        _reply(engine, school, clock, zhang, letter.letter_id, "我也想回")
    assert _replies(engine, letter.letter_id) == []
    assert _stored(engine, letter.letter_id).version == 0


def test_a_refused_reply_names_the_colleague_like_a_refused_claim(engine, school, clock, zhang, wang, letter):
    _claim(engine, school, clock, wang, letter.letter_id)
    with pytest.raises(ClaimedByOther) as refused:
        _reply(engine, school, clock, zhang, letter.letter_id, "我也想回")
    assert refused.value.holder == "王老师"


def test_only_a_reader_may_claim_or_close_a_letter(engine, school, clock, zhang, letter):
    teachers_id = zhang.keyring.names["teachers"]
    teachers_only = Keyring(
        school_id=zhang.keyring.school_id, keys={teachers_id: zhang.keyring.keypair("teachers")}, names={"teachers": teachers_id}
    )
    class_teacher = Counsellor(user_id=zhang.user_id, name="zhang", keyring=teachers_only)
    with pytest.raises(KeysLocked):
        _claim(engine, school, clock, class_teacher, letter.letter_id)
    with pytest.raises(KeysLocked):
        _set_status(engine, school, clock, class_teacher, letter.letter_id, "closed")
    stored = _stored(engine, letter.letter_id)
    assert (stored.claimed_by, stored.status) == (None, "new")


# --- statuses -----------------------------------------------------------------------------------


def _set_status(engine, school, clock, who: Counsellor, letter_id: str, status: str, follow_up_on: date | None = None) -> Letter:
    return _call(
        engine, set_status, school=school.school, keyring=who.keyring, letter_id=letter_id, status=status,
        follow_up_on=follow_up_on, user_id=who.user_id, clock=clock,
    )


def test_status_moves_new_read_replied_closed_and_each_step_is_audited(engine, school, clock, zhang, letter):
    assert _stored(engine, letter.letter_id).status == "new"
    _open(engine, school, clock, zhang, letter.letter_id)
    assert _stored(engine, letter.letter_id).status == "read"
    _reply(engine, school, clock, zhang, letter.letter_id, "谢谢你告诉老师")
    assert _stored(engine, letter.letter_id).status == "replied"
    _set_status(engine, school, clock, zhang, letter.letter_id, "closed")
    assert _stored(engine, letter.letter_id).status == "closed"
    with Session(engine) as session:
        trail = session.exec(
            select(AuditEvent).where(AuditEvent.target_id == letter.letter_id).order_by(col(AuditEvent.seq))
        ).all()
    assert [(e.action, e.actor_user_id) for e in trail] == [
        ("letter.opened", zhang.user_id),
        ("letter.replied", zhang.user_id),
        ("letter.status", zhang.user_id),
    ]
    assert json.loads(trail[-1].detail) == {"status": "closed"}


def test_opening_a_replied_letter_again_does_not_set_it_back_to_read(engine, school, clock, zhang, letter):
    _reply(engine, school, clock, zhang, letter.letter_id, "回信")
    _open(engine, school, clock, zhang, letter.letter_id)
    assert _stored(engine, letter.letter_id).status == "replied"


def test_a_follow_up_needs_its_day(engine, school, clock, zhang, letter):
    _open(engine, school, clock, zhang, letter.letter_id)
    with pytest.raises(InvalidInput) as refused:
        _set_status(engine, school, clock, zhang, letter.letter_id, "follow_up")
    assert (refused.value.field, refused.value.reason) == ("follow_up_on", "empty")
    assert _stored(engine, letter.letter_id).status == "read"
    assert _events(engine, "letter.status") == []

    _set_status(engine, school, clock, zhang, letter.letter_id, "follow_up", date(2026, 12, 4))
    stored = _stored(engine, letter.letter_id)
    assert (stored.status, stored.follow_up_on) == ("follow_up", date(2026, 12, 4))
    # Leaving follow-up drops the day; a day given for another status is not kept.
    _set_status(engine, school, clock, zhang, letter.letter_id, "closed", date(2026, 12, 11))
    stored = _stored(engine, letter.letter_id)
    assert (stored.status, stored.follow_up_on) == ("closed", None)
    assert [json.loads(e.detail) for e in _events(engine, "letter.status")] == [{"status": "follow_up"}, {"status": "closed"}]


def test_an_unknown_status_is_refused(engine, school, clock, zhang, letter):
    for status in ("deleted", "", "NEW"):
        with pytest.raises(InvalidInput):
            _set_status(engine, school, clock, zhang, letter.letter_id, status)
    assert _stored(engine, letter.letter_id).status == "new"
    with pytest.raises(NotFound):
        _set_status(engine, school, clock, zhang, "f" * 32, "closed")


def test_the_childs_follow_up_brings_a_replied_letter_back(engine, school, settings, clock, zhang, letter):
    _reply(engine, school, clock, zhang, letter.letter_id, "回信")
    _call(engine, follow_up_as_child, school=school.school, code=letter.code, text="谢谢老师", sealing=settings.sealing, clock=clock)
    assert _stored(engine, letter.letter_id).status == "read"
