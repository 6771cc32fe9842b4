"""A teacher corrects a child's record; only for their own class."""

from __future__ import annotations

import pytest

from conftest import ADMIN_PASSPHRASE
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput
from qiaoqiao.mailbox.keyring import unlock_member
from qiaoqiao.mailbox.roster import apply_import, preview_import, save_class, students_of, update_student

ADMIN_ROLES = frozenset({"admin", "counsellor"})


@pytest.fixture
def child(session, school, settings, clock):
    klass = save_class(session=session, school=school.school, name="三(2)班", teacher_user_id=school.admin.id, clock=clock, actor_user_id=school.admin.id)
    table = [{"班级": "三(2)班", "姓名": "王小丫", "监护人姓名": "王奶奶", "与孩子关系": "奶奶", "监护人电话": "13800138000"}]
    preview = preview_import(session=session, school=school.school, table=table, sealing=settings.sealing)
    apply_import(session=session, school=school.school, preview=preview, sealing=settings.sealing, clock=clock, actor_user_id=school.admin.id)
    keyring = unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)
    (view,) = students_of(session, school=school.school, keyring=keyring, user_id=school.admin.id, roles=ADMIN_ROLES)
    return klass, view, keyring


def test_the_class_teacher_corrects_a_phone_in_full_width_digits(session, school, clock, child):
    klass, view, keyring = child
    values = dict(view.record, guardian_phone="１３９ ００１３ ９０００", father_city="东莞")
    update_student(session=session, school=school.school, student_id=view.student.id, values=values, user_id=school.admin.id, roles=frozenset({"teacher"}), clock=clock)
    (after,) = students_of(session, school=school.school, keyring=keyring, user_id=school.admin.id, roles=ADMIN_ROLES)
    assert (after.record["guardian_phone"], after.record["father_city"], after.record["name"]) == ("13900139000", "东莞", "王小丫")


def test_another_teacher_cannot_touch_the_record(session, school, clock, child):
    _klass, view, _keyring = child
    with pytest.raises(Forbidden):
        update_student(session=session, school=school.school, student_id=view.student.id, values=dict(view.record), user_id="someone-else", roles=frozenset({"teacher"}), clock=clock)


def test_a_malformed_phone_is_refused_and_nothing_changes(session, school, clock, child):
    _klass, view, keyring = child
    with pytest.raises(InvalidInput) as refused:
        update_student(session=session, school=school.school, student_id=view.student.id, values=dict(view.record, mother_phone="12345"), user_id=school.admin.id, roles=ADMIN_ROLES, clock=clock)
    assert refused.value.field == "mother_phone"
    (after,) = students_of(session, school=school.school, keyring=keyring, user_id=school.admin.id, roles=ADMIN_ROLES)
    assert after.record["guardian_phone"] == "13800138000"
