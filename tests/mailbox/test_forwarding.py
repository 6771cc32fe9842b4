"""Letters home (两地书): matched to the roster, forwarded by the class teacher, answered by the parent.

Also the family contact log (家校联系) of the same class teacher.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from qiaoqiao import crypto
from qiaoqiao.mailbox import roster
from qiaoqiao.mailbox.accounts import accept_invite, grant_key, invite_user
from qiaoqiao.mailbox.alerts import open_alert_count
from qiaoqiao.mailbox.channels import add_channel
from qiaoqiao.mailbox.contacts import add_contact, contacts_of, month_overview
from qiaoqiao.mailbox.dispatch import plan
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, KeysLocked, NotFound
from qiaoqiao.mailbox.forwarding import LinkGone, find_link, forward, letters_home, open_for_parent, parent_reply, release, revoke
from qiaoqiao.mailbox.keyring import COUNSELLORS, TEACHERS, unlock_member
from qiaoqiao.mailbox.letters import LetterForm, open_letter, submit_letter
from qiaoqiao.mailbox.queue import QueueFilters, build_queue
from qiaoqiao.mailbox.rota import add_slot
from qiaoqiao.mailbox.tables import Alert, AlertDelivery, ContentKeyWrap, Letter, ParentLink
from qiaoqiao.mailbox.threads import open_thread, staff_entries

from conftest import ADMIN_PASSPHRASE, shipped_screeners

PASSPHRASE = "chalk dust on the window sill"
TEACHER = frozenset({"teacher"})
CLASS_A = "三(2)班"
CLASS_B = "四(1)班"
LETTER = "妈妈，我这次数学考了九十八分。奶奶腿疼，晚上我帮她捶背。你过年回来吗？"
REPLY = "好孩子，妈妈看了你的信很高兴。过年一定回来，给你带新书包。"
URGENT_REPLY = "孩子他爸打我 还说要打死我们"


def _table(*children: tuple[str, str, str]) -> list[dict[str, str]]:
    """Rows as read from a spreadsheet: (class, name, guardian phone)."""
    return [{"班级": klass, "姓名": name, "监护人电话": phone} for klass, name, phone in children]


def _person(session, school, settings, clock, admin_keys, username: str, role: str, audience: str):
    invitation = invite_user(
        session=session, school=school.school, username=username, display_name=username, roles={role},
        kdf=settings.kdf, clock=clock, actor_user_id=school.admin.id,
    )
    accept_invite(session=session, token=invitation.token, passphrase=PASSPHRASE, kdf=settings.kdf, clock=clock)
    grant_key(
        session=session, school=school.school, keyring=admin_keys, audience_name=audience, user_id=invitation.user.id,
        clock=clock, actor_user_id=school.admin.id,
    )
    return invitation.user, unlock_member(session, school_id=school.school.id, user_id=invitation.user.id, passphrase=PASSPHRASE)


class Scene:
    """A school with two classes, each with its own class teacher, a counsellor, and three children on the roster."""

    def __init__(self, session, school, settings, clock):
        self.session, self.school, self.settings, self.clock = session, school.school, settings, clock
        self.admin = school.admin
        self.admin_keys = unlock_member(session, school_id=self.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
        self.chen, self.chen_keys = _person(session, school, settings, clock, self.admin_keys, "chen", "teacher", TEACHERS)
        self.zhou, self.zhou_keys = _person(session, school, settings, clock, self.admin_keys, "zhou", "teacher", TEACHERS)
        self.xinli, self.xinli_keys = _person(session, school, settings, clock, self.admin_keys, "xinli", "counsellor", COUNSELLORS)
        self.class_a = roster.save_class(session=session, school=self.school, name=CLASS_A, teacher_user_id=self.chen.id, clock=clock, actor_user_id=self.admin.id)
        self.class_b = roster.save_class(session=session, school=self.school, name=CLASS_B, teacher_user_id=self.zhou.id, clock=clock, actor_user_id=self.admin.id)
        preview = roster.preview_import(
            session=session, school=self.school, sealing=settings.sealing,
            table=_table((CLASS_A, "王小丫", "13800138000"), (CLASS_A, "李小龙", "15011112222"), (CLASS_B, "赵春燕", "17755556666")),
        )
        roster.apply_import(session=session, school=self.school, preview=preview, sealing=settings.sealing, clock=clock, actor_user_id=self.admin.id)
        self.students = {
            v.record["name"]: v.student
            for v in roster.students_of(session, school=self.school, keyring=self.admin_keys, user_id=self.admin.id, roles=frozenset({"admin"}))
        }

    def write_home(self, text: str = LETTER, name: str = "王小丫", klass=None, to: str = "mother"):
        """A child's letter home, written at the kiosk with the class picked from the list."""
        return submit_letter(
            session=self.session, school=self.school, sealing=self.settings.sealing, clock=self.clock, screeners=shipped_screeners(),
            form=LetterForm(kind="parent", text=text, sender_name=name, class_id=(klass or self.class_a).id, addressed_to=to),
        )

    def forward(self, letter_id: str, user=None, keys=None):
        return forward(
            session=self.session, school=self.school, keyring=keys or self.chen_keys, letter_id=letter_id,
            user_id=(user or self.chen).id, roles=TEACHER, clock=self.clock,
        )

    def letter(self, letter_id: str) -> Letter:
        self.session.expire_all()
        return self.session.get(Letter, letter_id)


