"""The screener against notes written the way children write (tests/data/screening/corpus.jsonl).

The corpus was written separately from the lexicon: hundreds of labelled
notes, urgent and harmless, with typos, pinyin, slang, emoji and the tricky
harmless cases. The test prints recall and false alarms and fails if recall of
level 2 and above on the urgent notes drops below 0.95, or if more than 5% of
routine notes reach level 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qiaoqiao.mailbox.lexicon import Lexicon
from qiaoqiao.mailbox.screening import Screener

CORPUS = Path(__file__).resolve().parents[1] / "data" / "screening" / "corpus.jsonl"


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(Lexicon.load())


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_corpus_is_big_and_covers_every_category(corpus):
    assert len(corpus) >= 300
    levels = {n: sum(1 for note in corpus if note["level"] == n) for n in range(4)}
    assert min(levels.values()) >= 50, levels
    for category in ("self_harm", "abuse", "sexual_abuse", "bullying", "runaway", "neglect", "peer_at_risk"):
        assert any(category in note["categories"] and note["level"] >= 2 for note in corpus), category


def test_recall_and_false_alarms(screener, corpus):
    urgent = [note for note in corpus if note["level"] >= 2]
    routine = [note for note in corpus if note["level"] == 0]
    found = [note for note in urgent if screener.screen(note["text"]).level >= 2]
    false_alarms = [note for note in routine if screener.screen(note["text"]).level >= 2]
    immediate = [note for note in corpus if note["level"] == 3]
    exact = [note for note in immediate if screener.screen(note["text"]).level == 3]
    recall = len(found) / len(urgent)
    false_rate = len(false_alarms) / len(routine)
    print(
        f"\nscreening corpus: {len(corpus)} notes; recall of level>=2: {recall:.3f} ({len(found)}/{len(urgent)}); "
        f"routine notes at level>=2: {false_rate:.3f} ({len(false_alarms)}/{len(routine)}); "
        f"level 3 found as 3: {len(exact)}/{len(immediate)}"
    )
    missed = [note["id"] for note in urgent if note not in found]
    assert recall >= 0.95, f"missed: {missed}"
    assert false_rate <= 0.05, f"false alarms: {[note['id'] for note in false_alarms]}"
