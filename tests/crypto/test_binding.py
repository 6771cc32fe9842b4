"""bind(): the canonical AAD must be injective, or a blob could move rows."""

from __future__ import annotations

import pytest
from hypothesis import given

from qiaoqiao.crypto import bind

from .strategies import SOME, bind_parts


def test_moving_a_boundary_between_parts_changes_the_binding():
    assert bind("ab", "c") != bind("a", "bc")
    assert bind("abc") != bind("ab", "c")
    assert bind("", "a") != bind("a", "")
    assert bind("a", "") != bind("a")


def test_the_type_of_a_part_is_bound():
    assert bind(1) != bind("1")
    assert bind("1") != bind(b"1")
    assert bind(1) != bind(b"1")
    assert bind(-1) != bind("-1")


def test_the_same_parts_give_the_same_binding():
    assert bind("school-1", "letter", 42, "body") == bind("school-1", "letter", 42, "body")
    assert bind(b"ab") == bind(bytearray(b"ab"))


@pytest.mark.parametrize("part", [True, False, 1.0, None, ["a"]])
def test_parts_that_cannot_be_encoded_unambiguously_are_refused(part):
    with pytest.raises(TypeError):
        bind("school-1", part)


@SOME
@given(bind_parts, bind_parts)
def test_bind_is_injective(a, b):
    # Parts are str, int or bytes, which Python's == already tells apart
    # (1 != "1" != b"1"), so equal bindings must mean equal tuples.
    assert (bind(*a) == bind(*b)) == (a == b)
