"""Text as children write it, folded into one form the screener can match.

NFKC folds full-width letters and digits; zero-width characters are dropped;
OpenCC turns traditional characters into simplified; Latin letters are read
as pinyin syllables where they can be, so 我想si and wo bu xiang huo le can be
matched against the pinyin of the lexicon's phrases. Chinese characters are
never replaced by their sound: 相似 stays 相似 and never becomes 想死.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from pypinyin import Style, lazy_pinyin

ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")
CLAUSE_MARKS = set("，,、;；：:")
SENTENCE_MARKS = set("。.!！?？\n…~～")
_LATIN_RUN = re.compile(r"[a-zü]+")


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@dataclass(frozen=True)
class Token:
    kind: str  # han | py | word | clause | sentence | other
    text: str

    def encoded(self) -> str:
        if self.kind == "py":
            return "{" + self.text + "}"
        if self.kind == "word":
            return "<" + self.text + ">"
        return self.text


class Folder:
    """Folds text (NFKC, zero-width, traditional to simplified, case) and tokenises it."""

    def __init__(self) -> None:
        import opencc

        self._t2s = opencc.OpenCC("t2s")

    @cached_property
    def syllables(self) -> frozenset[str]:
        """Every toneless pinyin syllable (ü written v), read from pypinyin's dictionary."""
        found = set()
        for code in range(0x4E00, 0x9FA6):
            for reading in lazy_pinyin(chr(code), style=Style.NORMAL, v_to_u=False, errors="ignore"):
                if reading.isalpha():
                    found.add(reading)
        return frozenset(found)

    def fold(self, text: str) -> str:
        folded = unicodedata.normalize("NFKC", text)
        folded = ZERO_WIDTH.sub("", folded)
        folded = self._t2s.convert(folded)
        return folded.lower().replace("ü", "v")

    def _split_pinyin(self, run: str) -> list[str] | None:
        """Split a run of letters into pinyin syllables (fewest pieces), or None if it is not pinyin."""
        best: list[list[str] | None] = [None] * (len(run) + 1)
        best[0] = []
        for end in range(1, len(run) + 1):
            for start in range(max(0, end - 6), end):
                piece = run[start:end]
                if best[start] is not None and piece in self.syllables:
                    candidate = best[start] + [piece]
                    if best[end] is None or len(candidate) < len(best[end]):
                        best[end] = candidate
        return best[len(run)]

    def tokens(self, folded: str) -> list[Token]:
        out: list[Token] = []
        index = 0
        while index < len(folded):
            ch = folded[index]
            latin = _LATIN_RUN.match(folded, index)
            if latin:
                run = latin.group(0)
                pieces = self._split_pinyin(run)
                if pieces:
                    out.extend(Token("py", piece) for piece in pieces)
                else:
                    out.append(Token("word", run))
                index = latin.end()
                continue
            if is_han(ch):
                out.append(Token("han", ch))
            elif ch in SENTENCE_MARKS:
                out.append(Token("sentence", ch))
            elif ch in CLAUSE_MARKS:
                out.append(Token("clause", ch))
            elif ch.isspace():
                pass  # children put spaces anywhere, and between pinyin syllables
            else:
                out.append(Token("other", ch))
            index += 1
        return out

    def pinyin_of(self, phrase: str) -> list[str]:
        """The toneless pinyin of each character of a phrase, read in context."""
        return lazy_pinyin(phrase, style=Style.NORMAL, errors=lambda chars: list(chars))


def encode(tokens: list[Token]) -> tuple[str, list[int]]:
    """One string for Aho-Corasick, and for each of its characters the token it came from."""
    parts, owner = [], []
    for number, token in enumerate(tokens):
        piece = token.encoded()
        parts.append(piece)
        owner.extend([number] * len(piece))
    return "".join(parts), owner
