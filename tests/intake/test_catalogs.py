"""Every message the pages use has its Simplified Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("intake/**.py", "python"), ("templates/**.html", "jinja2")]


def _msgids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords={"_": None, "N_": None}, options_map={}
    ):
        if isinstance(message, str) and message:
            found.add(message)
    return found


def test_the_chinese_catalog_translates_every_message():
    with open(ROOT / "intake/locale/zh_Hans/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle, locale="zh")
    msgids = _msgids()
    assert len(msgids) > 100
    missing = sorted(m for m in msgids if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []


def test_placeholders_survive_translation():
    import re

    with open(ROOT / "intake/locale/zh_Hans/LC_MESSAGES/messages.po", "rb") as handle:
        catalog = read_po(handle, locale="zh")
    for message in catalog:
        if message.id and message.string:
            assert sorted(re.findall(r"%\(\w+\)s", message.id)) == sorted(re.findall(r"%\(\w+\)s", message.string)), message.id
