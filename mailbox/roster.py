"""The roster (留守儿童档案): classes, their teachers, and each child's sealed record.

The fields are the school's own (篇1, 篇4): the child's name and class, the
current guardian (name, relation, phone, address), each parent (name, phone,
city and workplace) and free notes. Everything about a child is sealed for the
teachers and the counsellors. Imports from CSV or Excel are previewed first,
every bad row named with its reason; nothing is written until the admin
confirms, and a second import of the same children updates their rows.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import unicodedata
from dataclasses import dataclass, field


from sqlmodel import Session, col, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.audit import record_event
from qiaoqiao.mailbox.clock import Clock
from qiaoqiao.mailbox.errors import Forbidden, InvalidInput, NotFound
from qiaoqiao.mailbox.keyring import COUNSELLORS, TEACHERS, Keyring, audiences_of
from qiaoqiao.mailbox.sealing import SealingConfig, open_json, seal_json, unwrap_content_key, wrap_content_key
from qiaoqiao.mailbox.tables import ContentKeyWrap, School, SchoolClass, StaffUser, Student

MAX_UPLOAD = 2 * 1024 * 1024
# Spreadsheet columns: the Chinese header the school uses, and the field it fills.
COLUMNS = (
    ("班级", "class"),
    ("姓名", "name"),
    ("监护人姓名", "guardian_name"),
    ("与孩子关系", "guardian_relation"),
    ("监护人电话", "guardian_phone"),
    ("家庭住址", "address"),
    ("父亲姓名", "father_name"),
    ("父亲电话", "father_phone"),
    ("父亲务工城市", "father_city"),
    ("父亲工作单位", "father_workplace"),
    ("母亲姓名", "mother_name"),
    ("母亲电话", "mother_phone"),
    ("母亲务工城市", "mother_city"),
    ("母亲工作单位", "mother_workplace"),
    ("备注", "notes"),
)
PHONES = ("guardian_phone", "father_phone", "mother_phone")
_MOBILE = re.compile(r"^1\d{10}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")


def clean_phone(value: str) -> str:
    """Full-width digits, spaces and dashes folded; ``ValueError`` if it is not a Chinese number."""
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+86"):
        digits = digits[3:]
    if not digits:
        return ""
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise ValueError(value)
    return digits


def _fold_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


def name_lookup(server_key: bytes, school_id: str, class_id: str, name: str) -> str:
    """The keyed hash that finds a child by class and name without storing the name."""
    message = f"{school_id}|{class_id}|{_fold_name(name)}".encode()
    return hmac.new(server_key, b"student:" + message, hashlib.sha256).hexdigest()


# -- classes -----------------------------------------------------------------


def list_classes(session: Session, *, school: School) -> list[SchoolClass]:
    return list(session.exec(select(SchoolClass).where(SchoolClass.school_id == school.id).order_by(col(SchoolClass.name))).all())


def save_class(*, session: Session, school: School, name: str, teacher_user_id: str | None, clock: Clock, actor_user_id: str) -> SchoolClass:
    """Add a class or change its teacher."""
    name = _fold_name(name)
    if not name:
        raise InvalidInput("class", "empty")
    if len(name) > 40:
        raise InvalidInput("class", "too_long")
    if teacher_user_id and session.exec(select(StaffUser.id).where(StaffUser.school_id == school.id, StaffUser.id == teacher_user_id)).first() is None:
        raise NotFound("user")
    row = session.exec(select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.name == name)).first()
    if row is None:
        row = SchoolClass(school_id=school.id, name=name, created_at=clock())
    row.teacher_user_id = teacher_user_id or None
    session.add(row)
    record_event(session, school_id=school.id, action="roster.class_saved", now=clock(), actor_user_id=actor_user_id, target_type="class", target_id=row.id)
    session.commit()
    return row


def classes_of_teacher(session: Session, *, school: School, user_id: str, roles: frozenset[str]) -> list[SchoolClass]:
    """The classes a person may see: their own, or all for an admin or counsellor."""
    classes = list_classes(session, school=school)
    if roles & {"admin", "counsellor"}:
        return classes
    return [c for c in classes if c.teacher_user_id == user_id]


def require_class(session: Session, *, school: School, class_id: str, user_id: str, roles: frozenset[str]) -> SchoolClass:
    """The class, if this person may see it; :class:`Forbidden` for another teacher's class."""
    row = session.exec(select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.id == class_id)).first()
    if row is None:
        raise NotFound("class")
    if not roles & {"admin", "counsellor"} and row.teacher_user_id != user_id:
        raise Forbidden("class")
    return row


# -- reading spreadsheets ------------------------------------------------------


