"""Hypothesis strategies and settings shared by the crypto tests."""

from __future__ import annotations

from hypothesis import settings, strategies as st

from qiaoqiao.crypto import bind, derive_keypair

# HPKE and Argon2id examples cost milliseconds each; a few dozen per property
# keep the whole crypto suite well under a minute on two cores. No deadline:
# a loaded CI machine must not turn a slow example into a failure.
FEW = settings(max_examples=40, deadline=None)
SOME = settings(max_examples=100, deadline=None)

plaintexts = st.binary(max_size=300)
bind_parts = st.lists(
    st.one_of(st.text(max_size=12), st.integers(-(2**70), 2**70), st.binary(max_size=12)),
    max_size=5,
)
aads = st.one_of(st.binary(max_size=64), bind_parts.map(lambda parts: bind(*parts)))
seeds = st.binary(min_size=96, max_size=96)
keypairs = seeds.map(derive_keypair)
passphrases = st.text(max_size=40)


def flip(blob: bytes, index: int, mask: int) -> bytes:
    """``blob`` with the byte at ``index`` xor-ed with a non-zero ``mask``."""
    assert mask != 0
    out = bytearray(blob)
    out[index] ^= mask
    return bytes(out)


def draw_flip(data: st.DataObject, blob: bytes) -> bytes:
    """Let hypothesis pick which byte of ``blob`` to damage and how."""
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    return flip(blob, index, mask)
