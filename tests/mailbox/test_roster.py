"""The roster (留守儿童档案): spreadsheets in and out, every bad row named, everything sealed."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from qiaoqiao.intake.qr import qr_png
from qiaoqiao.mailbox import roster
from qiaoqiao.mailbox.accounts import accept_invite, grant_key, invite_user
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput
from qiaoqiao.mailbox.keyring import TEACHERS, unlock_member
from qiaoqiao.mailbox.roster import RowProblem
from qiaoqiao.mailbox.tables import AuditEvent, Student

from conftest import ADMIN_PASSPHRASE

HEADER = [header for header, _ in roster.COLUMNS]
KEY_OF = {key: header for header, key in roster.COLUMNS}
ADMIN_ROLES = frozenset({"admin", "counsellor"})
TEACHER_PASSPHRASE = "chalk dust on the window sill"

CLASS_A = "三(2)班"
CLASS_B = "四(1)班"

# Two children of 三(2)班 and one of 四(1)班, with everything the school records.
WANG = {
    "class": CLASS_A, "name": "王小丫", "guardian_name": "王奶奶", "guardian_relation": "祖母", "guardian_phone": "13800138000",
    "address": "石门村三组17号", "father_name": "王建国", "father_phone": "13912345678", "father_city": "东莞",
    "father_workplace": "长安镇电子厂", "mother_name": "刘秀英", "mother_phone": "13698765432", "mother_city": "深圳",
    "mother_workplace": "宝安制衣厂", "notes": "晚上怕黑",
}
LI = {
    "class": CLASS_A, "name": "李小龙", "guardian_name": "李爷爷", "guardian_relation": "祖父", "guardian_phone": "15011112222",
    "address": "石门村五组3号", "father_name": "李大山", "father_phone": "18633334444", "father_city": "杭州",
    "father_workplace": "萧山工地", "mother_name": "", "mother_phone": "", "mother_city": "", "mother_workplace": "", "notes": "",
}
ZHAO = {
    "class": CLASS_B, "name": "赵春燕", "guardian_name": "赵外婆", "guardian_relation": "外祖母", "guardian_phone": "0734-8123456",
    "address": "河口镇", "father_name": "", "father_phone": "", "father_city": "", "father_workplace": "",
    "mother_name": "孙丽", "mother_phone": "17755556666", "mother_city": "广州", "mother_workplace": "白云区服装厂", "notes": "",
}
CHILDREN = (WANG, LI, ZHAO)


# --- building spreadsheets ----------------------------------------------------------------------


def _cells(record: dict) -> list[str]:
    return [record.get(key, "") for _, key in roster.COLUMNS]


def _csv(*records: dict, header=HEADER, encoding: str = "utf-8", extra_rows=()) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for record in records:
        writer.writerow(_cells(record) if isinstance(record, dict) else record)
    for row in extra_rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


def _xlsx(*rows: list) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _stored(record: dict) -> dict:
    """The record as the roster keeps it: phones folded to plain ASCII digits."""
    return {key: roster.clean_phone(value) if key in roster.PHONES else value for key, value in record.items()}


# --- the school's classes and people ------------------------------------------------------------


@pytest.fixture
def classes(session, school, clock):
    made = {
        name: roster.save_class(
            session=session, school=school.school, name=name, teacher_user_id=None, clock=clock, actor_user_id=school.admin.id,
        )
        for name in (CLASS_A, CLASS_B)
    }
    return made


@pytest.fixture
def admin_keys(session, school):
    return unlock_member(session, school_id=school.school.id, user_id=school.admin.id, passphrase=ADMIN_PASSPHRASE)


def _teacher(session, school, settings, clock, admin_keys, username: str):
    """A class teacher invited by the admin, passphrase chosen, the teachers' key granted."""
    invitation = invite_user(
        session=session, school=school.school, username=username, display_name=username, roles={"teacher"},
        kdf=settings.kdf, clock=clock, actor_user_id=school.admin.id,
    )
    accept_invite(session=session, token=invitation.token, passphrase=TEACHER_PASSPHRASE, kdf=settings.kdf, clock=clock)
    grant_key(
        session=session, school=school.school, keyring=admin_keys, audience_name=TEACHERS, user_id=invitation.user.id,
        clock=clock, actor_user_id=school.admin.id,
    )
    keyring = unlock_member(session, school_id=school.school.id, user_id=invitation.user.id, passphrase=TEACHER_PASSPHRASE)
    return invitation.user, keyring