def read_table(filename: str, data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV or .xlsx file as {header: text}; :class:`InvalidInput` if it is not one."""
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("file", "too_large")
    if not data:
        raise InvalidInput("file", "empty")
    lower = filename.lower()
    if lower.endswith(".xlsx") or data[:2] == b"PK":
        return _read_xlsx(data)
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return _read_csv(data)
    raise InvalidInput("file", "not_spreadsheet")


def _read_csv(data: bytes) -> list[dict[str, str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("file", "not_spreadsheet")
    if "\x00" in text:
        raise InvalidInput("file", "not_spreadsheet")
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [row for row in reader]
    except csv.Error:
        raise InvalidInput("file", "malformed") from None
    return _as_dicts(rows)


def _read_xlsx(data: bytes) -> list[dict[str, str]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise InvalidInput("file", "not_spreadsheet") from None
    sheet = book.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return _as_dicts(rows)


def _as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    """Rows under the header as {header: text}; blank rows stay (as {}) so line numbers hold."""
    if not any(any(cell.strip() for cell in r) for r in rows):
        raise InvalidInput("file", "empty")
    header = [h.strip() for h in rows[0]]
    known = {h for h, _ in COLUMNS}
    if "姓名" not in header or "班级" not in header or not set(header) & known:
        raise InvalidInput("file", "no_header")
    return [
        {header[i]: (row[i].strip() if i < len(row) else "") for i in range(len(header))} if any(c.strip() for c in row) else {}
        for row in rows[1:]
    ]


# -- preview and import ------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    line: int  # the spreadsheet's own line number (the header is line 1)
    reason: str  # missing_name | unknown_class | malformed_phone | duplicate
    column: str = ""


@dataclass
class ImportPreview:
    rows: list[tuple[int, str, dict]] = field(default_factory=list)  # (line, class id, record)
    problems: list[RowProblem] = field(default_factory=list)
    updates: int = 0
    creates: int = 0


def preview_import(*, session: Session, school: School, table: list[dict[str, str]], sealing: SealingConfig) -> ImportPreview:
    """Check every row; nothing is written."""
    classes = {c.name: c for c in list_classes(session, school=school)}
    preview = ImportPreview()
    seen: set[str] = set()
    for offset, raw in enumerate(table, start=2):
        if not raw:
            continue  # a blank row: skipped, but counted, so later line numbers match the file
        values = {key: raw.get(header, "").strip() for header, key in COLUMNS}
        name = _fold_name(values["name"])
        if not name:
            preview.problems.append(RowProblem(offset, "missing_name", "姓名"))
            continue
        klass = classes.get(_fold_name(values["class"]))
        if klass is None:
            preview.problems.append(RowProblem(offset, "unknown_class", "班级"))
            continue
        bad_phone = None
        for key in PHONES:
            try:
                values[key] = clean_phone(values[key])
            except ValueError:
                bad_phone = next(h for h, k in COLUMNS if k == key)
                break
        if bad_phone:
            preview.problems.append(RowProblem(offset, "malformed_phone", bad_phone))
            continue
        lookup = name_lookup(sealing.server_key, school.id, klass.id, name)
        if lookup in seen:
            preview.problems.append(RowProblem(offset, "duplicate", "姓名"))
            continue
        seen.add(lookup)
        values["name"], values["class"] = name, klass.name
        exists = session.exec(select(Student.id).where(Student.school_id == school.id, Student.name_lookup == lookup)).first()
        if exists:
            preview.updates += 1
        else:
            preview.creates += 1
        preview.rows.append((offset, klass.id, values))
    return preview


def _seal_student(session: Session, school: School, student: Student, record: dict) -> None:
    """Seal a record for the teachers and the counsellors, replacing any earlier wraps."""
    for old in session.exec(select(ContentKeyWrap).where(ContentKeyWrap.record_type == "student", ContentKeyWrap.record_id == student.id)):
        session.delete(old)
    session.flush()
    key = crypto.new_content_key()
    student.record = seal_json(key, school.id, "student", student.id, "record", record)
    audiences = audiences_of(session, school.id)
    for name in (TEACHERS, COUNSELLORS):
        audience = audiences[name]
        session.add(
            wrap_content_key(
                school_id=school.id, record_type="student", record_id=student.id, recipient_type="audience",
                recipient_id=audience.id, public_key=audience.public_key, content_key=key,
            )
        )


def apply_import(
    *, session: Session, school: School, preview: ImportPreview, sealing: SealingConfig, clock: Clock, actor_user_id: str
) -> int:
    """Write the previewed rows in one transaction: new children added, known ones updated."""
    if preview.problems:
        raise InvalidInput("file", "has_problems")
    now = clock()
    for _line, class_id, record in preview.rows:
        lookup = name_lookup(sealing.server_key, school.id, class_id, record["name"])
        student = session.exec(select(Student).where(Student.school_id == school.id, Student.name_lookup == lookup)).first()
        if student is None:
            student = Student(school_id=school.id, class_id=class_id, name_lookup=lookup, record=b"", created_at=now, updated_at=now)
            session.add(student)
            session.flush()
        student.updated_at = now
        _seal_student(session, school, student, record)
        session.add(student)
    record_event(session, school_id=school.id, action="roster.imported", now=now, actor_user_id=actor_user_id, detail={"rows": len(preview.rows)})
    session.commit()
    return len(preview.rows)


# -- reading the roster ------------------------------------------------------


@dataclass(frozen=True)
class StudentView:
    student: Student
    class_name: str
    record: dict = field(repr=False)


def students_of(
    session: Session, *, school: School, keyring: Keyring, user_id: str, roles: frozenset[str], class_id: str | None = None
) -> list[StudentView]:
    """The children of the classes this person may see, opened with their keys."""
    visible = {c.id: c for c in classes_of_teacher(session, school=school, user_id=user_id, roles=roles)}
    if class_id is not None:
        if class_id not in visible:
            raise Forbidden("class")
        visible = {class_id: visible[class_id]}
    rows = session.exec(select(Student).where(Student.school_id == school.id, col(Student.class_id).in_(list(visible)))).all()
    views = []
    for row in rows:
        key = unwrap_content_key(session, school_id=school.id, record_type="student", record_id=row.id, recipient_type="audience", keys=keyring.keys)
        views.append(StudentView(student=row, class_name=visible[row.class_id].name, record=open_json(key, school.id, "student", row.id, "record", row.record)))
    return sorted(views, key=lambda v: (v.class_name, v.record.get("name", "")))


def student_view(
    session: Session, *, school: School, keyring: Keyring, student_id: str, user_id: str, roles: frozenset[str]
) -> StudentView:
    """One child, opened, if they are in a class this person may see."""
    row = session.exec(select(Student).where(Student.school_id == school.id, Student.id == student_id)).first()
    if row is None:
        raise NotFound("student")
    klass = require_class(session, school=school, class_id=row.class_id, user_id=user_id, roles=roles)
    key = unwrap_content_key(session, school_id=school.id, record_type="student", record_id=row.id, recipient_type="audience", keys=keyring.keys)
    return StudentView(student=row, class_name=klass.name, record=open_json(key, school.id, "student", row.id, "record", row.record))


def export_table(views: list[StudentView], *, kind: str) -> bytes:
    """The roster back in the same columns, as CSV (UTF-8 with BOM, for Excel) or .xlsx."""
    header = [h for h, _ in COLUMNS]
    rows = [[view.record.get(key, "") if key != "class" else view.class_name for _, key in COLUMNS] for view in views]
    if kind == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "留守儿童档案"
        sheet.append(header)
        for number, row in enumerate(rows, start=2):
            for column, value in enumerate(row, start=1):
                # Always text: a note starting with "=" must never become a live formula.
                cell = sheet.cell(row=number, column=column)
                cell.value = value
                cell.data_type = "s"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    # Excel runs a cell that starts with = + - @ as a formula: quote it as text.
    writer.writerows([["'" + v if v[:1] in ("=", "+", "-", "@") else v for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def match_student(session: Session, *, school: School, class_id: str, name: str, sealing: SealingConfig) -> str | None:
    """The roster row of a child who wrote a letter home, by class and name, if there is one."""
    lookup = name_lookup(sealing.server_key, school.id, class_id, name)
    return session.exec(select(Student.id).where(Student.school_id == school.id, Student.name_lookup == lookup)).first()




def update_student(
    *, session: Session, school: School, student_id: str, values: dict[str, str], user_id: str, roles: frozenset[str], clock: Clock
) -> Student:
    """A teacher corrects a child of their own class (a new phone, a parent now in another city)."""
    student = session.exec(select(Student).where(Student.school_id == school.id, Student.id == student_id)).first()
    if student is None:
        raise NotFound("student")
    klass = require_class(session, school=school, class_id=student.class_id, user_id=user_id, roles=roles)
    record = {key: " ".join(values.get(key, "").split())[:200] for _, key in COLUMNS if key not in ("class", "name")}
    record["notes"] = values.get("notes", "").strip()[:1000]
    for key in PHONES:
        try:
            record[key] = clean_phone(record[key])
        except ValueError:
            raise InvalidInput(key, "malformed_phone") from None
    # The name and class find the row (its keyed hash), so they stay as imported.
    _seal_student(session, school, student, {"class": klass.name, "name": values["name"], **record})
    student.updated_at = clock()
    session.add(student)
    record_event(session, school_id=school.id, action="roster.student_updated", now=clock(), actor_user_id=user_id, target_type="student", target_id=student.id)
    session.commit()
    return student