@pytest.fixture
def scene(session, school, settings, clock) -> Scene:
    return Scene(session, school, settings, clock)


# --- matching a letter to the roster ------------------------------------------------------------


def test_a_letter_home_is_matched_to_the_child_on_the_roster(scene):
    receipt = scene.write_home(name="王 小丫")  # a space typed at the kiosk is no different child
    letter = scene.letter(receipt.letter_id)
    assert (letter.kind, letter.class_id, letter.student_id) == ("parent", scene.class_a.id, scene.students["王小丫"].id)
    assert (letter.forward_status, letter.held) == ("new", False)
    opened = open_letter(
        session=scene.session, school=scene.school, keyring=scene.chen_keys, letter_id=letter.id, actor_user_id=scene.chen.id, clock=scene.clock,
    )
    assert (opened.text, opened.sender_class, opened.addressed_to) == (LETTER, CLASS_A, "mother")


def test_a_letter_from_a_name_not_on_the_roster_waits_unmatched(scene):
    unknown = scene.letter(scene.write_home(name="钱多多").letter_id)
    other_class = scene.letter(scene.write_home(name="赵春燕").letter_id)  # on the roster, but of 四(1)班
    assert unknown.student_id is None and unknown.class_id == scene.class_a.id
    assert other_class.student_id is None
    rows = letters_home(scene.session, school=scene.school, keyring=scene.chen_keys, user_id=scene.chen.id, roles=TEACHER)
    assert sorted(r.sender_name for r in rows) == ["赵春燕", "钱多多"]


def test_a_letter_home_to_a_class_the_school_does_not_have_is_refused(scene):
    with pytest.raises(InvalidInput) as refused:
        submit_letter(
            session=scene.session, school=scene.school, sealing=scene.settings.sealing, clock=scene.clock, screeners=shipped_screeners(),
            form=LetterForm(kind="parent", text=LETTER, sender_name="王小丫", class_id=crypto.new_token()[:32], addressed_to="mother"),
        )
    assert (refused.value.field, refused.value.reason) == ("class_id", "unknown")


def test_each_teacher_lists_only_the_letters_home_of_their_class(scene):
    scene.write_home()
    scene.write_home(name="赵春燕", klass=scene.class_b)
    mine = letters_home(scene.session, school=scene.school, keyring=scene.chen_keys, user_id=scene.chen.id, roles=TEACHER)
    theirs = letters_home(scene.session, school=scene.school, keyring=scene.zhou_keys, user_id=scene.zhou.id, roles=TEACHER)
    assert [(r.class_name, r.sender_name) for r in mine] == [(CLASS_A, "王小丫")]
    assert [(r.class_name, r.sender_name) for r in theirs] == [(CLASS_B, "赵春燕")]


# --- forwarding ---------------------------------------------------------------------------------