def _preview(session, school, settings, filename: str, data: bytes):
    table = roster.read_table(filename, data)
    return roster.preview_import(session=session, school=school.school, table=table, sealing=settings.sealing)


def _import(session, school, settings, clock, filename: str, data: bytes) -> roster.ImportPreview:
    preview = _preview(session, school, settings, filename, data)
    assert preview.problems == []
    roster.apply_import(session=session, school=school.school, preview=preview, sealing=settings.sealing, clock=clock, actor_user_id=school.admin.id)
    return preview


def _students(session) -> int:
    return session.exec(select(func.count()).select_from(Student)).one()


def _views(session, school, admin_keys, **kw):
    return roster.students_of(session, school=school.school, keyring=admin_keys, user_id=school.admin.id, roles=ADMIN_ROLES, **kw)


# --- importing ----------------------------------------------------------------------------------


def test_a_good_csv_is_previewed_then_imported(session, school, settings, clock, classes, admin_keys):
    preview = _preview(session, school, settings, "档案.csv", _csv(*CHILDREN))
    assert (preview.creates, preview.updates, preview.problems) == (3, 0, [])
    assert [line for line, _, _ in preview.rows] == [2, 3, 4]
    assert _students(session) == 0, "a preview writes nothing"

    written = roster.apply_import(session=session, school=school.school, preview=preview, sealing=settings.sealing, clock=clock, actor_user_id=school.admin.id)
    assert written == 3 and _students(session) == 3
    views = _views(session, school, admin_keys)
    assert [(v.class_name, v.record) for v in views] == sorted(
        ((r["class"], _stored(r)) for r in CHILDREN), key=lambda pair: (pair[0], pair[1]["name"]),
    )
    assert {v.student.class_id for v in views if v.class_name == CLASS_A} == {classes[CLASS_A].id}


def test_a_good_xlsx_is_imported_with_numbers_as_excel_keeps_them(session, school, settings, clock, classes, admin_keys):
    # Excel turns a typed phone number into a number cell; the import reads it back as digits.
    wang = _cells(WANG)
    wang[HEADER.index("监护人电话")] = 13800138000
    data = _xlsx(wang, _cells(LI), _cells(ZHAO))
    preview = _import(session, school, settings, clock, "档案.xlsx", data)
    assert (preview.creates, preview.updates) == (3, 0)
    stored = {v.record["name"]: v.record for v in _views(session, school, admin_keys)}
    assert stored["王小丫"]["guardian_phone"] == "13800138000"
    assert stored["赵春燕"] == _stored(ZHAO)


def test_a_csv_saved_by_chinese_excel_in_gbk_is_read(session, school, settings, clock, classes, admin_keys):
    preview = _preview(session, school, settings, "档案.csv", _csv(WANG, encoding="gbk"))
    assert (preview.creates, preview.problems) == (1, [])
    assert preview.rows[0][2]["name"] == "王小丫" and preview.rows[0][2]["address"] == "石门村三组17号"


def test_bad_rows_are_named_with_their_line_and_reason(session, school, settings, clock, classes):
    rows = [
        WANG,  # line 2: good
        {**LI, "name": ""},  # 3: no name
        {**LI, "name": "钱多多", "class": "九(9)班"},  # 4: not a class of the school
        {**LI, "name": "孙悟空", "guardian_phone": "12345"},  # 5: too short
        {**LI, "name": "猪八戒", "mother_phone": "abc"},  # 6: not digits
        {**WANG, "guardian_phone": "13800138001"},  # 7: 王小丫 of 三(2)班 again
        LI,  # 8: good
    ]
    preview = _preview(session, school, settings, "档案.csv", _csv(*rows))
    assert preview.problems == [
        RowProblem(3, "missing_name", "姓名"),
        RowProblem(4, "unknown_class", "班级"),
        RowProblem(5, "malformed_phone", "监护人电话"),
        RowProblem(6, "malformed_phone", "母亲电话"),
        RowProblem(7, "duplicate", "姓名"),
    ]
    assert preview.creates == 2 and [line for line, _, _ in preview.rows] == [2, 8]


