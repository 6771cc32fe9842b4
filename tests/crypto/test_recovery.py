"""The printable recovery key and the wraps it opens."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import (
    CannotOpen,
    new_recovery_key,
    normalise_recovery_key,
    unwrap_with_recovery_key,
    wrap_with_recovery_key,
)

from .strategies import FEW, SOME, aads, draw_flip, plaintexts

# Typed out here rather than imported, so a change to the module's alphabet fails a test.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PRINTED = re.compile(rf"[{CROCKFORD}]{{4}}(-[{CROCKFORD}]{{4}}){{7}}")

raw_keys = st.text(alphabet=CROCKFORD, min_size=32, max_size=32)
_LOOK_ALIKES = {"0": "0Oo", "1": "1IiLl"}


def printed(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, 32, 4))


@st.composite
def typed_versions(draw, raw: str) -> str:
    """``raw`` as someone might type it back from paper."""
    out = []
    for ch in raw:
        ch = draw(st.sampled_from(_LOOK_ALIKES.get(ch, ch)))
        if draw(st.booleans()):
            ch = ch.lower()
        out.append(ch + draw(st.sampled_from(["", "", " ", "-", "  ", "\t", "\u3000"])))
    return "".join(out)


@SOME
@given(st.data(), raw_keys)
def test_a_typed_key_normalises_to_the_printed_one(data, raw):
    typed = data.draw(typed_versions(raw))
    assert normalise_recovery_key(typed) == raw
    assert normalise_recovery_key(printed(raw)) == raw


@FEW
@given(st.data(), raw_keys, plaintexts, aads)
def test_round_trip_with_the_key_as_typed(data, raw, secret, aad):
    blob = wrap_with_recovery_key(secret, printed(raw), aad)
    typed = data.draw(typed_versions(raw))
    assert unwrap_with_recovery_key(blob, typed, aad) == secret


def test_round_trip_with_a_fresh_key():
    key = new_recovery_key()
    blob = wrap_with_recovery_key(b"private key", key, b"aad")
    assert unwrap_with_recovery_key(blob, key.lower().replace("-", " "), b"aad") == b"private key"


@pytest.mark.parametrize(
    "text",
    ["", "0" * 31, "0" * 33, "U" + "0" * 31, "!" + "0" * 31, "Ä" + "0" * 31, "0" * 16 + "/" + "0" * 16],
    ids=["empty", "short", "long", "U", "punctuation", "umlaut", "slash"],
)
def test_text_that_is_not_a_key_is_refused(text):
    with pytest.raises(ValueError):
        normalise_recovery_key(text)
    blob = wrap_with_recovery_key(b"secret", new_recovery_key(), b"aad")
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(blob, text, b"aad")


@SOME
@given(raw_keys, raw_keys, plaintexts, aads)
def test_wrong_key_fails(raw, other, secret, aad):
    assume(raw != other)
    blob = wrap_with_recovery_key(secret, printed(raw), aad)
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(blob, printed(other), aad)


@SOME
@given(raw_keys, plaintexts, aads, st.data())
def test_any_flipped_byte_fails(raw, secret, aad, data):
    blob = draw_flip(data, wrap_with_recovery_key(secret, raw, aad))
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(blob, raw, aad)


@SOME
@given(raw_keys, plaintexts, aads, aads)
def test_wrong_aad_fails(raw, secret, aad, other_aad):
    assume(aad != other_aad)
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(wrap_with_recovery_key(secret, raw, aad), raw, other_aad)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_fails(version):
    key = new_recovery_key()
    blob = wrap_with_recovery_key(b"secret", key, b"aad")
    assert blob[0] == 0x01
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(bytes([version]) + blob[1:], key, b"aad")


def test_every_truncation_fails():
    key = new_recovery_key()
    blob = wrap_with_recovery_key(b"k" * 97, key, b"aad")
    for length in range(len(blob)):
        with pytest.raises(CannotOpen):
            unwrap_with_recovery_key(blob[:length], key, b"aad")


def test_empty_blob_fails():
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(b"", new_recovery_key(), b"aad")


def test_trailing_bytes_fail():
    key = new_recovery_key()
    with pytest.raises(CannotOpen):
        unwrap_with_recovery_key(wrap_with_recovery_key(b"secret", key, b"aad") + b"\x00", key, b"aad")


def test_fresh_keys_are_eight_groups_of_four_crockford_characters():
    for _ in range(50):
        key = new_recovery_key()
        assert PRINTED.fullmatch(key), key
        assert normalise_recovery_key(key) == key.replace("-", "")


def test_a_key_carries_at_least_128_bits():
    assert len(CROCKFORD) == 32 and len(set(CROCKFORD)) == 32
    assert not set("ILOU") & set(CROCKFORD)
    assert 32 * math.log2(len(CROCKFORD)) >= 128


def test_fresh_keys_use_the_whole_alphabet_in_every_position():
    # Catches keys built from too few random bits (the high positions would
    # stay "0"). With 1,000 keys a symbol is missing from a position by chance
    # with probability (31/32)**1000 < 1e-13, times 1,024 pairs: never.
    keys = [new_recovery_key().replace("-", "") for _ in range(1000)]
    for position in range(32):
        assert {key[position] for key in keys} == set(CROCKFORD), position


def test_fresh_keys_differ():
    keys = {new_recovery_key() for _ in range(20)}
    assert len(keys) == 20
