"""What counts as a strong enough staff passphrase.

The passphrase both logs a person in and unlocks the children's letters, so
the rule is stricter than a web password: at least ten characters, not one
repeated or a keyboard run, not the user name, not a well-known password.
"""

from __future__ import annotations

import unicodedata

from qiaoqiao.mailbox.errors import WeakPassphrase

MIN_LENGTH = 10

_COMMON = {
    "1234567890", "12345678910", "0123456789", "qwertyuiop", "password123", "passw0rd123",
    "1q2w3e4r5t", "qwerty1234", "1qaz2wsx3edc", "abcdefghij", "iloveyou123", "woaini1314",
    "woaini520", "5201314520", "aaaaaaaaaa", "abc1234567", "a123456789", "1234567890a",
    "password1234", "admin12345", "administrator", "qiaoqiao123", "xuexiao123",
}
_RUNS = "0123456789 abcdefghijklmnopqrstuvwxyz qwertyuiop asdfghjkl zxcvbnm 9876543210"


def check_passphrase(passphrase: str, *, username: str = "") -> None:
    """Raise :class:`WeakPassphrase` with a reason code if ``passphrase`` is too weak."""
    text = unicodedata.normalize("NFC", passphrase)
    if len(text) < MIN_LENGTH:
        raise WeakPassphrase("too_short")
    folded = text.casefold()
    if len(set(folded)) < 4:
        raise WeakPassphrase("too_repetitive")
    if folded in _COMMON or folded.replace(" ", "") in _COMMON:
        raise WeakPassphrase("too_common")
    if len(folded) <= 16 and folded in _RUNS:
        raise WeakPassphrase("too_common")
    if username and username.casefold() in folded and len(folded) - len(username) < 6:
        raise WeakPassphrase("contains_username")
