"""Pickup codes (回信码) in the database: issued with a letter, found by HMAC."""

from __future__ import annotations

import os
from datetime import datetime

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.mailbox.errors import NotFound
from qiaoqiao.mailbox.sealing import SealingConfig
from qiaoqiao.mailbox.tables import PickupCode


def issue_pickup_code(*, school_id: str, sealing: SealingConfig, now: datetime) -> tuple[PickupCode, crypto.PickupCode]:
    """A new code for the child, and the row that stores only what is safe to store."""
    code = crypto.new_pickup_code()
    salt = os.urandom(16)
    keypair = crypto.pickup_keypair(code, salt, sealing.kdf)
    row = PickupCode(
        school_id=school_id,
        lookup_id=crypto.lookup_id(code, sealing.server_key),
        salt=salt,
        kdf=sealing.kdf.encode(),
        public_key=keypair.public_bytes(),
        created_at=now,
    )
    return row, code


def find_pickup(session: Session, *, school_id: str, code: crypto.PickupCode, sealing: SealingConfig) -> PickupCode:
    """The row for ``code`` in this school; :class:`NotFound` otherwise."""
    row = session.exec(
        select(PickupCode).where(
            PickupCode.school_id == school_id,
            PickupCode.lookup_id == crypto.lookup_id(code, sealing.server_key),
        )
    ).first()
    if row is None:
        raise NotFound("pickup")
    return row


def pickup_keys(row: PickupCode, code: crypto.PickupCode) -> crypto.Keypair:
    """Re-derive the code's keypair with the cost it was issued with."""
    return crypto.pickup_keypair(code, row.salt, crypto.KdfParams.decode(row.kdf))