def test_the_same_bad_rows_in_an_xlsx(session, school, settings, clock, classes):
    data = _xlsx(_cells(WANG), _cells({**LI, "name": ""}), _cells({**LI, "class": "五(5)班"}), _cells({**LI, "father_phone": "12345"}))
    preview = _preview(session, school, settings, "档案.xlsx", data)
    assert [(p.line, p.reason) for p in preview.problems] == [(3, "missing_name"), (4, "unknown_class"), (5, "malformed_phone")]
    assert preview.creates == 1


def test_a_name_written_with_spaces_is_the_same_child(session, school, settings, clock, classes):
    preview = _preview(session, school, settings, "档案.csv", _csv(WANG, {**WANG, "name": "王 小丫"}))
    assert preview.problems == [RowProblem(3, "duplicate", "姓名")]


def test_a_blank_row_does_not_shift_the_line_numbers(session, school, settings, clock, classes):
    data = _csv(WANG, extra_rows=[[], _cells({**LI, "name": ""})])  # header 1, 王小丫 2, blank 3, nameless 4
    preview = _preview(session, school, settings, "档案.csv", data)
    assert preview.problems == [RowProblem(4, "missing_name", "姓名")]


def test_phones_in_full_width_digits_and_with_dashes_are_stored_as_plain_digits(session, school, settings, clock, classes, admin_keys):
    record = {**WANG, "guardian_phone": "１３８００１３８０００", "father_phone": "139-1234-5678", "mother_phone": "+86 136 9876 5432"}
    preview = _import(session, school, settings, clock, "档案.csv", _csv(record))
    assert preview.problems == []
    (view,) = _views(session, school, admin_keys)
    assert (view.record["guardian_phone"], view.record["father_phone"], view.record["mother_phone"]) == (
        "13800138000", "13912345678", "13698765432",
    )
    assert view.record["guardian_phone"].isascii()


def test_nothing_is_written_while_there_are_problems(session, school, settings, clock, classes):
    preview = _preview(session, school, settings, "档案.csv", _csv(WANG, {**LI, "guardian_phone": "abc"}))
    assert preview.creates == 1 and len(preview.problems) == 1
    with pytest.raises(InvalidInput) as refused:
        roster.apply_import(session=session, school=school.school, preview=preview, sealing=settings.sealing, clock=clock, actor_user_id=school.admin.id)
    assert (refused.value.field, refused.value.reason) == ("file", "has_problems")
    assert _students(session) == 0
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "roster.imported")).first() is None


def test_a_second_import_of_the_same_children_updates_them(session, school, settings, clock, classes, admin_keys):
    _import(session, school, settings, clock, "档案.csv", _csv(*CHILDREN))
    before = {v.record["name"]: v.student.id for v in _views(session, school, admin_keys)}

    clock.advance(days=30)
    moved = [{**child, "guardian_phone": phone} for child, phone in zip(CHILDREN, ("13300001111", "13300002222", "13300003333"))]
    preview = _import(session, school, settings, clock, "档案-十二月.xlsx", _xlsx(*map(_cells, moved)))
    assert (preview.updates, preview.creates) == (3, 0)

    views = _views(session, school, admin_keys)
    assert _students(session) == 3
    assert {v.record["name"]: v.student.id for v in views} == before
    assert {v.record["name"]: v.record["guardian_phone"] for v in views} == {
        "王小丫": "13300001111", "李小龙": "13300002222", "赵春燕": "13300003333",
    }
    assert all(v.student.updated_at.replace(tzinfo=None) == clock().replace(tzinfo=None) for v in views)


# --- files that are not a roster ----------------------------------------------------------------

