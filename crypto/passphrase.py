"""Secrets wrapped under a passphrase: Argon2id, parameters stored in the wrap.

The wrap is self-describing (version, Argon2id cost, salt), so the cost can be
raised for new wraps while old wraps still open with the cost they were made
with.

Layout: version(1) | memory KiB(4) | iterations(1) | lanes(1) | salt(16) |
nonce(12) | AES-256-GCM ciphertext.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from qiaoqiao.crypto.errors import CannotOpen

VERSION = 0x01
_SALT_BYTES = 16
_NONCE_BYTES = 12
_HEADER = 1 + 4 + 1 + 1 + _SALT_BYTES
_PHC_COST = re.compile(r"^\$argon2id\$v=19\$m=(?P<m>\d{1,10}),t=(?P<t>\d{1,10}),p=(?P<p>\d{1,10})\$")


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. The default follows OWASP's 64 MiB, 3 passes, 4 lanes."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    @classmethod
    def fast_for_tests(cls) -> "KdfParams":
        """The smallest cost Argon2id accepts sensibly: for test suites only."""
        return cls(memory_kib=64, iterations=1, lanes=1)

    def derive(self, secret: bytes, salt: bytes, length: int = 32) -> bytes:
        """Derive ``length`` bytes from ``secret`` and ``salt``."""
        return Argon2id(
            salt=salt,
            length=length,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        ).derive(secret)

    def is_sane(self) -> bool:
        """Bounds any wrap or verifier may use; a forged header must not cost gigabytes.

        The ceiling (256 MiB, 10 passes, 8 lanes) is four times the default
        cost: room to raise it, no room to make one log-in stall the server.
        """
        return (
            1 <= self.lanes <= 8
            and 1 <= self.iterations <= 10
            and 8 * self.lanes <= self.memory_kib <= 256 * 1024
        )

    def require_sane(self) -> None:
        if not self.is_sane():
            raise ValueError("Argon2id cost outside the bounds this code will ever open")

    def encode(self) -> bytes:
        return self.memory_kib.to_bytes(4, "big") + bytes([self.iterations, self.lanes])

    @classmethod
    def decode(cls, data: bytes) -> "KdfParams":
        return cls(
            memory_kib=int.from_bytes(data[:4], "big"), iterations=data[4], lanes=data[5]
        )


def _passphrase_bytes(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def wrap_with_passphrase(secret: bytes, passphrase: str, aad: bytes, params: KdfParams) -> bytes:
    """Encrypt ``secret`` under a key derived from ``passphrase``."""
    params.require_sane()
    salt = os.urandom(_SALT_BYTES)
    key = params.derive(_passphrase_bytes(passphrase), salt)
    nonce = os.urandom(_NONCE_BYTES)
    header = bytes([VERSION]) + params.encode() + salt
    return header + nonce + AESGCM(key).encrypt(nonce, secret, header + aad)


def unwrap_with_passphrase(blob: bytes, passphrase: str, aad: bytes) -> bytes:
    """Open a wrap made by :func:`wrap_with_passphrase`; :class:`CannotOpen` on any failure."""
    if len(blob) < _HEADER + _NONCE_BYTES + 16 or blob[0] != VERSION:
        raise CannotOpen()
    params = KdfParams.decode(blob[1:7])
    if not params.is_sane():
        raise CannotOpen()
    salt = blob[7:_HEADER]
    key = params.derive(_passphrase_bytes(passphrase), salt)
    nonce = blob[_HEADER : _HEADER + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER + _NONCE_BYTES :], blob[:_HEADER] + aad)
    except InvalidTag:
        raise CannotOpen() from None


def hash_passphrase(passphrase: str, params: KdfParams) -> str:
    """A PHC-format Argon2id verifier for logging in (not used as a key)."""
    params.require_sane()
    return Argon2id(
        salt=os.urandom(_SALT_BYTES),
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive_phc_encoded(_passphrase_bytes(passphrase))


def verify_passphrase(passphrase: str, phc: str) -> bool:
    """True when ``passphrase`` matches the verifier made by :func:`hash_passphrase`."""
    cost = _PHC_COST.match(phc)
    if cost is None:
        return False
    declared = KdfParams(memory_kib=int(cost["m"]), iterations=int(cost["t"]), lanes=int(cost["p"]))
    if not declared.is_sane():
        return False
    try:
        Argon2id.verify_phc_encoded(_passphrase_bytes(passphrase), phc)
    except Exception:
        return False
    return True
