"""How records are sealed in this schema: content keys, their wraps and bindings.

Every sealed field of a record is encrypted under that record's content key,
bound to (school, record type, record id, field). The content key itself is
stored once per reader: HPKE-sealed to an audience's public key or to a pickup
code's public key, bound to the same record and to that reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, select

from qiaoqiao import crypto
from qiaoqiao.crypto import KdfParams
from qiaoqiao.mailbox.errors import KeysLocked
from qiaoqiao.mailbox.tables import ContentKeyWrap


@dataclass(frozen=True)
class SealingConfig:
    """Server-side secrets and costs the domain needs to seal things."""

    server_key: bytes = field(repr=False)
    kdf: KdfParams = KdfParams()


def field_aad(school_id: str, record_type: str, record_id: str, name: str) -> bytes:
    return crypto.bind(school_id, record_type, record_id, name)


def wrap_aad(school_id: str, record_type: str, record_id: str, recipient_type: str, recipient_id: str) -> bytes:
    return crypto.bind(school_id, record_type, record_id, "key", recipient_type, recipient_id)


def seal_field(key: bytes, school_id: str, record_type: str, record_id: str, name: str, value: str) -> bytes:
    """Seal one text field of a record."""
    return crypto.seal_content(key, value.encode("utf-8"), field_aad(school_id, record_type, record_id, name))


def open_field(key: bytes, school_id: str, record_type: str, record_id: str, name: str, blob: bytes) -> str:
    """Open one text field of a record (``CannotOpen`` if it does not belong there)."""
    return crypto.open_content(key, blob, field_aad(school_id, record_type, record_id, name)).decode("utf-8")


def seal_json(key: bytes, school_id: str, record_type: str, record_id: str, name: str, value: dict) -> bytes:
    return seal_field(key, school_id, record_type, record_id, name, json.dumps(value, ensure_ascii=False))


def open_json(key: bytes, school_id: str, record_type: str, record_id: str, name: str, blob: bytes) -> dict:
    return json.loads(open_field(key, school_id, record_type, record_id, name, blob))


def wrap_content_key(
    *,
    school_id: str,
    record_type: str,
    record_id: str,
    recipient_type: str,
    recipient_id: str,
    public_key: bytes,
    content_key: bytes,
) -> ContentKeyWrap:
    """A new wrap row giving one reader the record's content key."""
    blob = crypto.seal_to(
        public_key, content_key, wrap_aad(school_id, record_type, record_id, recipient_type, recipient_id)
    )
    return ContentKeyWrap(
        school_id=school_id,
        record_type=record_type,
        record_id=record_id,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        wrap=blob,
    )


def unwrap_content_key(
    session: Session,
    *,
    school_id: str,
    record_type: str,
    record_id: str,
    recipient_type: str,
    keys: dict[str, crypto.Keypair],
) -> bytes:
    """Find a wrap of the record for one of ``keys`` (recipient id → keypair) and open it."""
    wraps = session.exec(
        select(ContentKeyWrap).where(
            ContentKeyWrap.school_id == school_id,
            ContentKeyWrap.record_type == record_type,
            ContentKeyWrap.record_id == record_id,
            ContentKeyWrap.recipient_type == recipient_type,
        )
    ).all()
    for wrap in wraps:
        keypair = keys.get(wrap.recipient_id)
        if keypair is not None:
            return crypto.open_sealed(
                keypair,
                wrap.wrap,
                wrap_aad(school_id, record_type, record_id, recipient_type, wrap.recipient_id),
            )
    raise KeysLocked(record_type)