def test_the_class_teacher_forwards_a_link_and_an_access_code(scene):
    receipt = scene.write_home()
    forwarded = scene.forward(receipt.letter_id)
    assert len(forwarded.secret) >= 40 and forwarded.access_code.isdigit() and len(forwarded.access_code) == 6
    assert forwarded.link.expires_at == scene.clock() + timedelta(days=30)
    assert scene.letter(receipt.letter_id).forward_status == "forwarded"

    scene.session.expire_all()
    (row,) = scene.session.exec(select(ParentLink).where(ParentLink.letter_id == receipt.letter_id)).all()
    assert row.link_hash == crypto.link_hash(forwarded.secret) and row.access_tag
    for column in (row.link_hash, row.access_tag):
        assert forwarded.secret not in column and forwarded.access_code not in column
    assert forwarded.secret.encode() not in row.key_wrap
    assert find_link(scene.session, secret=forwarded.secret, clock=scene.clock).id == row.id


def test_the_link_secret_is_nowhere_in_the_database(scene, engine, database_url):
    forwarded = scene.forward(scene.write_home().letter_id)
    scene.session.close()
    needle = forwarded.secret.encode()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine.dispose()
        blob = Path(url.database).read_bytes()
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.fail("pg_dump is needed to check a PostgreSQL dump")
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        blob = subprocess.run([pg_dump, "--dbname", libpq, "--format=plain"], capture_output=True, check=True).stdout
    assert b"parent_link" in blob
    assert needle not in blob and needle.hex().encode() not in blob.lower()


def test_the_parent_reads_the_letter_with_the_right_code(scene):
    receipt = scene.write_home()
    forwarded = scene.forward(receipt.letter_id)
    scene.clock.advance(hours=5)
    view = open_for_parent(session=scene.session, secret=forwarded.secret, code=f" {forwarded.access_code} ", clock=scene.clock)
    assert (view.school_name, view.child_name, view.text, view.addressed_to, view.answered) == ("阳光小学", "王小丫", LETTER, "mother", False)
    assert scene.letter(receipt.letter_id).forward_status == "opened"
    link = scene.session.get(ParentLink, forwarded.link.id)
    assert link.opened_at.replace(tzinfo=None) == scene.clock().replace(tzinfo=None)


def test_a_wrong_access_code_shows_nothing(scene):
    receipt = scene.write_home()
    forwarded = scene.forward(receipt.letter_id)
    wrong = f"{(int(forwarded.access_code) + 1) % 10**6:06d}"
    for typed in (wrong, "", forwarded.access_code[:5], forwarded.secret):
        with pytest.raises(InvalidInput) as refused:
            open_for_parent(session=scene.session, secret=forwarded.secret, code=typed, clock=scene.clock)
        assert (refused.value.field, refused.value.reason) == ("access_code", "wrong")
    with pytest.raises(InvalidInput):
        parent_reply(session=scene.session, secret=forwarded.secret, code=wrong, text=REPLY, screeners=shipped_screeners(), clock=scene.clock)
    assert scene.letter(receipt.letter_id).forward_status == "forwarded"
    assert scene.session.get(ParentLink, forwarded.link.id).opened_at is None


def test_the_parent_writes_back_and_the_child_reads_it_with_the_pickup_code(scene):
    receipt = scene.write_home()
    forwarded = scene.forward(receipt.letter_id)
    open_for_parent(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, clock=scene.clock)
    scene.clock.advance(hours=1)
    level = parent_reply(
        session=scene.session, secret=forwarded.secret, code=forwarded.access_code, text=REPLY, screeners=shipped_screeners(), clock=scene.clock,
    )
    assert level == 0
    assert scene.letter(receipt.letter_id).forward_status == "answered"

    thread = open_thread(session=scene.session, school=scene.school, code=receipt.code, sealing=scene.settings.sealing, clock=scene.clock)
    assert thread.text == LETTER and thread.has_reply
    assert [(e.author_kind, e.text) for e in thread.entries] == [("parent", REPLY)]
    # The class teacher reads it too; the parent sees that they have answered.
    entries = staff_entries(scene.session, school=scene.school, keyring=scene.chen_keys, letter_id=receipt.letter_id)
    assert [(e.author_kind, e.text, e.read_at is not None) for e in entries] == [("parent", REPLY, True)]
    again = open_for_parent(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, clock=scene.clock)
    assert again.answered


