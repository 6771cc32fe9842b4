"""`qiaoqiao kiosk add` and `qiaoqiao poster add`, run as a person would."""

from __future__ import annotations

import re
from pathlib import Path

import PIL.Image
import zxingcpp
from sqlmodel import Session, select

from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.tables import Kiosk, Poster
from test_cli import assert_refused, clean_env, run

PASSPHRASE = "sunflowers face the morning\n"
PUBLIC = "https://xinxiang.example.edu.cn"


def _init(tmp_path: Path, name: str = "阳光小学") -> None:
    result = run(tmp_path, "init", "--school", name, "--admin", "zhang", "--data", str(tmp_path / "data"), input=PASSPHRASE)
    assert result.returncode == 0, result.stderr


def _rows(tmp_path: Path, table):
    engine = make_engine(sqlite_url(tmp_path / "data"))
    try:
        with Session(engine) as session:
            return session.exec(select(table)).all()
    finally:
        engine.dispose()


def test_kiosk_add_prints_its_url_under_the_public_url(tmp_path):
    _init(tmp_path)
    result = run(tmp_path, "kiosk", "add", "教学楼一楼", "--public-url", PUBLIC, "--data", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    url = re.search(rf"{re.escape(PUBLIC)}/k/(\S+)", result.stdout)
    assert url, result.stdout
    (kiosk,) = _rows(tmp_path, Kiosk)
    assert kiosk.name == "教学楼一楼"
    assert url.group(1) not in kiosk.token_hash  # only a hash of the token is kept


def test_the_public_url_can_come_from_the_environment(tmp_path):
    _init(tmp_path)
    env = clean_env(QIAOQIAO_PUBLIC_URL=PUBLIC + "/", QIAOQIAO_DATA_DIR=str(tmp_path / "data"))
    result = run(tmp_path, "kiosk", "add", "宿舍", env=env)
    assert result.returncode == 0 and f"{PUBLIC}/k/" in result.stdout


def test_kiosk_add_without_a_public_url_says_so(tmp_path):
    _init(tmp_path)
    line = assert_refused(run(tmp_path, "kiosk", "add", "走廊", "--data", str(tmp_path / "data")))
    assert "--public-url" in line
    assert _rows(tmp_path, Kiosk) == []


def test_poster_add_writes_a_qr_code_that_decodes_to_its_url(tmp_path):
    _init(tmp_path)
    for suffix in ("png", "svg"):
        target = tmp_path / f"poster.{suffix}"
        result = run(
            tmp_path, "poster", "add", "宿舍二楼", "--public-url", PUBLIC, "--qr", str(target), "--data", str(tmp_path / "data")
        )
        assert result.returncode == 0, result.stderr
        url = re.search(rf"{re.escape(PUBLIC)}/p/\w+", result.stdout).group(0)
        assert target.exists()
        if suffix == "png":
            decoded = [code.text for code in zxingcpp.read_barcodes(PIL.Image.open(target))]
            assert decoded == [url]
        else:
            assert target.read_text().startswith("<svg")
    assert sorted(p.label for p in _rows(tmp_path, Poster)) == ["宿舍二楼", "宿舍二楼"]


def test_with_several_schools_the_school_must_be_named(tmp_path):
    _init(tmp_path, "阳光小学")
    _init(tmp_path, "希望小学")
    line = assert_refused(run(tmp_path, "poster", "add", "门口", "--public-url", PUBLIC, "--data", str(tmp_path / "data")))
    assert "--school" in line
    line = assert_refused(
        run(tmp_path, "poster", "add", "门口", "--public-url", PUBLIC, "--school", "nosuch", "--data", str(tmp_path / "data"))
    )
    assert "nosuch" in line


def test_a_blank_label_is_refused(tmp_path):
    _init(tmp_path)
    assert_refused(run(tmp_path, "poster", "add", "   ", "--public-url", PUBLIC, "--data", str(tmp_path / "data")))
