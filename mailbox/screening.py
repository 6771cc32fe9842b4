"""Screening a note for risk before it is sealed: Chinese, as children write it.

The lexicon (``mailbox/lexicon``) says which phrases matter and how much; the
rules here read them in context:

* negation just before a phrase in the same clause lowers it one level (不想死，
  我想长大), but an immediate phrase never drops to routine, and phrases that
  carry their own negation (不想活, 活不下去) count as written;
* exaggerations (笑死了, 热死了, xswl) and harmless 打 (打球, 打针, 打电话) hide
  the risk words inside them;
* a story, a dream or a lesson in the same sentence (书里, 梦见, 课文) lowers a
  level, except for an "if … then I will …" threat about the child's own life;
* a method with a time or with the means ready (安眠药 … 今晚, 藏起来了) raises one;
* someone else at risk (我同桌说她想死) adds peer_at_risk;
* a child alone and ill (一个人 … 发高烧) is immediate;
* strong emoji (💊🔪) raise a risky note, never flag one alone.

Every result carries the ids of the rules that fired, so a counsellor can see
why. If anything goes wrong, :func:`screen_safely` answers level 2: "needs a
person".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from qiaoqiao.mailbox.lexicon import Compiled, Entry, Lexicon, Term, compile_lexicon
from qiaoqiao.mailbox.normalise import Folder, Token, encode
from qiaoqiao.mailbox.tables import ScreeningTerm

NEGATION_REACH = 3  # tokens between a negation and the phrase it negates
FAIL_SAFE_LEVEL = 2


@dataclass(frozen=True)
class Screening:
    level: int
    categories: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"level": self.level, "categories": list(self.categories), "rules": list(self.rules)}


@dataclass
class _Hit:
    start: int
    end: int  # exclusive, in tokens
    level: int
    categories: set[str]
    rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    entry: Entry


class Screener:
    """A compiled lexicon, reusable for any number of notes (thread-safe for reading)."""

    def __init__(self, lexicon: Lexicon, folder: Folder | None = None) -> None:
        self.folder = folder or Folder()
        self.lexicon = lexicon
        self.compiled: Compiled = compile_lexicon(lexicon, self.folder)

    def with_terms(self, terms: list[Term]) -> "Screener":
        """A screener for one school: the shipped lexicon plus the school's own phrases."""
        return Screener(self.lexicon.with_terms(terms), self.folder) if terms else self

    # -- reading the text ------------------------------------------------

    def _unslang(self, folded: str) -> tuple[str, bool]:
        if not self.lexicon.slang:
            return folded, False
        pieces, last, changed = [], 0, False
        found = sorted(
            ((end - len(spelling) + 1, end + 1, meaning) for end, (spelling, meaning) in self.compiled.slang.iter(folded)),
            key=lambda m: (m[0], -(m[1] - m[0])),
        )
        for start, end, meaning in found:
            if start < last:
                continue
            pieces.append(folded[last:start] + meaning)
            last, changed = end, True
        pieces.append(folded[last:])
        return "".join(pieces), changed

    def _spans(self, tokens: list[Token]) -> list[_Span]:
        encoded, owner = encode(tokens)
        spans = []
        for end, (length, entries) in self.compiled.automaton.iter(encoded):
            start = end - length + 1
            if start > 0 and owner[start - 1] == owner[start]:
                continue  # not on a token boundary
            for entry in entries:
                spans.append(_Span(owner[start], owner[end] + 1, entry))
        return spans

    # -- the rules ---------------------------------------------------------

    def screen(self, text: str) -> Screening:
        folded, slang_used = self._unslang(self.folder.fold(text))
        tokens = self.folder.tokens(folded)
        spans = self._spans(tokens)
        clause, sentence = _boundaries(tokens)
        roles: dict[str, list[_Span]] = {}
        for span in spans:
            if span.entry.kind == "context":
                roles.setdefault(span.entry.role, []).append(span)
        safe = [s for s in spans if s.entry.kind == "safe"]
        hits = [
            _Hit(s.start, s.end, s.entry.term.level, set(s.entry.term.categories), [s.entry.term.id])
            for s in spans
            if s.entry.kind == "risk"
            and not any(o.start < s.end and s.start < o.end and (o.end - o.start) >= (s.end - s.start) for o in safe)
        ]
        extra_rules: list[str] = ["slang"] if slang_used and hits else []

        for hit in hits:
            self._in_context(hit, tokens, roles, clause, sentence)
        hits += _co_occurrences(hits, roles, sentence)
        level = max((h.level for h in hits), default=0)
        categories = {c for h in hits if h.level >= 1 for c in h.categories}
        extra_rules += self._emoji(folded, hits)
        if "emoji.strong" in extra_rules and categories & {"self_harm", "abuse", "sexual_abuse"} and level == 1:
            level = 2
        rules = []
        for rule in [r for h in hits for r in h.rules] + extra_rules:
            if rule not in rules:
                rules.append(rule)
        return Screening(level=level, categories=tuple(sorted(categories)), rules=tuple(rules))

    def _in_context(self, hit: _Hit, tokens: list[Token], roles, clause: list[int], sentence: list[int]) -> None:
        same_clause = lambda s: clause[s.start] == clause[hit.start]  # noqa: E731
        same_sentence = lambda s: sentence[s.start] == sentence[hit.start]  # noqa: E731
        before = lambda s: s.end <= hit.start  # noqa: E731
        thens = [s for s in roles.get("then", []) if same_sentence(s) and before(s)]
        conditional = "self_harm" in hit.categories and any(
            same_sentence(c) and before(c) and any(t.start >= c.end for t in thens) for c in roles.get("conditional", [])
        )
        if conditional:
            hit.rules.append("ctx.conditional_threat")
        lowered = 0
        not_negations = roles.get("not_negation", [])
        for negation in roles.get("negation", []):
            if any(o.start <= negation.start and negation.end <= o.end for o in not_negations):
                continue  # 是不是, 不在乎: a 不 that negates nothing here
            if same_clause(negation) and before(negation) and hit.start - negation.end <= NEGATION_REACH:
                between = range(negation.end, hit.start)
                if not any(t.start in between for t in thens):
                    lowered = 1
                    hit.rules.append("ctx.negation")
                    break
        if any(same_sentence(f) for f in roles.get("fiction", [])):
            lowered += 1
            hit.rules.append("ctx.fiction")
        if lowered and not conditional:
            floor = 1 if hit.level == 3 else 0
            hit.level = max(floor, hit.level - lowered)
        if hit.categories & {"self_harm", "runaway"}:
            for other in roles.get("third_person", []):
                if same_clause(other) and before(other):
                    between = tokens[other.end : hit.start]
                    if not any(t.text == "我" for t in between):
                        hit.categories.add("peer_at_risk")
                        hit.rules.append("ctx.third_person")
                        break

    def _emoji(self, folded: str, hits: list[_Hit]) -> list[str]:
        if not any(h.level >= 1 for h in hits):
            return []  # emoji alone never flag a note
        found = []
        for weight, symbol in self.compiled.emoji:
            if symbol in folded and f"emoji.{weight}" not in found:
                found.append(f"emoji.{weight}")
        return found


