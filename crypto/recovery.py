"""The printable recovery key, shown once at setup.

It wraps each audience's private key, so the letters are never lost with one
person's passphrase. 160 random bits in Crockford base32 (no I, L, O, U), in
groups of four: easy to print, read aloud and type back. Being full-entropy,
it needs no Argon2id; HKDF turns it into the wrapping key.
"""

from __future__ import annotations

import os
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qiaoqiao.crypto.errors import CannotOpen

VERSION = 0x01
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LENGTH = 32  # characters: 32 x 5 bits = 160 bits
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_recovery_key() -> str:
    """A fresh recovery key, formatted for printing in groups of four (``7K2M-9QXD-…``)."""
    value = int.from_bytes(os.urandom(_LENGTH * 5 // 8), "big")
    chars = []
    for _ in range(_LENGTH):
        value, index = divmod(value, 32)
        chars.append(ALPHABET[index])
    raw = "".join(chars)
    return "-".join(raw[i : i + 4] for i in range(0, _LENGTH, 4))


def normalise_recovery_key(text: str) -> str:
    """Upper-case, drop separators, map look-alikes; raise ``ValueError`` if not a key."""
    cleaned = unicodedata.normalize("NFKC", text).upper().translate(_CONFUSABLE)
    cleaned = "".join(ch for ch in cleaned if not ch.isspace() and ch not in "-_.")
    if len(cleaned) != _LENGTH or any(ch not in ALPHABET for ch in cleaned):
        raise ValueError("not a recovery key")
    return cleaned


def _key(recovery_key: str) -> bytes:
    """The wrapping key; ``ValueError`` if the text is not a recovery key at all."""
    material = normalise_recovery_key(recovery_key).encode("ascii")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"qiaoqiao recovery wrap"
    ).derive(material)


def wrap_with_recovery_key(secret: bytes, recovery_key: str, aad: bytes) -> bytes:
    """Encrypt ``secret`` under the recovery key."""
    nonce = os.urandom(12)
    return bytes([VERSION]) + nonce + AESGCM(_key(recovery_key)).encrypt(nonce, secret, aad)


def unwrap_with_recovery_key(blob: bytes, recovery_key: str, aad: bytes) -> bytes:
    """Open a recovery wrap; :class:`CannotOpen` on any failure (including a mistyped key)."""
    if len(blob) < 1 + 12 + 16 or blob[0] != VERSION:
        raise CannotOpen()
    try:
        return AESGCM(_key(recovery_key)).decrypt(blob[1:13], blob[13:], aad)
    except (InvalidTag, ValueError):
        raise CannotOpen() from None
