"""Small domain exceptions; ``intake`` maps each to a page in one place."""

from __future__ import annotations


class MailboxError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(MailboxError):
    """No such record in this school (or not one this person may know of)."""


class Forbidden(MailboxError):
    """The person is known but may not do this."""


class AlreadySetUp(MailboxError):
    """First-run setup was asked for, but a school already exists."""


class WeakPassphrase(MailboxError):
    """A new passphrase is refused; ``reason`` is a short code the pages translate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(MailboxError):
    """A form field is refused; ``field`` and ``reason`` are codes the pages translate."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class LoginFailed(MailboxError):
    """Wrong user name or passphrase (deliberately not saying which)."""


class KeysLocked(MailboxError):
    """The records need a key this session has not unlocked."""


class NotYetOpen(Forbidden):
    """A routine letter before the weekly opening: counted, not readable yet."""


class ClaimedByOther(MailboxError):
    """Another counsellor is working on this letter."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class StaleThread(MailboxError):
    """The thread changed since the page was loaded (someone else replied)."""
