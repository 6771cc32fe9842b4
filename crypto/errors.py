"""The one exception for every failure to open."""


class CannotOpen(Exception):
    """A blob could not be opened: wrong key, wrong binding, tampering or unknown format.

    Deliberately uninformative: telling an attacker *why* a blob failed to
    open (bad tag versus bad version versus wrong passphrase) only helps them.
    """

    def __init__(self, message: str = "cannot open") -> None:
        super().__init__(message)
