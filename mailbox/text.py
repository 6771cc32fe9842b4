"""Checking what people write: a child's letter, a reply, a name."""

from __future__ import annotations

import unicodedata

from qiaoqiao.mailbox.errors import InvalidInput

MAX_TEXT = 2000


def clean_text(value: str, *, field_name: str, limit: int, required: bool) -> str:
    """Normalise line ends and check a child's text; :class:`InvalidInput` with a reason code.

    Nothing is silently dropped: text with control characters is refused, so
    the form can show the child what to fix instead of storing something else.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text) or "\ufffd" in text:
        raise InvalidInput(field_name, "invalid_text")
    for ch in text:
        if ch in "\n\t":
            continue
        if unicodedata.category(ch) == "Cc":
            raise InvalidInput(field_name, "control_chars")
    if not text.strip():
        if required:
            raise InvalidInput(field_name, "empty")
        return ""
    if len(text) > limit:
        raise InvalidInput(field_name, "too_long")
    return text.strip()
