"""Pure cryptography for qiaoqiao: sealing, key wraps and codes.

This package knows nothing of the database, the web or the clock. Every
failure to open anything raises :class:`CannotOpen`, so callers never have to
tell a tampered blob from a wrong key or an unknown format: all of them mean
"this cannot be read with what you have".
"""

from qiaoqiao.crypto.errors import CannotOpen
from qiaoqiao.crypto.binding import bind
from qiaoqiao.crypto.content import new_content_key, open_content, seal_content
from qiaoqiao.crypto.keys import (
    Keypair,
    derive_keypair,
    generate_keypair,
    load_private_key,
    load_public_key,
    open_sealed,
    seal_to,
)
from qiaoqiao.crypto.passphrase import (
    KdfParams,
    hash_passphrase,
    unwrap_with_passphrase,
    verify_passphrase,
    wrap_with_passphrase,
)
from qiaoqiao.crypto.recovery import (
    new_recovery_key,
    normalise_recovery_key,
    unwrap_with_recovery_key,
    wrap_with_recovery_key,
)
from qiaoqiao.crypto.pickup import (
    CodeTypo,
    PickupCode,
    format_pickup_code,
    lookup_id,
    new_pickup_code,
    normalise_pickup_code,
    pickup_keypair,
)
from qiaoqiao.crypto.tokens import new_token, token_hash, token_key
from qiaoqiao.crypto.links import (
    access_code_tag,
    link_hash,
    link_key,
    new_access_code,
    new_link_secret,
    verify_access_code,
)

__all__ = [
    "CannotOpen",
    "CodeTypo",
    "access_code_tag",
    "link_key",
    "KdfParams",
    "Keypair",
    "PickupCode",
    "bind",
    "derive_keypair",
    "format_pickup_code",
    "generate_keypair",
    "hash_passphrase",
    "link_hash",
    "load_private_key",
    "load_public_key",
    "lookup_id",
    "new_access_code",
    "new_content_key",
    "new_link_secret",
    "new_pickup_code",
    "new_recovery_key",
    "normalise_pickup_code",
    "new_token",
    "normalise_recovery_key",
    "open_content",
    "open_sealed",
    "pickup_keypair",
    "seal_content",
    "seal_to",
    "token_hash",
    "token_key",
    "unwrap_with_passphrase",
    "unwrap_with_recovery_key",
    "verify_access_code",
    "verify_passphrase",
    "wrap_with_passphrase",
    "wrap_with_recovery_key",
]