NOT_A_ROSTER = {
    "a photo": ("照片.png", qr_png("https://example.org/"), "not_spreadsheet"),
    "a photo named .csv": ("照片.csv", qr_png("https://example.org/"), "not_spreadsheet"),
    "random bytes named .xlsx": ("档案.xlsx", os.urandom(4096), "not_spreadsheet"),
    "a zip that is not a workbook": ("档案.xlsx", b"PK\x03\x04" + os.urandom(512), "not_spreadsheet"),
    "an empty file": ("档案.csv", b"", "empty"),
    "only blank lines": ("档案.csv", b"\r\n,,\r\n\r\n", "empty"),
    "a file over the limit": ("档案.csv", _csv(WANG) + b"," * (roster.MAX_UPLOAD + 1), "too_large"),
    "a CSV without the header": ("档案.csv", "三(2)班,王小丫,王奶奶\n".encode(), "no_header"),
    "a CSV with other columns": ("档案.csv", "学号,名字\n1,王小丫\n".encode(), "no_header"),
    "an xlsx without the header": ("档案.xlsx", None, "no_header"),
}


@pytest.mark.parametrize("case", list(NOT_A_ROSTER))
def test_a_file_that_is_not_a_roster_is_refused_and_nothing_is_written(case, session, school, settings, classes):
    filename, data, reason = NOT_A_ROSTER[case]
    if data is None:
        book = openpyxl.Workbook()
        book.active.append(["三(2)班", "王小丫"])
        out = io.BytesIO()
        book.save(out)
        data = out.getvalue()
    with pytest.raises(InvalidInput) as refused:
        _preview(session, school, settings, filename, data)
    assert (refused.value.field, refused.value.reason) == ("file", reason)
    assert _students(session) == 0


# --- exporting ----------------------------------------------------------------------------------


def test_the_csv_export_reads_back_as_the_same_rows(session, school, settings, clock, classes, admin_keys):
    _import(session, school, settings, clock, "档案.csv", _csv(*CHILDREN))
    data = roster.export_table(_views(session, school, admin_keys), kind="csv")
    assert data.startswith("\ufeff".encode())  # Excel on Windows needs the BOM to see UTF-8
    back = roster.read_table("export.csv", data)
    expected = sorted(({KEY_OF[k]: v for k, v in _stored(r).items()} for r in CHILDREN), key=lambda r: (r["班级"], r["姓名"]))
    assert back == expected
    # The export imports again as pure updates.
    again = roster.preview_import(session=session, school=school.school, table=back, sealing=settings.sealing)
    assert (again.updates, again.creates, again.problems) == (3, 0, [])


def test_the_xlsx_export_opens_in_excel_with_the_header_and_rows(session, school, settings, clock, classes, admin_keys):
    _import(session, school, settings, clock, "档案.csv", _csv(*CHILDREN))
    data = roster.export_table(_views(session, school, admin_keys), kind="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    assert sorted(rows[1:]) == sorted(_cells(_stored(r)) for r in CHILDREN)
    assert roster.read_table("export.xlsx", data) == roster.read_table("export.csv", roster.export_table(_views(session, school, admin_keys), kind="csv"))


def test_an_xlsx_export_keeps_text_that_starts_with_an_equals_sign_as_text(session, school, settings, clock, classes, admin_keys):
    note = "=HYPERLINK(\"http://example.org\",\"点这里\")"
    _import(session, school, settings, clock, "档案.csv", _csv({**WANG, "notes": note}))
    data = roster.export_table(_views(session, school, admin_keys), kind="xlsx")
    cell = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0].cell(row=2, column=HEADER.index("备注") + 1)
    assert (cell.data_type, cell.value) == ("s", note)


# --- sealed at rest -----------------------------------------------------------------------------


def _needles() -> dict[str, bytes]:
    found = {}
    for child in CHILDREN:
        for key in ("name", "guardian_name", "address", "father_workplace", "mother_workplace"):
            if child[key]:
                found[f"{child['name']} {key}"] = child[key].encode()
        for key in roster.PHONES:
            if child[key]:
                found[f"{child['name']} {key}"] = roster.clean_phone(child[key]).encode()
    found["name utf-16"] = WANG["name"].encode("utf-16-le")
    found["full-width phone"] = "１３８００１３８０００".encode()
    return found


def _assert_absent(blob: bytes, where: str) -> None:
    for label, needle in _needles().items():
        assert needle not in blob, f"{label} found in {where}"
        assert needle.hex().encode() not in blob.lower(), f"{label} found hex-encoded in {where}"