def test_a_reply_that_screens_urgent_reaches_the_counsellors_and_is_routed(scene):
    add_channel(
        session=scene.session, school=scene.school, kind="email", target="xinli@example.org", secret="", label="心理老师",
        user_id=scene.xinli.id, server_key=scene.settings.secret_key.reveal(), clock=scene.clock, actor_user_id=scene.admin.id,
    )
    add_slot(
        session=scene.session, school=scene.school, user_id=scene.xinli.id, weekday=-1, start_minute=0, end_minute=24 * 60,
        clock=scene.clock, actor_user_id=scene.admin.id,
    )
    receipt = scene.write_home()
    forwarded = scene.forward(receipt.letter_id)
    with pytest.raises(KeysLocked):  # before: a letter home is for the teachers only
        open_letter(session=scene.session, school=scene.school, keyring=scene.xinli_keys, letter_id=receipt.letter_id, actor_user_id=scene.xinli.id, clock=scene.clock)

    level = parent_reply(
        session=scene.session, secret=forwarded.secret, code=forwarded.access_code, text=URGENT_REPLY, screeners=shipped_screeners(), clock=scene.clock,
    )
    assert level >= 2
    letter = scene.letter(receipt.letter_id)
    assert letter.level == level and "abuse" in letter.categories and letter.forward_status == "answered"

    (alert,) = scene.session.exec(select(Alert).where(Alert.letter_id == letter.id)).all()
    assert (alert.level, alert.source, alert.status) == (level, "parent reply", "waiting")
    assert open_alert_count(scene.session, school_id=scene.school.id) == 1

    # Wrapped for the counsellors: the counsellor reads the letter and the reply with the counsellors' key alone.
    opened = open_letter(
        session=scene.session, school=scene.school, keyring=scene.xinli_keys, letter_id=letter.id, actor_user_id=scene.xinli.id, clock=scene.clock,
    )
    assert opened.text == LETTER and [(e.author_kind, e.text) for e in opened.entries] == [("parent", URGENT_REPLY)]
    queue = build_queue(session=scene.session, school=scene.school, keyring=scene.xinli_keys, filters=QueueFilters(), clock=scene.clock)
    assert queue.items[0].letter.id == letter.id

    # Routed: the dispatcher sends it to the counsellor on duty, through their channel.
    assert plan(scene.session, now=scene.clock()) == 1
    scene.session.expire_all()
    assert scene.session.get(Alert, alert.id).status == "alerting"
    deliveries = scene.session.exec(select(AlertDelivery).where(AlertDelivery.alert_id == alert.id)).all()
    assert [d.user_id for d in deliveries] == [scene.xinli.id]
    # And the child still reads it with the pickup code.
    thread = open_thread(session=scene.session, school=scene.school, code=receipt.code, sealing=scene.settings.sealing, clock=scene.clock)
    assert [e.text for e in thread.entries] == [URGENT_REPLY]


def test_an_expired_link_is_gone(scene):
    forwarded = scene.forward(scene.write_home().letter_id)
    scene.clock.advance(days=29, hours=23)
    open_for_parent(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, clock=scene.clock)
    scene.clock.advance(days=1, hours=2)  # 31 days after forwarding
    with pytest.raises(LinkGone):
        find_link(scene.session, secret=forwarded.secret, clock=scene.clock)
    with pytest.raises(LinkGone):
        open_for_parent(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, clock=scene.clock)
    with pytest.raises(LinkGone):
        parent_reply(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, text=REPLY, screeners=shipped_screeners(), clock=scene.clock)


def test_a_revoked_link_is_gone_and_a_new_one_works(scene):
    receipt = scene.write_home()
    first = scene.forward(receipt.letter_id)
    revoke(session=scene.session, school=scene.school, link_id=first.link.id, user_id=scene.chen.id, roles=TEACHER, clock=scene.clock)
    with pytest.raises(LinkGone):
        open_for_parent(session=scene.session, secret=first.secret, code=first.access_code, clock=scene.clock)
    with pytest.raises(LinkGone):
        parent_reply(session=scene.session, secret=first.secret, code=first.access_code, text=REPLY, screeners=shipped_screeners(), clock=scene.clock)
    second = scene.forward(receipt.letter_id)
    assert second.secret != first.secret
    assert open_for_parent(session=scene.session, secret=second.secret, code=second.access_code, clock=scene.clock).text == LETTER
    if first.access_code != second.access_code:  # one time in a million they are the same
        with pytest.raises(InvalidInput):
            open_for_parent(session=scene.session, secret=second.secret, code=first.access_code, clock=scene.clock)


