"""The screening lexicon: data files a counsellor can read, compiled for matching.

Phrases live in ``mailbox/lexicon/*.tsv`` (see its README). Each phrase is
compiled into Aho-Corasick patterns over the folded, tokenised form: the
characters themselves, and the same phrase with any of its characters typed as
pinyin (想si, xiang死, xiangsi), so a child who cannot write a character is
still heard, while 相似 never matches 想死.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from importlib import resources

import ahocorasick

from qiaoqiao.mailbox.normalise import Folder, Token

LEVELS = (1, 2, 3)
CATEGORIES = ("self_harm", "abuse", "sexual_abuse", "bullying", "runaway", "neglect", "peer_at_risk")
ROLES = (
    "negation", "not_negation", "fiction", "conditional", "then", "third_person",
    "method", "time", "prepared", "alone", "ill",
)
# Roles matched only as written in characters: "mei" typed in pinyin is as
# likely 每 (every) as 没 (not), so a pinyin negation would lower real risks.
_CHARACTERS_ONLY = ("negation", "not_negation")
# All 2^n mixes of characters and pinyin up to this length; longer phrases get
# the all-character, all-pinyin and one-pinyin-character forms only.
_FULL_MIX_UP_TO = 6


@dataclass(frozen=True)
class Term:
    """One risk phrase: its id (a rule id), level, categories."""

    id: str
    level: int
    categories: tuple[str, ...]
    phrase: str


@dataclass(frozen=True)
class Lexicon:
    risk: tuple[Term, ...]
    safe: tuple[tuple[str, str], ...]  # (id, phrase)
    context: tuple[tuple[str, str], ...]  # (role, phrase)
    slang: tuple[tuple[str, str], ...]  # (spelling, meaning)
    emoji: tuple[tuple[str, str], ...]  # (weight, symbol)

    @classmethod
    def load(cls) -> "Lexicon":
        """The lexicon shipped with the package."""
        folder = resources.files("qiaoqiao.mailbox") / "lexicon"

        def rows(name: str, width: int) -> list[list[str]]:
            out = []
            for number, line in enumerate((folder / name).read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip() or line.startswith("#"):
                    continue
                cells = line.split("\t")
                if len(cells) != width:
                    raise ValueError(f"{name}:{number}: expected {width} tab-separated columns")
                out.append([c.strip() for c in cells])
            return out

        risk = tuple(
            Term(id=i, level=int(lvl), categories=tuple(c for c in cats.split(",") if c), phrase=p)
            for i, lvl, cats, p in rows("risk.tsv", 4)
        )
        lexicon = cls(
            risk=risk,
            safe=tuple((i, p) for i, p in rows("safe.tsv", 2)),
            context=tuple((r, p) for r, p in rows("context.tsv", 2)),
            slang=tuple((s, m) for s, m in rows("slang.tsv", 2)),
            emoji=tuple((w, s) for w, s in rows("emoji.tsv", 2)),
        )
        lexicon.check()
        return lexicon

    def check(self) -> None:
        """Refuse a lexicon with an unknown level, category or role (a typo in a data file)."""
        for term in self.risk:
            if term.level not in LEVELS or not set(term.categories) <= set(CATEGORIES) or not term.phrase:
                raise ValueError(f"risk term {term.id}: bad level, category or phrase")
        for role, phrase in self.context:
            if role not in ROLES or not phrase:
                raise ValueError(f"context {role!r} {phrase!r}: unknown role")
        for weight, _symbol in self.emoji:
            if weight not in ("strong", "mild"):
                raise ValueError(f"emoji weight {weight!r}")
        ids = [t.id for t in self.risk]
        if len(ids) != len(set(ids)):
            raise ValueError("risk ids must be unique")

    def with_terms(self, terms: list[Term]) -> "Lexicon":
        """This lexicon plus a school's own phrases."""
        extended = Lexicon(
            risk=self.risk + tuple(terms), safe=self.safe, context=self.context, slang=self.slang, emoji=self.emoji
        )
        extended.check()
        return extended


@dataclass(frozen=True)
class Entry:
    """What a pattern stands for when it matches."""

    kind: str  # risk | safe | context
    length: int  # in tokens
    term: Term | None = None
    role: str = ""
    id: str = ""


def _variants(folder: Folder, tokens: list[Token]) -> list[str]:
    """The encoded forms of a phrase: characters, pinyin, and mixes of both."""
    han = [t.text for t in tokens if t.kind == "han"]
    readings = iter(folder.pinyin_of("".join(han))) if han else iter(())
    choices: list[list[str]] = []
    for token in tokens:
        if token.kind == "han":
            reading = next(readings, "")
            options = [token.encoded()]
            if reading.isalpha():
                options.append(Token("py", reading.replace("ü", "v")).encoded())
            choices.append(options)
        else:
            choices.append([token.encoded()])
    if len(choices) <= _FULL_MIX_UP_TO:
        return ["".join(mix) for mix in itertools.product(*choices)]
    forms = {"".join(c[0] for c in choices), "".join(c[-1] for c in choices)}
    for index, options in enumerate(choices):
        if len(options) > 1:
            forms.add("".join(options[1] if i == index else c[0] for i, c in enumerate(choices)))
    return sorted(forms)


@dataclass
class Compiled:
    """A lexicon compiled for one folder: the automata and the slang table."""

    automaton: ahocorasick.Automaton
    slang: ahocorasick.Automaton
    emoji: tuple[tuple[str, str], ...]
    patterns: int = field(default=0)


def compile_lexicon(lexicon: Lexicon, folder: Folder) -> Compiled:
    """Build the Aho-Corasick automata (a few hundred milliseconds: build once, reuse)."""
    automaton = ahocorasick.Automaton()
    count = 0

    def add(phrase: str, entry_of, pinyin: bool = True) -> None:
        nonlocal count
        tokens = folder.tokens(folder.fold(phrase))
        if not tokens:
            return
        entry = entry_of(len(tokens))
        forms = _variants(folder, tokens) if pinyin else ["".join(t.encoded() for t in tokens)]
        for form in forms:
            _length, existing = automaton.get(form, (len(form), ()))
            automaton.add_word(form, (len(form), existing + (entry,)))
            count += 1

    for term in lexicon.risk:
        add(term.phrase, lambda n, term=term: Entry("risk", n, term=term, id=term.id))
    for safe_id, phrase in lexicon.safe:
        # Harmless phrases only as written: typed in pinyin, "xiang si" is as
        # likely 想死 as 相似, and a child in danger must not be read as harmless.
        add(phrase, lambda n, safe_id=safe_id: Entry("safe", n, id=safe_id), pinyin=False)
    for role, phrase in lexicon.context:
        add(phrase, lambda n, role=role: Entry("context", n, role=role), pinyin=role not in _CHARACTERS_ONLY)
    automaton.make_automaton()

    slang = ahocorasick.Automaton()
    for spelling, meaning in lexicon.slang:
        folded = folder.fold(spelling)
        slang.add_word(folded, (folded, folder.fold(meaning)))
    if lexicon.slang:
        slang.make_automaton()
    return Compiled(automaton=automaton, slang=slang, emoji=lexicon.emoji, patterns=count)
