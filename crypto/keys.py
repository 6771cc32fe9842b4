"""Hybrid post-quantum keypairs and HPKE sealing (RFC 9180).

Suite: KEM ML-KEM-768 + X25519 (hybrid), HKDF-SHA256, AES-256-GCM. Letters are
kept for years, so a harvest-now-decrypt-later attacker must break both the
lattice and the elliptic-curve half. The binding (``aad``) goes into HPKE's
``info``, which enters the key schedule: a blob moved to another row derives a
different key and fails to open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from qiaoqiao.crypto.errors import CannotOpen

VERSION = 0x01
KEY_FORMAT = 0x01
SEED_BYTES = 64 + 32  # ML-KEM-768 seed, then X25519 private scalar
_MLKEM_PUBLIC_BYTES = 1184
_X25519_BYTES = 32

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True)
class Keypair:
    """A private key held in memory, with its public half."""

    private: hpke.MLKEM768X25519PrivateKey
    public: hpke.MLKEM768X25519PublicKey
    seed: bytes
    public_raw: bytes

    def private_bytes(self) -> bytes:
        """The private key serialised (format byte + seed), for wrapping only."""
        return bytes([KEY_FORMAT]) + self.seed

    def public_bytes(self) -> bytes:
        """The public key serialised (format byte + ML-KEM + X25519), storable in clear."""
        return bytes([KEY_FORMAT]) + self.public_raw

    def __repr__(self) -> str:
        return "Keypair(<private>)"


def _from_seed(seed: bytes) -> Keypair:
    if len(seed) != SEED_BYTES:
        raise ValueError("keypair seed must be 96 bytes")
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed[:64])
    ec = x25519.X25519PrivateKey.from_private_bytes(seed[64:])
    raw = kem.public_key().public_bytes_raw() + ec.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Keypair(
        private=hpke.MLKEM768X25519PrivateKey(kem, ec),
        public=hpke.MLKEM768X25519PublicKey(kem.public_key(), ec.public_key()),
        seed=bytes(seed),
        public_raw=raw,
    )


def generate_keypair() -> Keypair:
    """A fresh random keypair (an audience's, for example)."""
    return _from_seed(os.urandom(SEED_BYTES))


def derive_keypair(seed: bytes) -> Keypair:
    """The keypair determined by 96 bytes of key material (a code's Argon2id output)."""
    return _from_seed(seed)


def load_private_key(data: bytes) -> Keypair:
    """Rebuild a keypair from :meth:`Keypair.private_bytes`; :class:`CannotOpen` if malformed."""
    if len(data) != 1 + SEED_BYTES or data[0] != KEY_FORMAT:
        raise CannotOpen()
    return _from_seed(data[1:])


def load_public_key(data: bytes) -> hpke.MLKEM768X25519PublicKey:
    """Rebuild a public key from :meth:`Keypair.public_bytes`."""
    if len(data) != 1 + _MLKEM_PUBLIC_BYTES + _X25519_BYTES or data[0] != KEY_FORMAT:
        raise ValueError("not a qiaoqiao public key")
    kem = mlkem.MLKEM768PublicKey.from_public_bytes(data[1 : 1 + _MLKEM_PUBLIC_BYTES])
    ec = x25519.X25519PublicKey.from_public_bytes(data[1 + _MLKEM_PUBLIC_BYTES :])
    return hpke.MLKEM768X25519PublicKey(kem, ec)


def seal_to(public_key: hpke.MLKEM768X25519PublicKey | bytes, plaintext: bytes, aad: bytes) -> bytes:
    """HPKE-seal ``plaintext`` (usually a content key) to ``public_key``, bound to ``aad``."""
    if isinstance(public_key, (bytes, bytearray)):
        public_key = load_public_key(bytes(public_key))
    return bytes([VERSION]) + _SUITE.encrypt(plaintext, public_key, info=aad)


def open_sealed(keypair: Keypair, blob: bytes, aad: bytes) -> bytes:
    """Open a blob made by :func:`seal_to`; :class:`CannotOpen` on any failure."""
    if len(blob) < 2 or blob[0] != VERSION:
        raise CannotOpen()
    try:
        return _SUITE.decrypt(blob[1:], keypair.private, info=aad)
    except (InvalidTag, ValueError):
        raise CannotOpen() from None
