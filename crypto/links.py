"""Secrets for the links a teacher sends to a parent.

The link carries a 256-bit random secret; the database keeps only its SHA-256
(to find the row) and a content-key wrap under a key derived from it, so the
database alone opens no letter. The separate 6-digit access code is checked
with an HMAC keyed by the link secret, so it cannot be brute-forced offline
from a stolen database either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from qiaoqiao.crypto.tokens import new_token, token_hash, token_key


def new_link_secret() -> str:
    """A URL-safe random secret of 256 bits."""
    return new_token()


def link_hash(secret: str) -> str:
    """The stored identifier of a link (hex SHA-256 of the secret)."""
    return token_hash(secret, "link")


def link_key(secret: str) -> bytes:
    """The 256-bit key a letter's content key is wrapped under for this link."""
    return token_key(secret, "parent link")


def new_access_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10**6):06d}"


def access_code_tag(secret: str, code: str) -> str:
    """What the database stores for a link's access code."""
    return hmac.new(secret.encode("utf-8"), b"access:" + code.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_access_code(secret: str, code: str, stored_tag: str) -> bool:
    """Constant-time check of an access code typed by a parent."""
    return hmac.compare_digest(access_code_tag(secret, code), stored_tag)
