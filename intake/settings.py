"""One settings object, read once from the environment and the command line."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from qiaoqiao.crypto import KdfParams
from qiaoqiao.mailbox.database import sqlite_url
from qiaoqiao.mailbox.sealing import SealingConfig


class SettingsError(Exception):
    """A setting cannot be used; the message is one line for the operator."""


class Secret:
    """A value that never shows itself in a repr, a log line or a traceback."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: Secret = field(repr=False)
    public_url: str = ""
    kdf: KdfParams = KdfParams()
    session_idle_minutes: int = 30
    # Kiosk timings: an idle form warns, then resets; a receipt returns to the start.
    kiosk_idle_seconds: int = 120
    kiosk_warn_seconds: int = 20
    kiosk_receipt_seconds: int = 60
    # Secure cookies need HTTPS; on by itself when the public URL is https.
    secure_cookies: bool = False
    # Deliver alerts from this process (off when qiaoqiao worker processes do it, and in tests).
    run_dispatcher: bool = False

    @property
    def sealing(self) -> SealingConfig:
        return SealingConfig(server_key=self.secret_key.reveal(), kdf=self.kdf)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
        data_dir: str | Path | None = None,
        public_url: str | None = None,
    ) -> "Settings":
        """Settings from ``QIAOQIAO_*`` variables, command-line values taking precedence.

        The server secret (which keys pickup-code look-ups) comes from
        ``QIAOQIAO_SECRET_KEY`` (hex) or a file ``secret.key`` in the data
        directory, created on first use. It must never live in the database:
        a stolen database alone must not be searchable for codes.
        """
        env = os.environ if env is None else env
        folder = Path(data_dir or env.get("QIAOQIAO_DATA_DIR") or "data").expanduser().resolve()
        url = database_url or env.get("QIAOQIAO_DATABASE_URL") or sqlite_url(folder)
        public = (public_url or env.get("QIAOQIAO_PUBLIC_URL") or "").rstrip("/")
        return cls(
            database_url=url,
            data_dir=folder,
            secret_key=Secret(_secret_from(env, folder)),
            public_url=public,
            secure_cookies=public.startswith("https://"),
        )


def _secret_from(env: Mapping[str, str], folder: Path) -> bytes:
    given = env.get("QIAOQIAO_SECRET_KEY")
    if given:
        try:
            value = bytes.fromhex(given.strip())
        except ValueError:
            raise SettingsError("QIAOQIAO_SECRET_KEY must be hex (64 hex digits)") from None
        if len(value) < 32:
            raise SettingsError("QIAOQIAO_SECRET_KEY must hold at least 32 bytes (64 hex digits)")
        return value
    path = folder / "secret.key"
    try:
        if path.exists():
            return bytes.fromhex(path.read_text().strip())
        folder.mkdir(parents=True, exist_ok=True)
        value = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value.hex() + "\n")
        return value
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot use the secret key file {path}: {exc}") from None
