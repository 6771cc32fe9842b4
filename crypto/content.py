"""Content keys: one random key per record, AES-256-GCM, a version byte first.

A letter's text is encrypted once under its own content key; who may read it
is decided by who holds a wrap of that key (see ``keys.seal_to``). Deleting
every wrap erases the letter (crypto-shredding).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qiaoqiao.crypto.errors import CannotOpen

VERSION = 0x01
KEY_BYTES = 32
_NONCE_BYTES = 12


def new_content_key() -> bytes:
    """A fresh random 256-bit content key."""
    return os.urandom(KEY_BYTES)


def seal_content(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key``, bound to ``aad``."""
    if len(key) != KEY_BYTES:
        raise ValueError("content key must be 32 bytes")
    nonce = os.urandom(_NONCE_BYTES)
    return bytes([VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_content(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a blob made by :func:`seal_content`; :class:`CannotOpen` on any failure."""
    if len(key) != KEY_BYTES or len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != VERSION:
        raise CannotOpen()
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise CannotOpen() from None