def test_the_roster_is_sealed_at_rest(session, school, settings, clock, classes, admin_keys, engine, database_url):
    wang = {**WANG, "guardian_phone": "１３８００１３８０００"}
    _import(session, school, settings, clock, "档案.csv", _csv(wang, LI))
    _import(session, school, settings, clock, "档案.xlsx", _xlsx(_cells(ZHAO)))
    assert len(_views(session, school, admin_keys)) == 3  # the rows are there, and readable with the keys
    session.close()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        files = [Path(url.database + suffix) for suffix in ("", "-wal", "-shm")]
        blob = b"".join(p.read_bytes() for p in files if p.exists())
        assert len(blob) > 10_000
        _assert_absent(blob, "the SQLite files")
        engine.dispose()  # checkpoint the write-ahead log into the file, and look again
        _assert_absent(Path(url.database).read_bytes(), "the checkpointed SQLite file")
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.fail("pg_dump is needed to check a PostgreSQL dump")
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run([pg_dump, "--dbname", libpq, "--format=plain"], capture_output=True, check=True).stdout
        assert b"CREATE TABLE" in dump and b"student" in dump
        _assert_absent(dump, "the PostgreSQL dump")


# --- who sees which class -----------------------------------------------------------------------


def test_a_teacher_sees_only_their_own_class(session, school, settings, clock, classes, admin_keys):
    teacher_a, keys_a = _teacher(session, school, settings, clock, admin_keys, "chen")
    teacher_b, keys_b = _teacher(session, school, settings, clock, admin_keys, "zhou")
    roster.save_class(session=session, school=school.school, name=CLASS_A, teacher_user_id=teacher_a.id, clock=clock, actor_user_id=school.admin.id)
    roster.save_class(session=session, school=school.school, name=CLASS_B, teacher_user_id=teacher_b.id, clock=clock, actor_user_id=school.admin.id)
    _import(session, school, settings, clock, "档案.csv", _csv(*CHILDREN))
    teacher = frozenset({"teacher"})

    assert [c.name for c in roster.classes_of_teacher(session, school=school.school, user_id=teacher_a.id, roles=teacher)] == [CLASS_A]
    assert [c.name for c in roster.classes_of_teacher(session, school=school.school, user_id=teacher_b.id, roles=teacher)] == [CLASS_B]
    assert len(roster.classes_of_teacher(session, school=school.school, user_id=school.admin.id, roles=ADMIN_ROLES)) == 2

    mine = roster.students_of(session, school=school.school, keyring=keys_a, user_id=teacher_a.id, roles=teacher)
    assert [v.record["name"] for v in mine] == ["李小龙", "王小丫"]
    assert {v.class_name for v in mine} == {CLASS_A}
    own = roster.students_of(session, school=school.school, keyring=keys_a, user_id=teacher_a.id, roles=teacher, class_id=classes[CLASS_A].id)
    assert len(own) == 2
    with pytest.raises(Forbidden):
        roster.students_of(session, school=school.school, keyring=keys_a, user_id=teacher_a.id, roles=teacher, class_id=classes[CLASS_B].id)
    with pytest.raises(Forbidden):
        roster.require_class(session, school=school.school, class_id=classes[CLASS_B].id, user_id=teacher_a.id, roles=teacher)
    theirs = roster.students_of(session, school=school.school, keyring=keys_b, user_id=teacher_b.id, roles=teacher)
    assert [v.record["name"] for v in theirs] == ["赵春燕"]


def test_a_teacher_without_a_class_sees_nobody(session, school, settings, clock, classes, admin_keys):
    teacher, keys = _teacher(session, school, settings, clock, admin_keys, "wu")
    _import(session, school, settings, clock, "档案.csv", _csv(*CHILDREN))
    roles = frozenset({"teacher"})
    assert roster.classes_of_teacher(session, school=school.school, user_id=teacher.id, roles=roles) == []
    assert roster.students_of(session, school=school.school, keyring=keys, user_id=teacher.id, roles=roles) == []


def test_clean_phone_accepts_chinese_numbers_only():
    assert roster.clean_phone("１３８００１３８０００") == "13800138000"
    assert roster.clean_phone("0734-8123456") == "07348123456"
    assert roster.clean_phone("（0734）8123456") == "07348123456"
    assert roster.clean_phone("") == ""
    for bad in ("12345", "abc", "23800138000", "1380013800０1", "138001380001"):
        with pytest.raises(ValueError):
            roster.clean_phone(bad)

