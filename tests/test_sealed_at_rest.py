"""A copy of the database reveals no letter, no child's name, no pickup code."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from conftest import csrf_from

TEXT = "晚上奶奶睡着了我一个人很害怕 secret-marker-7731"
NAME = "王小丫"
KLASS = "二年级三班"


def _submit(client, school) -> str:
    slug = school.school.slug
    token = csrf_from(client.get(f"/s/{slug}/write/parent").text)
    sent = client.post(
        f"/s/{slug}/write/parent",
        data={"csrf": token, "text": TEXT, "sender_name": NAME, "sender_class": KLASS, "addressed_to": "both"},
    )
    assert sent.status_code == 200
    return re.search(r'class="code"[^>]*>([0-9 ]+)<', sent.text).group(1)


def _needles(code: str) -> dict[str, bytes]:
    digits = code.replace(" ", "")
    found = {
        "text": TEXT.encode(),
        "text fragment": "一个人很害怕".encode(),
        "marker": b"secret-marker-7731",
        "name": NAME.encode(),
        "class": KLASS.encode(),
        "code": digits.encode(),
        "formatted code": code.encode(),
    }
    # UTF-16 as well, in case any layer stored text that way.
    found["text utf-16"] = "一个人很害怕".encode("utf-16-le")
    found["name utf-16"] = NAME.encode("utf-16-le")
    return found


def _assert_absent(blob: bytes, code: str, where: str) -> None:
    for label, needle in _needles(code).items():
        assert needle not in blob, f"{label} found in {where}"
        # pg_dump writes bytea columns as hex: plaintext in a blob column shows up so.
        assert needle.hex().encode() not in blob.lower(), f"{label} found hex-encoded in {where}"


def test_no_plaintext_in_the_database(client, school, engine, database_url, tmp_path):
    code = _submit(client, school)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # Every file SQLite keeps: the database, its write-ahead log and index.
        files = [Path(url.database + suffix) for suffix in ("", "-wal", "-shm")]
        blob = b"".join(p.read_bytes() for p in files if p.exists())
        assert len(blob) > 10_000
        _assert_absent(blob, code, "the SQLite files")
        engine.dispose()  # checkpoint the WAL into the main file, and look again
        _assert_absent(Path(url.database).read_bytes(), code, "the checkpointed SQLite file")
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.fail("pg_dump is needed to check a PostgreSQL dump")
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run([pg_dump, "--dbname", libpq, "--format=plain"], capture_output=True, check=True).stdout
        assert b"CREATE TABLE" in dump and b"letter" in dump
        _assert_absent(dump, code, "the PostgreSQL dump")