def test_a_guessed_secret_finds_nothing(scene):
    scene.forward(scene.write_home().letter_id)
    guess = crypto.new_link_secret()
    with pytest.raises(NotFound):
        find_link(scene.session, secret=guess, clock=scene.clock)
    with pytest.raises(NotFound):
        open_for_parent(session=scene.session, secret=guess, code="123456", clock=scene.clock)
    with pytest.raises(NotFound):
        parent_reply(session=scene.session, secret=guess, code="123456", text=REPLY, screeners=shipped_screeners(), clock=scene.clock)


def test_the_teacher_of_another_class_may_not_forward_or_revoke(scene):
    receipt = scene.write_home()
    with pytest.raises(Forbidden):
        scene.forward(receipt.letter_id, user=scene.zhou, keys=scene.zhou_keys)
    forwarded = scene.forward(receipt.letter_id)
    with pytest.raises(Forbidden):
        revoke(session=scene.session, school=scene.school, link_id=forwarded.link.id, user_id=scene.zhou.id, roles=TEACHER, clock=scene.clock)
    assert scene.session.get(ParentLink, forwarded.link.id).revoked_at is None
    # Nor may a counsellor who is not the class teacher.
    with pytest.raises(Forbidden):
        forward(
            session=scene.session, school=scene.school, keyring=scene.xinli_keys, letter_id=receipt.letter_id, user_id=scene.xinli.id,
            roles=frozenset({"counsellor"}), clock=scene.clock,
        )
    assert len(scene.session.exec(select(ParentLink).where(ParentLink.letter_id == receipt.letter_id)).all()) == 1


def test_a_letter_held_by_screening_waits_for_a_counsellor(scene):
    receipt = scene.write_home(text="爷爷喝醉了就打我，用皮带抽，我身上都是伤")
    letter = scene.letter(receipt.letter_id)
    assert letter.level >= 2 and letter.held
    wrapped = set(scene.session.exec(select(ContentKeyWrap.recipient_id).where(ContentKeyWrap.record_id == letter.id, ContentKeyWrap.recipient_type == "audience")).all())
    assert len(wrapped) == 2  # the teachers and the counsellors

    with pytest.raises(Forbidden) as held:
        scene.forward(receipt.letter_id)
    assert str(held.value) == "held"
    assert scene.session.exec(select(ParentLink).where(ParentLink.letter_id == letter.id)).first() is None
    with pytest.raises(KeysLocked):  # the class teacher cannot release it themselves
        release(session=scene.session, school=scene.school, keyring=scene.chen_keys, letter_id=letter.id, actor_user_id=scene.chen.id, clock=scene.clock)

    release(session=scene.session, school=scene.school, keyring=scene.xinli_keys, letter_id=letter.id, actor_user_id=scene.xinli.id, clock=scene.clock)
    assert not scene.letter(receipt.letter_id).held
    forwarded = scene.forward(receipt.letter_id)
    assert open_for_parent(session=scene.session, secret=forwarded.secret, code=forwarded.access_code, clock=scene.clock).text.startswith("爷爷")


# --- the family contact log ---------------------------------------------------------------------


def _contact(scene, name: str, on: date, channel: str = "phone", note: str = "", user=None):
    return add_contact(
        session=scene.session, school=scene.school, student_id=scene.students[name].id, on=on, channel=channel, note=note,
        user_id=(user or scene.chen).id, roles=TEACHER, clock=scene.clock,
    )


def _overview(scene, klass=None, user=None, keys=None):
    return month_overview(
        scene.session, school=scene.school, keyring=keys or scene.chen_keys, class_id=(klass or scene.class_a).id,
        user_id=(user or scene.chen).id, roles=TEACHER, clock=scene.clock,
    )


