"""Pickup codes (回信码): what a child copies down to read the replies.

Twelve digits shown as ``1234 5678 9012``: digits, because a 7-year-old knows
them before any Latin letter; eleven are random (36.5 bits) and the last is a
Damm check digit, which catches every single wrong digit and every swap of
neighbours, so a miscopied code gets a "check your code" message instead of
counting as a guess.

The database holds only an HMAC of the code (keyed with the server's secret,
so a stolen database cannot be searched for codes) and the public half of a
keypair derived from the code with Argon2id: counsellors can seal replies to
the code, only someone holding the code can open them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from qiaoqiao.crypto.keys import SEED_BYTES, Keypair, derive_keypair
from qiaoqiao.crypto.passphrase import KdfParams

DIGITS = 12

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _damm(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


@dataclass(frozen=True)
class PickupCode:
    """A normalised pickup code: twelve ASCII digits."""

    digits: str

    def formatted(self) -> str:
        return format_pickup_code(self.digits)

    def __repr__(self) -> str:
        return "PickupCode(<hidden>)"


def new_pickup_code() -> PickupCode:
    """A fresh random code with its check digit."""
    body = "".join(secrets.choice("0123456789") for _ in range(DIGITS - 1))
    return PickupCode(body + str(_damm(body)))


def format_pickup_code(digits: str) -> str:
    """``123456789012`` → ``1234 5678 9012``."""
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


class CodeTypo(ValueError):
    """The text is not a well-formed code: wrong length or a failed check digit."""


def normalise_pickup_code(text: str) -> PickupCode:
    """Accept what a child types: full-width digits, spaces, dashes; raise :class:`CodeTypo`."""
    folded = unicodedata.normalize("NFKC", text)
    digits = "".join(ch for ch in folded if ch.isascii() and ch.isdigit())
    stray = [ch for ch in folded if not (ch.isascii() and ch.isdigit())]
    if any(not (ch.isspace() or ch in "-_.·、，,—") for ch in stray):
        raise CodeTypo("unexpected characters")
    if len(digits) != DIGITS:
        raise CodeTypo("wrong length")
    if _damm(digits) != 0:
        raise CodeTypo("check digit")
    return PickupCode(digits)


def lookup_id(code: PickupCode, server_key: bytes) -> str:
    """The HMAC under which the code's row is found."""
    return hmac.new(server_key, b"pickup:" + code.digits.encode(), hashlib.sha256).hexdigest()


def pickup_keypair(code: PickupCode, salt: bytes, params: KdfParams) -> Keypair:
    """The keypair replies to this code are sealed for (Argon2id of the code)."""
    return derive_keypair(params.derive(b"pickup:" + code.digits.encode(), salt, SEED_BYTES))
