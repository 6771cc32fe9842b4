"""Pinyin over the key words of the child's pages, for the lower grades.

A 6-year-old reads pinyin before many characters. ``ruby`` turns the Chinese
of a label or a button into ``<ruby>`` markup with the tone-marked pinyin of
each character above it (pypinyin); every character is escaped first, so only
our own markup is ever produced.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape
from pypinyin import Style, pinyin


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def ruby(text: str) -> Markup:
    """``text`` with pinyin above each Han character (other characters as they are)."""
    readings = pinyin(text, style=Style.TONE, heteronym=False, errors=lambda chars: [[""] for _ in chars])
    parts: list[str] = []
    for ch, reading in zip(text, readings):
        if _is_han(ch) and reading and reading[0]:
            parts.append(f"<ruby>{escape(ch)}<rt>{escape(reading[0])}</rt></ruby>")
        else:
            parts.append(str(escape(ch)))
    return Markup("".join(parts))


def ruby_for(locale: str) -> Callable[[str], Markup]:
    """The ``py`` helper of a page: pinyin on Chinese pages, plain text on others."""
    if locale.startswith("zh"):
        return ruby
    return lambda text: Markup(escape(text))