def test_the_month_overview_lists_uncontacted_families_first(scene):
    assert [(r.view.record["name"], r.last_contact) for r in _overview(scene)] == [("李小龙", None), ("王小丫", None)]
    _contact(scene, "李小龙", date(2026, 10, 28), note="上个月")  # last month does not count
    _contact(scene, "李小龙", date(2026, 11, 3), channel="wechat")
    _contact(scene, "李小龙", date(2026, 11, 20), channel="visit", note="家访：奶奶身体不好，孩子按时上学")
    rows = _overview(scene)
    assert [(r.view.record["name"], r.last_contact, r.contacted_this_month) for r in rows] == [
        ("王小丫", None, False), ("李小龙", date(2026, 11, 20), True),
    ]
    contacts = contacts_of(scene.session, school=scene.school, keyring=scene.chen_keys, student_id=scene.students["李小龙"].id, user_id=scene.chen.id, roles=TEACHER)
    assert [(c.on, c.channel, c.note) for c in contacts] == [
        (date(2026, 11, 20), "visit", "家访：奶奶身体不好，孩子按时上学"), (date(2026, 11, 3), "wechat", ""), (date(2026, 10, 28), "phone", "上个月"),
    ]


def test_another_class_s_family_is_forbidden(scene):
    with pytest.raises(Forbidden):
        _contact(scene, "赵春燕", date(2026, 11, 24))
    with pytest.raises(Forbidden):
        contacts_of(scene.session, school=scene.school, keyring=scene.chen_keys, student_id=scene.students["赵春燕"].id, user_id=scene.chen.id, roles=TEACHER)
    with pytest.raises(Forbidden):
        _overview(scene, klass=scene.class_b)


def test_a_contact_in_the_future_or_by_an_unknown_way_is_refused(scene):
    with pytest.raises(InvalidInput) as future:
        _contact(scene, "王小丫", date(2026, 11, 26))
    assert (future.value.field, future.value.reason) == ("date", "future")
    with pytest.raises(InvalidInput) as channel:
        _contact(scene, "王小丫", date(2026, 11, 25), channel="carrier pigeon")
    assert (channel.value.field, channel.value.reason) == ("channel", "unknown")
    _contact(scene, "王小丫", date(2026, 11, 25))  # today is fine
    assert _overview(scene)[-1].last_contact == date(2026, 11, 25)


def test_early_in_the_morning_today_is_not_the_future(scene):
    scene.clock.now = datetime(2026, 11, 25, 23, 30, tzinfo=timezone.utc)  # Thursday 26 November, 07:30 in Beijing
    _contact(scene, "王小丫", date(2026, 11, 26), note="早上家长打来电话")
    assert _overview(scene)[-1].last_contact == date(2026, 11, 26)


def test_on_the_first_of_the_month_last_month_s_contacts_do_not_count(scene):
    _contact(scene, "王小丫", date(2026, 11, 25))
    scene.clock.now = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)  # Tuesday 1 December, 07:00 in Beijing
    assert [(r.view.record["name"], r.contacted_this_month) for r in _overview(scene)] == [("李小龙", False), ("王小丫", False)]


def test_a_code_typed_in_full_width_digits_opens_the_letter(session, school, settings, clock):
    from qiaoqiao.mailbox.forwarding import forward, open_for_parent
    from qiaoqiao.mailbox.keyring import unlock_member
    from qiaoqiao.mailbox.letters import LetterForm, submit_letter
    from conftest import ADMIN_PASSPHRASE, shipped_screeners

    receipt = submit_letter(
        screeners=shipped_screeners(), session=session, school=school.school,
        form=LetterForm(kind="parent", text="妈妈我考了一百分", sender_name="小红", sender_class="三(2)班", addressed_to="mother"),
        sealing=settings.sealing, clock=clock,
    )
    keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    sent = forward(session=session, school=school.school, keyring=keyring, letter_id=receipt.letter_id, user_id=school.admin.id,
                   roles=frozenset({"admin", "counsellor"}), clock=clock)
    wide = "".join(chr(ord(d) - ord("0") + ord("０")) for d in sent.access_code)
    assert open_for_parent(session=session, secret=sent.secret, code=f" {wide[:3]} {wide[3:]} ", clock=clock).text == "妈妈我考了一百分"
