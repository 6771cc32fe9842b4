"""First-run setup in the domain: audiences, wraps, the recovery key."""

from __future__ import annotations

import pytest
from sqlmodel import select

from qiaoqiao import crypto
from qiaoqiao.mailbox.errors import AlreadySetUp, InvalidInput, WeakPassphrase
from qiaoqiao.mailbox.keyring import COUNSELLORS, TEACHERS, unlock_member, unlock_with_recovery
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.schools import create_school
from qiaoqiao.mailbox.staff import roles_of
from qiaoqiao.mailbox.tables import Audience, MemberKeyWrap

from conftest import ADMIN_PASSPHRASE, shipped_screeners


def test_setup_creates_both_audiences_and_an_admin_counsellor(session, school):
    audiences = session.exec(select(Audience).where(Audience.school_id == school.school.id)).all()
    assert sorted(a.name for a in audiences) == [COUNSELLORS, TEACHERS]
    assert roles_of(school.admin) == {"admin", "counsellor"}
    wraps = session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == school.admin.id)).all()
    assert len(wraps) == 2
    # The private keys are stored only wrapped: no wrap contains a raw key.
    keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    for wrap in wraps:
        assert keyring.keys[wrap.audience_id].seed not in wrap.wrap


def test_recovery_key_alone_unlocks_the_counsellors_key(session, school, settings, clock):
    receipt = submit_letter(screeners=shipped_screeners(), 
        session=session, school=school.school, form=LetterForm(kind="whisper", text="晚上一个人睡觉有点怕"),
        sealing=settings.sealing, clock=clock,
    )
    # No passphrase involved: only the printed key, typed back in lower case with spaces.
    typed = school.recovery_key.lower().replace("-", " ")
    keyring = unlock_with_recovery(session, school_id=school.school.id, recovery_key=typed)
    assert keyring.has(COUNSELLORS)
    clock.advance(days=3)  # past Friday's opening
    opened = open_letter(
        session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id,
        actor_user_id=school.admin.id, clock=clock,
    )
    assert opened.text == "晚上一个人睡觉有点怕"


def test_a_wrong_recovery_key_opens_nothing(session, school):
    other = crypto.new_recovery_key()
    with pytest.raises(crypto.CannotOpen):
        unlock_with_recovery(session, school_id=school.school.id, recovery_key=other)


def test_a_wrong_passphrase_opens_nothing(session, school):
    with pytest.raises(crypto.CannotOpen):
        unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase="sunflowers face the evening")


@pytest.mark.parametrize(
    "passphrase, reason",
    [("short", "too_short"), ("aaaaaaaaaaaa", "too_repetitive"), ("1234567890", "too_common"), ("qwertyuiop", "too_common")],
)
def test_weak_passphrases_are_refused_and_nothing_is_stored(session, settings, clock, passphrase, reason):
    with pytest.raises(WeakPassphrase) as refused:
        create_school(session=session, name="小学", admin_username="li", admin_passphrase=passphrase, kdf=settings.kdf, clock=clock)
    assert refused.value.reason == reason
    assert session.exec(select(Audience)).first() is None


def test_first_run_setup_happens_once(session, school, settings, clock):
    with pytest.raises(AlreadySetUp):
        create_school(
            session=session, name="第二小学", admin_username="wang", admin_passphrase="another long passphrase",
            kdf=settings.kdf, clock=clock, first_run=True,
        )


def test_a_blank_school_name_is_refused(session, settings, clock):
    with pytest.raises(InvalidInput) as refused:
        create_school(session=session, name="   ", admin_username="li", admin_passphrase=ADMIN_PASSPHRASE, kdf=settings.kdf, clock=clock)
    assert refused.value.field == "school_name"
