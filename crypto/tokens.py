"""Random tokens handed to a browser (links, form tokens) and what is stored of them.

The database keeps a purpose-separated SHA-256 of a token to find its row, and
may keep something sealed under a key derived from the token: whoever holds
the token can open it, a copy of the database cannot.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def new_token() -> str:
    """A URL-safe random token of 256 bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str, purpose: str) -> str:
    """The stored identifier of a token (hex SHA-256 of ``purpose:token``)."""
    return hashlib.sha256(f"{purpose}:".encode() + token.encode("utf-8")).hexdigest()


def token_key(token: str, purpose: str) -> bytes:
    """A 256-bit key derived from a full-entropy token, for one purpose."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"qiaoqiao {purpose}".encode()).derive(
        token.encode("utf-8")
    )