def _boundaries(tokens: list[Token]) -> tuple[list[int], list[int]]:
    """For each token, the number of its clause and of its sentence."""
    clause, sentence = [], []
    c = s = 0
    for token in tokens:
        if token.kind == "sentence":
            s += 1
            c += 1
        elif token.kind == "clause":
            c += 1
        clause.append(c)
        sentence.append(s)
    return clause, sentence


def _co_occurrences(hits: list[_Hit], roles, sentence: list[int]) -> list[_Hit]:
    """Rules that read two things together: a method and a time, being alone and ill."""
    added: list[_Hit] = []
    for method in roles.get("method", []):
        where = sentence[method.start]
        timed = any(sentence[t.start] == where for t in roles.get("time", []))
        ready = any(sentence[p.start] == where for p in roles.get("prepared", []))
        if not (timed or ready):
            continue
        near = [h for h in hits if "self_harm" in h.categories and sentence[h.start] == where and h.level >= 1]
        if near:
            for hit in near:
                if "ctx.method_time" not in hit.rules:
                    hit.level = min(3, hit.level + 1)
                    hit.rules.append("ctx.method_time")
        elif ready:
            added.append(_Hit(method.start, method.end, 3 if timed else 2, {"self_harm"}, ["ctx.method_prepared"]))
    alone = roles.get("alone", [])
    ill = roles.get("ill", [])
    if any(abs(sentence[a.start] - sentence[i.start]) <= 1 for a in alone for i in ill):
        first = min(ill, key=lambda s: s.start)
        added.append(_Hit(first.start, first.end, 3, {"neglect"}, ["ctx.alone_ill"]))
    return added


def screen_safely(screener: Screener | None, text: str) -> Screening:
    """Screen ``text``; if screening fails for any reason, the note needs a person (level 2)."""
    try:
        if screener is None:
            raise RuntimeError("no screener")
        return screener.screen(text)
    except Exception:
        return Screening(level=FAIL_SAFE_LEVEL, categories=(), rules=("fail_safe",))


class ScreenerCache:
    """One compiled screener per school (the shipped lexicon plus the school's terms).

    Compiling takes a fraction of a second, so it happens once per change of a
    school's terms, not once per note. Held by the app, passed in where needed.
    """

    def __init__(self, base: Screener) -> None:
        self.base = base
        self._by_school: dict[str, tuple[tuple, Screener]] = {}
        self._lock = threading.Lock()

    def for_school(self, session: Session, school_id: str) -> Screener:
        rows = session.exec(
            select(ScreeningTerm).where(ScreeningTerm.school_id == school_id).order_by(col(ScreeningTerm.created_at), col(ScreeningTerm.id))
        ).all()
        key = tuple((r.id, r.phrase, r.level, r.categories) for r in rows)
        with self._lock:
            cached = self._by_school.get(school_id)
            if cached is not None and cached[0] == key:
                return cached[1]
        terms = [
            Term(id=f"school.{r.id[:8]}", level=r.level, categories=tuple(c for c in r.categories.split(",") if c), phrase=r.phrase)
            for r in rows
        ]
        screener = self.base.with_terms(terms)
        with self._lock:
            self._by_school[school_id] = (key, screener)
        return screener
