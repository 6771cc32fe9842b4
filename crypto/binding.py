"""Canonical additional data that binds a blob to the row it belongs to."""

from __future__ import annotations


def bind(*parts: str | int | bytes) -> bytes:
    """Encode ``parts`` unambiguously, for use as AAD or HPKE info.

    Each part is length-prefixed, so ("ab", "c") and ("a", "bc") differ. A
    ciphertext sealed for (school, "letter", id, "body") fails to open under
    any other tuple, which is what stops a blob being moved to another row.
    """
    out = bytearray(b"qiaoqiao-v1")
    for part in parts:
        if isinstance(part, bool):
            raise TypeError("bind() takes str, int or bytes, not bool")
        if isinstance(part, int):
            raw = b"i" + str(part).encode("ascii")
        elif isinstance(part, str):
            raw = b"s" + part.encode("utf-8")
        elif isinstance(part, (bytes, bytearray)):
            raw = b"b" + bytes(part)
        else:
            raise TypeError(f"bind() cannot encode {type(part).__name__}")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)
