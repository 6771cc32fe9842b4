"""Staff accounts: invitations, passphrases, key grants, resets, switching off, the recovery key, logging in."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.accounts import (
    INVITE_DAYS,
    accept_invite,
    grant_key,
    invite_user,
    list_members,
    recover_keys,
    reset_user,
    set_disabled,
    user_by_invite,
)
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, KeysLocked, LoginFailed, NotFound, WeakPassphrase
from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.staff import login
from qiaoqiao.mailbox.staff_sessions import check_session, start_session
from qiaoqiao.mailbox.tables import AuditEvent, MemberKeyWrap, StaffSessionRow, StaffUser

from conftest import ADMIN_PASSPHRASE, shipped_screeners

LIU_PASSPHRASE = "the swallows come back in spring"
IDLE = timedelta(minutes=30)


def _call(engine, fn: Callable, **kwargs):
    with Session(engine, expire_on_commit=False) as session:
        return fn(session=session, **kwargs)


@pytest.fixture
def admin_keyring(session, school):
    return unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)


def _invite(engine, school, settings, clock, username="liu", roles=("counsellor",), display_name="刘老师"):
    return _call(
        engine, invite_user, school=school.school, username=username, display_name=display_name, roles=set(roles),
        kdf=settings.kdf, clock=clock, actor_user_id=school.admin.id,
    )


def _accept(engine, settings, clock, token, passphrase=LIU_PASSPHRASE):
    return _call(engine, accept_invite, token=token, passphrase=passphrase, kdf=settings.kdf, clock=clock)


def _login(engine, school, settings, clock, username="liu", passphrase=LIU_PASSPHRASE):
    return _call(engine, login, school_id=school.school.id, username=username, passphrase=passphrase, kdf=settings.kdf, clock=clock)


def _grant(engine, school, clock, keyring, user_id, audience="counsellors", actor=None):
    return _call(
        engine, grant_key, school=school.school, keyring=keyring, audience_name=audience, user_id=user_id, clock=clock,
        actor_user_id=actor or school.admin.id,
    )


def _user(engine, user_id) -> StaffUser:
    with Session(engine) as session:
        return session.get(StaffUser, user_id)


def _events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))).all())


def _wraps(engine, user_id) -> list[MemberKeyWrap]:
    with Session(engine) as session:
        return list(session.exec(select(MemberKeyWrap).where(MemberKeyWrap.user_id == user_id)).all())


def _whisper(engine, school, settings, clock, text="老师，我想家了") -> str:
    with Session(engine, expire_on_commit=False) as session:
        receipt = submit_letter(
            session=session, school=school.school, form=LetterForm(kind="whisper", text=text), sealing=settings.sealing,
            clock=clock, screeners=shipped_screeners(),
        )
    return receipt.letter_id


def test_invite_accept_login_grant_read(engine, school, settings, clock, admin_keyring):
    letter_id = _whisper(engine, school, settings, clock)
    invitation = _invite(engine, school, settings, clock)
    pending = _user(engine, invitation.user.id)
    assert (pending.passphrase_hash, pending.public_key, pending.display_name) == (None, None, "刘老师")
    assert invitation.token not in (pending.invite_hash or "")  # only a hash of the link is kept
    with pytest.raises(LoginFailed):
        _login(engine, school, settings, clock, passphrase="")

    # A weak passphrase is refused and changes nothing.
    for weak, reason in (("short", "too_short"), ("1234567890", "too_common"), ("aaaaaaaaab", "too_repetitive")):
        with pytest.raises(WeakPassphrase) as refused:
            _accept(engine, settings, clock, invitation.token, weak)
        assert refused.value.reason == reason
    unchanged = _user(engine, invitation.user.id)
    assert (unchanged.passphrase_hash, unchanged.public_key, unchanged.invite_hash) == (None, None, pending.invite_hash)
    assert _events(engine, "user.passphrase_set") == []

    clock.advance(minutes=5)
    _accept(engine, settings, clock, invitation.token)
    accepted = _user(engine, invitation.user.id)
    assert accepted.passphrase_hash and accepted.public_key and accepted.invite_hash is None
    with pytest.raises(NotFound):  # a link works once
        _accept(engine, settings, clock, invitation.token, "another long passphrase here")

    # Logged in, but holding no key: the letter stays shut.
    unlocked = _login(engine, school, settings, clock)
    assert unlocked.user.id == invitation.user.id and unlocked.keyring.names == {}
    clock.advance(days=3)  # past Friday's opening
    with pytest.raises(KeysLocked):
        _call(engine, open_letter, school=school.school, keyring=unlocked.keyring, letter_id=letter_id, actor_user_id=unlocked.user.id, clock=clock)
    member = next(m for m in _call(engine, list_members, school=school.school) if m.user.id == invitation.user.id)
    assert member.missing_keys() == ["counsellors"] and not member.pending

    # A counsellor grants the counsellors' key; the next login unlocks it.
    _grant(engine, school, clock, admin_keyring, invitation.user.id)
    granted = _login(engine, school, settings, clock)
    assert granted.keyring.has("counsellors") and not granted.keyring.has("teachers")
    opened = _call(engine, open_letter, school=school.school, keyring=granted.keyring, letter_id=letter_id, actor_user_id=granted.user.id, clock=clock)
    assert opened.text == "老师，我想家了"

    events = _events(engine, "key.granted")
    assert [(e.actor_user_id, e.target_type, e.target_id, json.loads(e.detail)) for e in events] == [
        (school.admin.id, "user", invitation.user.id, {"audience": "counsellors"})
    ]
    assert [w.granted_by for w in _wraps(engine, invitation.user.id)] == [school.admin.id]
    assert [e.target_id for e in _events(engine, "user.invited")] == [invitation.user.id]
    assert [e.actor_user_id for e in _events(engine, "user.passphrase_set")] == [invitation.user.id]


def test_a_colleague_who_was_granted_a_key_can_grant_it_on(engine, school, settings, clock, admin_keyring):
    liu = _invite(engine, school, settings, clock)
    _accept(engine, settings, clock, liu.token)
    _grant(engine, school, clock, admin_keyring, liu.user.id)
    liu_keyring = _login(engine, school, settings, clock).keyring
    chen = _invite(engine, school, settings, clock, username="chen", display_name="陈老师")
    _accept(engine, settings, clock, chen.token, "green tea on a rainy morning")
    _grant(engine, school, clock, liu_keyring, chen.user.id, actor=liu.user.id)
    assert _login(engine, school, settings, clock, "chen", "green tea on a rainy morning").keyring.has("counsellors")
    assert [e.actor_user_id for e in _events(engine, "key.granted")] == [school.admin.id, liu.user.id]
    # Nobody grants a key they do not hold.
    with pytest.raises(KeysLocked):
        _grant(engine, school, clock, liu_keyring, chen.user.id, audience="teachers", actor=liu.user.id)


def test_an_invitation_ends_after_seven_days(engine, school, settings, clock):
    invitation = _invite(engine, school, settings, clock)
    clock.advance(days=INVITE_DAYS, hours=-1)
    assert _call(engine, user_by_invite, token=invitation.token, clock=clock).id == invitation.user.id
    clock.advance(days=1, hours=1)  # eight days after the invitation
    with pytest.raises(NotFound):
        _call(engine, user_by_invite, token=invitation.token, clock=clock)
    with pytest.raises(NotFound):
        _accept(engine, settings, clock, invitation.token)
    assert _user(engine, invitation.user.id).passphrase_hash is None


def test_an_unknown_invitation_is_not_found(engine, school, settings, clock):
    with pytest.raises(NotFound):
        _accept(engine, settings, clock, crypto.new_token())


def test_a_teacher_cannot_hold_the_counsellors_key(engine, school, settings, clock, admin_keyring):
    teacher = _invite(engine, school, settings, clock, username="zhao", roles=("teacher",), display_name="赵老师")
    _accept(engine, settings, clock, teacher.token, "my class loves the school garden")
    with pytest.raises(Forbidden):
        _grant(engine, school, clock, admin_keyring, teacher.user.id, audience="counsellors")
    assert _wraps(engine, teacher.user.id) == [] and _events(engine, "key.granted") == []
    _grant(engine, school, clock, admin_keyring, teacher.user.id, audience="teachers")
    keyring = _login(engine, school, settings, clock, "zhao", "my class loves the school garden").keyring
    assert keyring.has("teachers") and not keyring.has("counsellors")


def test_a_key_cannot_be_granted_before_the_passphrase_is_chosen(engine, school, settings, clock, admin_keyring):
    pending = _invite(engine, school, settings, clock)
    with pytest.raises(InvalidInput) as refused:
        _grant(engine, school, clock, admin_keyring, pending.user.id)
    assert refused.value.reason == "not_ready"
    with pytest.raises(NotFound):
        _grant(engine, school, clock, admin_keyring, "0" * 32)


def test_invitations_refuse_bad_user_names_and_roles(engine, school, settings, clock):
    for username, roles, field, reason in (
        ("zhang", ("counsellor",), "username", "taken"),
        ("ZHANG ", ("counsellor",), "username", "taken"),
        ("<script>", ("counsellor",), "username", "malformed"),
        ("new.one", (), "roles", "empty"),
        ("new.one", ("root",), "roles", "unknown"),
    ):
        with pytest.raises(InvalidInput) as refused:
            _invite(engine, school, settings, clock, username=username, roles=roles)
        assert (refused.value.field, refused.value.reason) == (field, reason)
    with Session(engine) as session:
        assert [u.username for u in session.exec(select(StaffUser)).all()] == ["zhang"]


def test_a_reset_drops_keys_and_sessions_and_a_new_link_works(engine, school, settings, clock, admin_keyring):
    liu = _invite(engine, school, settings, clock)
    _accept(engine, settings, clock, liu.token)
    _grant(engine, school, clock, admin_keyring, liu.user.id)
    token = _call(engine, start_session, school_id=school.school.id, user_id=liu.user.id, clock=clock)
    assert _call(engine, check_session, token=token, idle=IDLE, clock=clock) is not None

    clock.advance(days=30)
    reset = _call(engine, reset_user, school=school.school, user_id=liu.user.id, clock=clock, actor_user_id=school.admin.id)
    assert reset.token != liu.token
    assert _wraps(engine, liu.user.id) == []
    assert _call(engine, check_session, token=token, idle=IDLE, clock=clock) is None
    with pytest.raises(LoginFailed):
        _login(engine, school, settings, clock)
    assert [e.target_id for e in _events(engine, "user.reset")] == [liu.user.id]

    _accept(engine, settings, clock, reset.token, "a brand new sentence for liu")
    again = _login(engine, school, settings, clock, passphrase="a brand new sentence for liu")
    assert again.keyring.names == {}  # keys come back only by a new grant
    with pytest.raises(LoginFailed):
        _login(engine, school, settings, clock)  # the old passphrase is gone
    _grant(engine, school, clock, admin_keyring, liu.user.id)
    assert _login(engine, school, settings, clock, passphrase="a brand new sentence for liu").keyring.has("counsellors")


def test_the_recovery_key_unlocks_everything_and_is_audited(engine, school, settings, clock):
    letter_id = _whisper(engine, school, settings, clock, "用恢复密钥也能读")
    with pytest.raises(crypto.CannotOpen):
        _call(engine, recover_keys, school=school.school, recovery_key=crypto.new_recovery_key(), actor_user_id=school.admin.id, clock=clock)
    assert _events(engine, "recovery.used") == []

    keyring = _call(engine, recover_keys, school=school.school, recovery_key=school.recovery_key, actor_user_id=school.admin.id, clock=clock)
    assert keyring.has("counsellors") and keyring.has("teachers")
    assert [e.actor_user_id for e in _events(engine, "recovery.used")] == [school.admin.id]
    clock.advance(days=3)
    opened = _call(engine, open_letter, school=school.school, keyring=keyring, letter_id=letter_id, actor_user_id=school.admin.id, clock=clock)
    assert opened.text == "用恢复密钥也能读"
    # And its keys can be granted to someone whose own keys were lost.
    liu = _invite(engine, school, settings, clock)
    _accept(engine, settings, clock, liu.token)
    _grant(engine, school, clock, keyring, liu.user.id)
    assert _login(engine, school, settings, clock).keyring.has("counsellors")


def test_switching_an_account_off_ends_its_sessions_and_its_logins(engine, school, settings, clock, admin_keyring):
    liu = _invite(engine, school, settings, clock)
    _accept(engine, settings, clock, liu.token)
    _login(engine, school, settings, clock)
    tokens = [_call(engine, start_session, school_id=school.school.id, user_id=liu.user.id, clock=clock) for _ in range(2)]
    admin_token = _call(engine, start_session, school_id=school.school.id, user_id=school.admin.id, clock=clock)

    _call(engine, set_disabled, school=school.school, user_id=liu.user.id, disabled=True, clock=clock, actor_user_id=school.admin.id)
    assert all(_call(engine, check_session, token=t, idle=IDLE, clock=clock) is None for t in tokens)
    assert _call(engine, check_session, token=admin_token, idle=IDLE, clock=clock) is not None
    with pytest.raises(LoginFailed):
        _login(engine, school, settings, clock)
    with pytest.raises(InvalidInput):
        _grant(engine, school, clock, admin_keyring, liu.user.id)
    assert [e.target_id for e in _events(engine, "user.disabled")] == [liu.user.id]

    _call(engine, set_disabled, school=school.school, user_id=liu.user.id, disabled=False, clock=clock, actor_user_id=school.admin.id)
    assert _login(engine, school, settings, clock).user.id == liu.user.id
    assert all(_call(engine, check_session, token=t, idle=IDLE, clock=clock) is None for t in tokens)  # old sessions stay ended


def test_an_admin_cannot_switch_themself_off(engine, school, clock):
    with pytest.raises(Forbidden):
        _call(engine, set_disabled, school=school.school, user_id=school.admin.id, disabled=True, clock=clock, actor_user_id=school.admin.id)
    assert not _user(engine, school.admin.id).disabled


def test_a_disabled_users_invitation_link_does_not_work(engine, school, settings, clock):
    liu = _invite(engine, school, settings, clock)
    _call(engine, set_disabled, school=school.school, user_id=liu.user.id, disabled=True, clock=clock, actor_user_id=school.admin.id)
    with pytest.raises(NotFound):
        _accept(engine, settings, clock, liu.token)


def test_a_login_never_says_whether_the_user_exists(engine, school, settings, clock):
    liu = _invite(engine, school, settings, clock)  # invited: no passphrase yet
    disabled = _invite(engine, school, settings, clock, username="off")
    _accept(engine, settings, clock, disabled.token, "this account will be off")
    _call(engine, set_disabled, school=school.school, user_id=disabled.user.id, disabled=True, clock=clock, actor_user_id=school.admin.id)

    failures = []
    for username, passphrase in (
        ("nobody", ADMIN_PASSPHRASE),  # unknown user
        ("zhang", "sunflowers face the evening"),  # wrong passphrase
        ("zhang", ""),
        ("liu", LIU_PASSPHRASE),  # invited, no passphrase chosen
        ("off", "this account will be off"),  # switched off
        ("", ""),
        ("<bad name>", "x"),
    ):
        with pytest.raises(LoginFailed) as refused:
            _login(engine, school, settings, clock, username, passphrase)
        failures.append((type(refused.value), str(refused.value), refused.value.args))
    assert len(set(failures)) == 1, failures
    # The right passphrase in another school is no way in either.
    with pytest.raises(LoginFailed):
        _call(engine, login, school_id="0" * 32, username="zhang", passphrase=ADMIN_PASSPHRASE, kdf=settings.kdf, clock=clock)
    assert _login(engine, school, settings, clock, "  ZHANG ", ADMIN_PASSPHRASE).user.id == school.admin.id
    assert liu.user.id  # (still pending, untouched)


def test_a_failed_login_of_a_real_user_is_audited_without_the_guess(engine, school, settings, clock):
    with pytest.raises(LoginFailed):
        _login(engine, school, settings, clock, "zhang", "my secret guess 12345")
    events = _events(engine, "login.failed")
    assert [e.actor_user_id for e in events] == [school.admin.id]
    assert "secret guess" not in events[0].detail
    with Session(engine) as session:
        assert session.exec(select(StaffSessionRow)).all() == []
