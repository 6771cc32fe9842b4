"""Hybrid keypairs and HPKE sealing (ML-KEM-768 + X25519), version byte 0x01."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import (
    CannotOpen,
    derive_keypair,
    generate_keypair,
    load_private_key,
    load_public_key,
    open_sealed,
    seal_to,
)

from .strategies import FEW, aads, draw_flip, keypairs, plaintexts, seeds

PUBLIC_BYTES = 1 + 1184 + 32  # format byte, ML-KEM-768 public key, X25519 public key


@pytest.fixture(scope="module")
def keypair():
    return generate_keypair()


@FEW
@given(keypairs, plaintexts, aads)
def test_round_trip_to_the_public_key_object(keypair, plaintext, aad):
    assert open_sealed(keypair, seal_to(keypair.public, plaintext, aad), aad) == plaintext


@FEW
@given(keypairs, plaintexts, aads)
def test_round_trip_to_the_stored_public_bytes(keypair, plaintext, aad):
    stored = keypair.public_bytes()
    assert open_sealed(keypair, seal_to(stored, plaintext, aad), aad) == plaintext
    assert open_sealed(keypair, seal_to(bytearray(stored), plaintext, aad), aad) == plaintext
    assert open_sealed(keypair, seal_to(load_public_key(stored), plaintext, aad), aad) == plaintext


@FEW
@given(seeds)
def test_the_same_seed_derives_the_same_keypair(seed):
    first, second = derive_keypair(seed), derive_keypair(seed)
    assert first.public_bytes() == second.public_bytes()
    assert first.private_bytes() == second.private_bytes()
    # ...and the re-derived private half opens what was sealed to the first.
    assert open_sealed(second, seal_to(first.public, b"key", b"aad"), b"aad") == b"key"


@FEW
@given(seeds, seeds)
def test_different_seeds_derive_different_keys(seed, other_seed):
    assume(seed != other_seed)
    assert derive_keypair(seed).public_bytes() != derive_keypair(other_seed).public_bytes()


@FEW
@given(seeds, st.sampled_from([0, 31, 64, 95]))
def test_both_halves_of_the_seed_matter(seed, index):
    # A hybrid key must depend on the ML-KEM seed *and* the X25519 scalar.
    # (Bytes 32-63 are ML-KEM's implicit-rejection value z, which by design
    # does not enter the public key.) Bit 3 survives X25519's clamping.
    changed = bytearray(seed)
    changed[index] ^= 0x08
    assert derive_keypair(bytes(changed)).public_bytes() != derive_keypair(seed).public_bytes()


@pytest.mark.parametrize("length", [0, 64, 95, 97])
def test_a_seed_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError):
        derive_keypair(bytes(length))


def test_private_bytes_load_back_to_the_same_keypair(keypair):
    loaded = load_private_key(keypair.private_bytes())
    assert loaded.public_bytes() == keypair.public_bytes()
    assert open_sealed(loaded, seal_to(keypair.public, b"key", b"aad"), b"aad") == b"key"


def test_key_shapes(keypair):
    assert len(keypair.public_bytes()) == PUBLIC_BYTES
    assert keypair.public_bytes()[0] == 0x01
    assert len(keypair.private_bytes()) == 1 + 96
    assert keypair.private_bytes()[0] == 0x01


def test_fresh_keypairs_differ():
    assert generate_keypair().public_bytes() != generate_keypair().public_bytes()


def test_repr_hides_the_private_key(keypair):
    assert keypair.seed.hex() not in repr(keypair)
    assert keypair.seed.hex() not in str(keypair)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: b"",
        lambda data: data[:-1],
        lambda data: data + b"\x00",
        lambda data: b"\x02" + data[1:],
        lambda data: b"\x00" + data[1:],
    ],
    ids=["empty", "short", "long", "version-2", "version-0"],
)
def test_a_malformed_private_key_cannot_open(keypair, mangle):
    with pytest.raises(CannotOpen):
        load_private_key(mangle(keypair.private_bytes()))


@pytest.mark.parametrize(
    "mangle",
    [lambda data: b"", lambda data: data[:-1], lambda data: data + b"\x00", lambda data: b"\x02" + data[1:]],
    ids=["empty", "short", "long", "version-2"],
)
def test_a_malformed_public_key_is_refused(keypair, mangle):
    with pytest.raises(ValueError):
        load_public_key(mangle(keypair.public_bytes()))


@FEW
@given(plaintexts, aads, st.data())
def test_any_flipped_byte_fails(keypair, plaintext, aad, data):
    blob = draw_flip(data, seal_to(keypair.public, plaintext, aad))
    with pytest.raises(CannotOpen):
        open_sealed(keypair, blob, aad)


@FEW
@given(plaintexts, aads, aads)
def test_wrong_aad_fails(keypair, plaintext, aad, other_aad):
    assume(aad != other_aad)
    with pytest.raises(CannotOpen):
        open_sealed(keypair, seal_to(keypair.public, plaintext, aad), other_aad)


@FEW
@given(seeds, seeds, plaintexts, aads)
def test_wrong_keypair_fails(seed, other_seed, plaintext, aad):
    assume(seed != other_seed)
    blob = seal_to(derive_keypair(seed).public, plaintext, aad)
    with pytest.raises(CannotOpen):
        open_sealed(derive_keypair(other_seed), blob, aad)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_fails(keypair, version):
    blob = seal_to(keypair.public, b"key", b"aad")
    assert blob[0] == 0x01
    with pytest.raises(CannotOpen):
        open_sealed(keypair, bytes([version]) + blob[1:], b"aad")


def test_every_truncation_fails(keypair):
    blob = seal_to(keypair.public, b"k" * 32, b"aad")
    for length in range(len(blob)):
        with pytest.raises(CannotOpen):
            open_sealed(keypair, blob[:length], b"aad")


def test_empty_blob_fails(keypair):
    with pytest.raises(CannotOpen):
        open_sealed(keypair, b"", b"aad")


def test_trailing_bytes_fail(keypair):
    with pytest.raises(CannotOpen):
        open_sealed(keypair, seal_to(keypair.public, b"key", b"aad") + b"\x00", b"aad")


def test_sealing_is_randomised(keypair):
    assert seal_to(keypair.public, b"key", b"aad") != seal_to(keypair.public, b"key", b"aad")
