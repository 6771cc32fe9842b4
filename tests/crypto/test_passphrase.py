"""Passphrase wraps (Argon2id, cost stored in the wrap) and login verifiers."""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import (
    CannotOpen,
    KdfParams,
    hash_passphrase,
    unwrap_with_passphrase,
    verify_passphrase,
    wrap_with_passphrase,
)

from .strategies import FEW, aads, draw_flip, passphrases, plaintexts

FAST = KdfParams.fast_for_tests()
# version(1) | memory KiB(4) | iterations(1) | lanes(1) | salt(16) | nonce(12) | ciphertext
_PARAMS = slice(1, 7)


def _with_params(blob: bytes, memory_kib: int, iterations: int, lanes: int) -> bytes:
    """``blob`` with its cost header rewritten, as someone with write access to the database could."""
    header = memory_kib.to_bytes(4, "big") + bytes([iterations, lanes])
    return blob[: _PARAMS.start] + header + blob[_PARAMS.stop :]


def _different(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a) != unicodedata.normalize("NFC", b)


def test_fast_params_are_cheap_and_valid():
    # The fixtures and every test below rely on this staying fast.
    assert FAST.memory_kib <= 1024 and FAST.iterations == 1
    assert FAST.is_sane()
    assert KdfParams().is_sane()


@FEW
@given(plaintexts, passphrases, aads)
def test_round_trip(secret, passphrase, aad):
    blob = wrap_with_passphrase(secret, passphrase, aad, FAST)
    assert unwrap_with_passphrase(blob, passphrase, aad) == secret


@FEW
@given(st.text(alphabet="eéèaåoöñ\u0301\u0308\u030a", max_size=12))
def test_composed_and_decomposed_forms_of_a_passphrase_are_the_same(passphrase):
    # A phone keyboard may send "é" as one code point or as "e" + accent.
    blob = wrap_with_passphrase(b"secret", unicodedata.normalize("NFD", passphrase), b"aad", FAST)
    assert unwrap_with_passphrase(blob, unicodedata.normalize("NFC", passphrase), b"aad") == b"secret"


def test_the_cost_is_read_from_the_wrap_not_assumed():
    params = KdfParams(memory_kib=256, iterations=2, lanes=2)
    blob = wrap_with_passphrase(b"secret", "correct horse", b"aad", params)
    assert blob[_PARAMS] == (256).to_bytes(4, "big") + bytes([2, 2])
    assert unwrap_with_passphrase(blob, "correct horse", b"aad") == b"secret"


def test_wrapping_twice_uses_fresh_salt_and_nonce():
    first = wrap_with_passphrase(b"secret", "pw", b"aad", FAST)
    second = wrap_with_passphrase(b"secret", "pw", b"aad", FAST)
    assert first[7:23] != second[7:23]
    assert first[23:35] != second[23:35]


@FEW
@given(plaintexts, passphrases, aads, st.data())
def test_any_flipped_byte_fails(secret, passphrase, aad, data):
    # Flips in the cost header may declare up to ~1 GiB of Argon2id memory
    # that the sanity bound still accepts, so a rare example takes seconds.
    blob = draw_flip(data, wrap_with_passphrase(secret, passphrase, aad, FAST))
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(blob, passphrase, aad)


@FEW
@given(plaintexts, passphrases, passphrases, aads)
def test_wrong_passphrase_fails(secret, passphrase, other, aad):
    assume(_different(passphrase, other))
    blob = wrap_with_passphrase(secret, passphrase, aad, FAST)
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(blob, other, aad)


@FEW
@given(plaintexts, passphrases, aads, aads)
def test_wrong_aad_fails(secret, passphrase, aad, other_aad):
    assume(aad != other_aad)
    blob = wrap_with_passphrase(secret, passphrase, aad, FAST)
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(blob, passphrase, other_aad)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_fails(version):
    blob = wrap_with_passphrase(b"secret", "pw", b"aad", FAST)
    assert blob[0] == 0x01
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(bytes([version]) + blob[1:], "pw", b"aad")


def test_every_truncation_fails():
    blob = wrap_with_passphrase(b"k" * 97, "pw", b"aad", FAST)
    for length in range(len(blob)):
        with pytest.raises(CannotOpen):
            unwrap_with_passphrase(blob[:length], "pw", b"aad")


def test_empty_blob_fails():
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(b"", "pw", b"aad")


def test_trailing_bytes_fail():
    blob = wrap_with_passphrase(b"secret", "pw", b"aad", FAST)
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(blob + b"\x00", "pw", b"aad")


@pytest.mark.parametrize(
    ("memory_kib", "iterations", "lanes"),
    [
        (4 * 1024 * 1024, 1, 1),  # 4 GiB
        (2 * 1024 * 1024, 1, 1),  # 2 GiB
        (0xFFFFFFFF, 255, 255),
        (64, 255, 1),
        (64 * 1024, 1, 255),
        (0, 1, 1),
        (64, 0, 1),
        (64, 1, 0),
        (64, 1, 16),  # below Argon2's minimum of 8 KiB per lane
    ],
)
def test_a_forged_cost_header_fails_quickly(memory_kib, iterations, lanes):
    blob = _with_params(wrap_with_passphrase(b"secret", "pw", b"aad", FAST), memory_kib, iterations, lanes)
    started = time.perf_counter()
    with pytest.raises(CannotOpen):
        unwrap_with_passphrase(blob, "pw", b"aad")
    # Deriving with 4 GiB takes many seconds here; refusing takes microseconds.
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "params",
    [KdfParams(memory_kib=64, iterations=21, lanes=1), KdfParams(memory_kib=17 * 8, iterations=1, lanes=17)],
    ids=["21-passes", "17-lanes"],
)
def test_every_wrap_that_can_be_made_can_be_opened(params):
    try:
        blob = wrap_with_passphrase(b"secret", "pw", b"aad", params)
    except ValueError:
        return  # refusing up front is fine: nothing unopenable was stored
    assert unwrap_with_passphrase(blob, "pw", b"aad") == b"secret"


@FEW
@given(passphrases, passphrases)
def test_verifier_accepts_the_passphrase_and_nothing_else(passphrase, other):
    phc = hash_passphrase(passphrase, FAST)
    assert verify_passphrase(passphrase, phc)
    assert verify_passphrase(unicodedata.normalize("NFD", passphrase), phc)
    if _different(passphrase, other):
        assert not verify_passphrase(other, phc)


def test_verifier_is_salted_phc_argon2id():
    first, second = hash_passphrase("pw", FAST), hash_passphrase("pw", FAST)
    assert first.startswith("$argon2id$")
    assert "m=64,t=1,p=1" in first
    assert first != second


@pytest.mark.parametrize("phc", ["", "not a hash", "$argon2id$v=19$m=64,t=1,p=1$", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"])
def test_a_malformed_verifier_never_verifies(phc):
    assert not verify_passphrase("pw", phc)


def test_a_forged_verifier_cost_fails_quickly():
    phc = hash_passphrase("pw", FAST).replace("m=64,", f"m={4 * 1024 * 1024},")
    started = time.perf_counter()
    assert not verify_passphrase("pw", phc)
    assert time.perf_counter() - started < 0.5
