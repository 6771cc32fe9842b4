"""Content sealing: AES-256-GCM under a per-record key, version byte 0x01."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import CannotOpen, new_content_key, open_content, seal_content

from .strategies import FEW, SOME, aads, draw_flip, plaintexts

keys = st.binary(min_size=32, max_size=32)


@SOME
@given(keys, plaintexts, aads)
def test_round_trip(key, plaintext, aad):
    assert open_content(key, seal_content(key, plaintext, aad), aad) == plaintext


@SOME
@given(keys, plaintexts, aads, st.data())
def test_any_flipped_byte_fails(key, plaintext, aad, data):
    blob = draw_flip(data, seal_content(key, plaintext, aad))
    with pytest.raises(CannotOpen):
        open_content(key, blob, aad)


@FEW
@given(keys, plaintexts, aads, aads)
def test_wrong_aad_fails(key, plaintext, aad, other_aad):
    assume(aad != other_aad)
    with pytest.raises(CannotOpen):
        open_content(key, seal_content(key, plaintext, aad), other_aad)


@FEW
@given(keys, keys, plaintexts, aads)
def test_wrong_key_fails(key, other_key, plaintext, aad):
    assume(key != other_key)
    with pytest.raises(CannotOpen):
        open_content(other_key, seal_content(key, plaintext, aad), aad)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_fails(version):
    key = new_content_key()
    blob = seal_content(key, b"hello", b"aad")
    assert blob[0] == 0x01
    with pytest.raises(CannotOpen):
        open_content(key, bytes([version]) + blob[1:], b"aad")


def test_every_truncation_fails():
    key = new_content_key()
    blob = seal_content(key, "老师，我想妈妈了。".encode(), b"aad")
    for length in range(len(blob)):
        with pytest.raises(CannotOpen):
            open_content(key, blob[:length], b"aad")


def test_empty_blob_fails():
    with pytest.raises(CannotOpen):
        open_content(new_content_key(), b"", b"aad")


def test_trailing_bytes_fail():
    key = new_content_key()
    with pytest.raises(CannotOpen):
        open_content(key, seal_content(key, b"hello", b"aad") + b"\x00", b"aad")


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_a_key_of_the_wrong_length_cannot_open(length):
    # 16 and 24 bytes are valid AES keys, so AESGCM itself would accept them.
    key = new_content_key()
    blob = seal_content(key, b"hello", b"aad")
    with pytest.raises(CannotOpen):
        open_content(key[:length] if length < 32 else key + b"\x00", blob, b"aad")


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_sealing_refuses_a_key_of_the_wrong_length(length):
    with pytest.raises(ValueError):
        seal_content(bytes(length), b"hello", b"aad")


def test_fresh_keys_are_256_bits_and_differ():
    first, second = new_content_key(), new_content_key()
    assert len(first) == len(second) == 32
    assert first != second


def test_sealing_twice_uses_a_fresh_nonce():
    key = new_content_key()
    first, second = seal_content(key, b"same", b"aad"), seal_content(key, b"same", b"aad")
    assert first[1:13] != second[1:13]
    assert first != second
