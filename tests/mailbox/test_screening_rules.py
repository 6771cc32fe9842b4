"""Each normalisation and context rule of the screener, on its own."""

from __future__ import annotations

import pytest

from qiaoqiao.mailbox.lexicon import Lexicon, Term
from qiaoqiao.mailbox.normalise import Folder
from qiaoqiao.mailbox.screening import Screener, screen_safely


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(Lexicon.load())


def level(screener, text) -> int:
    return screener.screen(text).level


@pytest.mark.parametrize(
    "written",
    ["我想死", "我想死", "我想\u200b死", "我想\u200d死", "我想si", "wo xiang si", "woxiangsi", "我 想 死", "WO XIANG SI"],
)
def test_normalisation_folds_widths_zero_widths_pinyin_and_case(screener, written):
    assert level(screener, written) == 2


def test_traditional_characters_are_read_as_simplified(screener):
    assert screener.screen("我不想活了，想離家出走").categories == ("runaway", "self_harm")
    assert level(screener, "我要跳樓") == 3


def test_sound_alike_characters_are_never_the_same_word(screener):
    assert level(screener, "这两个三角形很相似") == 0
    assert level(screener, "我在上自习") == 0


@pytest.mark.parametrize("written, meaning", [("紫砂", 2), ("我想离加出走", 2), ("他要跳娄", 3), ("我好孤蛋", 1)])
def test_slang_homophones_and_misspellings(screener, written, meaning):
    result = screener.screen(written)
    assert result.level == meaning and "slang" in result.rules


def test_emoji_raise_a_risky_note_but_never_flag_alone(screener):
    assert level(screener, "💊💊🔪😭") == 0
    assert level(screener, "今天好开心🔪") == 0
    assert level(screener, "我讨厌自己💊") == 2
    assert "emoji.strong" in screener.screen("我讨厌自己💊").rules


def test_negation_lowers_a_level_but_not_below_concern_for_immediate(screener):
    assert level(screener, "我不想死，我想长大") == 1
    assert level(screener, "我没有想过自杀") == 1
    assert level(screener, "我不会跳楼的") == 2  # immediate phrase: lowered, never to routine
    assert "ctx.negation" in screener.screen("我不想死").rules


@pytest.mark.parametrize("phrase", ["我不想活了", "我活不下去了", "我不敢回家", "没人管我"])
def test_phrases_with_their_own_negation_count(screener, phrase):
    assert level(screener, phrase) == 2


@pytest.mark.parametrize("phrase", ["笑死了", "今天热死了", "饿死了快开饭", "累死了", "xswl", "困死我了"])
def test_exaggeration_idioms_are_not_risk(screener, phrase):
    assert level(screener, phrase) == 0


@pytest.mark.parametrize("phrase, expected", [("爸爸打我", 2), ("我被打了", 2), ("我们去打球", 0), ("今天打针了", 0), ("妈妈给我打电话", 0), ("妈妈打我电话没打通", 0)])
def test_hitting_counts_only_when_the_child_is_hit(screener, phrase, expected):
    assert level(screener, phrase) == expected


def test_fiction_dreams_and_lessons_lower_a_level(screener):
    assert level(screener, "书里的人跳楼了") == 2
    assert level(screener, "我梦见我想死") == 1
    assert "ctx.fiction" in screener.screen("课文里的小女孩想死").rules


def test_method_with_time_raises_a_level(screener):
    assert level(screener, "我想死") == 2
    assert level(screener, "我想死，今晚就用绳子") == 3
    assert "ctx.method_time" in screener.screen("我想死，今晚就用绳子").rules
    assert level(screener, "我把安眠药藏起来了") == 2
    assert level(screener, "安眠药我已经藏起来了今天晚上吃") == 3


def test_an_if_then_threat_about_the_childs_own_life_is_not_lowered(screener):
    result = screener.screen("要是妈妈不回来我就跳楼")
    assert result.level == 3 and "ctx.conditional_threat" in result.rules


def test_a_friend_at_risk(screener):
    result = screener.screen("我同桌说她想死")
    assert "peer_at_risk" in result.categories and result.level == 2


def test_alone_and_ill_is_immediate(screener):
    assert screener.screen("家里没人，我发高烧了").level == 3
    assert screener.screen("我发烧了，奶奶带我去看医生").level == 0


def test_every_result_names_its_rules(screener):
    result = screener.screen("叔叔摸我尿尿的地方，他让我不要告诉妈妈")
    assert result.level == 3 and result.categories == ("sexual_abuse",)
    assert {"sa.touch.private2", "sa.secret.dont_tell2"} <= set(result.rules)


def test_a_school_may_add_its_own_terms(screener):
    assert level(screener, "他们又叫我去后山") == 0
    local = screener.with_terms([Term(id="school.houshan", level=2, categories=("bullying",), phrase="叫我去后山")])
    assert local.screen("他们又叫我去后山").categories == ("bullying",)


def test_screening_fails_safe(screener):
    class Broken:
        def screen(self, text):
            raise RuntimeError("broken lexicon")

    result = screen_safely(Broken(), "任何内容")
    assert result.level == 2 and result.rules == ("fail_safe",)
    assert screen_safely(None, "x").level == 2


def test_pinyin_segmentation():
    folder = Folder()
    tokens = folder.tokens(folder.fold("wobuxianghuole"))
    assert [t.text for t in tokens] == ["wo", "bu", "xiang", "huo", "le"]
    assert folder.tokens(folder.fold("xswl"))[0].kind == "word"
