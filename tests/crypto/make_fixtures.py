"""Write the format-stability fixtures for qiaoqiao.crypto (run by hand, once per format).

    /tmp/venv/bin/python tests/crypto/make_fixtures.py            # writes tests/data/crypto/fixtures-v1.json
    /tmp/venv/bin/python tests/crypto/make_fixtures.py --force    # overwrite it (think twice)

The JSON records blobs sealed with today's code, together with everything
needed to open them (keys, passphrase, recovery key, pickup code, AADs).
``test_format_stability.py`` checks that every one of them still opens, so a
change that would strand stored letters fails the suite. The file is meant to
be generated once and committed: regenerating it with changed code would hide
exactly the breakage it exists to catch. When a format gains a new version
byte, write a new ``fixtures-v2.json`` with ``--output`` and keep v1.

Argon2id runs at ``KdfParams.fast_for_tests()`` cost (and one slightly higher
cost) so the fixtures open quickly; the cost is stored in each wrap. Inputs
are fixed (derived from labels with SHA-256), only nonces and salts made by
the functions themselves are random. Nothing here protects real data.

Encoding: fields ending ``_hex`` are hex, ``_b64`` standard base64, anything
else is text. A ``bind`` part is ``["str", s]``, ``["int", n]`` or
``["bytes_hex", h]``.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import sys
from pathlib import Path

import cryptography

from qiaoqiao import crypto

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "crypto" / "fixtures-v1.json"


def _fixed(label: str, length: int) -> bytes:
    """Reproducible, random-looking input bytes."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"qiaoqiao fixture {label} {counter}".encode()).digest()
        counter += 1
    return out[:length]


def _hex(data: bytes) -> str:
    return data.hex()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _part(part: str | int | bytes) -> list:
    if isinstance(part, int):
        return ["int", part]
    if isinstance(part, str):
        return ["str", part]
    return ["bytes_hex", part.hex()]


def _params(params: crypto.KdfParams) -> dict:
    return {"memory_kib": params.memory_kib, "iterations": params.iterations, "lanes": params.lanes}


def _complete_code(body: str) -> str:
    for digit in "0123456789":
        try:
            return crypto.normalise_pickup_code(body + digit).digits
        except crypto.CodeTypo:
            continue
    raise AssertionError("no check digit")


def build() -> dict:
    """Seal the fixtures with today's code."""
    fast = crypto.KdfParams.fast_for_tests()
    costlier = crypto.KdfParams(memory_kib=256, iterations=2, lanes=2)
    letter = "老师，我想妈妈了。她过年才回来。".encode("utf-8")
    reply = "我们看到了你的信，星期五下午来心理室找我好吗？".encode("utf-8")

    bind_cases = [
        ("school-1", "letter", 42, "body"),
        ("school-1", "letter", 42, "key", "audience", "aud-counsellors"),
        ("school-1", "member_wrap", "aud-counsellors", "user-7"),
        ("school-1", "recovery_wrap", "aud-counsellors"),
        ("school-1", "reply", 9, "body"),
        ("school-1", "parent_link", 42, "key"),
        (),
        ("", 0, -1, b"", b"\x00\xff", "悄悄话"),
    ]
    aad = {case: crypto.bind(*case) for case in bind_cases}
    body_aad, key_aad, member_aad, recovery_aad, reply_aad, link_aad = (aad[case] for case in bind_cases[:6])

    content_key = _fixed("content key", 32)
    audience = crypto.derive_keypair(_fixed("audience seed", crypto.keys.SEED_BYTES))
    passphrase = "正确的马 Battery staple ✓"
    recovery_key = "7QZ4-1M0X-K9TD-2P8R-W3HA-6YNB-5FGC-E0V1"
    code = crypto.PickupCode(_complete_code("20250901123"))
    pickup_salt = _fixed("pickup salt", 16)
    pickup = crypto.pickup_keypair(code, pickup_salt, fast)
    server_key = _fixed("server key", 32)
    link_secret = "Zm9yIHRlc3RzIG9ubHk_bm90IGEgcmVhbCBzZWNyZXQ"
    access_code = "031415"
    link_key = crypto.link_key(link_secret)

    return {
        "about": (
            "Format-stability fixtures for qiaoqiao.crypto, written by tests/crypto/make_fixtures.py. "
            "Do not regenerate: every blob here must keep opening. Test values only."
        ),
        "generated": {
            "date": datetime.date.today().isoformat(),
            "cryptography": cryptography.__version__,
            "python": sys.version.split()[0],
        },
        "bind": [{"parts": [_part(p) for p in case], "aad_hex": _hex(aad[case])} for case in bind_cases],
        "content": [
            {
                "key_hex": _hex(content_key),
                "aad_hex": _hex(body_aad),
                "plaintext_hex": _hex(letter),
                "blob_b64": _b64(crypto.seal_content(content_key, letter, body_aad)),
            },
            {
                "key_hex": _hex(content_key),
                "aad_hex": "",
                "plaintext_hex": "",
                "blob_b64": _b64(crypto.seal_content(content_key, b"", b"")),
            },
        ],
        "hpke": [
            {
                "private_key_hex": _hex(audience.private_bytes()),
                "public_key_b64": _b64(audience.public_bytes()),
                "aad_hex": _hex(key_aad),
                "plaintext_hex": _hex(content_key),
                "blob_b64": _b64(crypto.seal_to(audience.public, content_key, key_aad)),
            },
        ],
        "passphrase": [
            {
                "passphrase": passphrase,
                "kdf_params": _params(params),
                "aad_hex": _hex(member_aad),
                "secret_hex": _hex(audience.private_bytes()),
                "blob_b64": _b64(
                    crypto.wrap_with_passphrase(audience.private_bytes(), passphrase, member_aad, params)
                ),
            }
            for params in (fast, costlier)
        ],
        "verifier": [{"passphrase": passphrase, "phc": crypto.hash_passphrase(passphrase, fast)}],
        "recovery": [
            {
                "recovery_key": recovery_key,
                "aad_hex": _hex(recovery_aad),
                "secret_hex": _hex(audience.private_bytes()),
                "blob_b64": _b64(
                    crypto.wrap_with_recovery_key(audience.private_bytes(), recovery_key, recovery_aad)
                ),
            },
        ],
        "pickup": [
            {
                "code": code.digits,
                "salt_hex": _hex(pickup_salt),
                "kdf_params": _params(fast),
                "public_key_b64": _b64(pickup.public_bytes()),
                "server_key_hex": _hex(server_key),
                "lookup_id": crypto.lookup_id(code, server_key),
                "reply": {
                    "aad_hex": _hex(reply_aad),
                    "plaintext_hex": _hex(reply),
                    "blob_b64": _b64(crypto.seal_to(pickup.public, reply, reply_aad)),
                },
            },
        ],
        "links": [
            {
                "secret": link_secret,
                "link_hash": crypto.link_hash(link_secret),
                "link_key_hex": _hex(link_key),
                "access_code": access_code,
                "access_code_tag": crypto.access_code_tag(link_secret, access_code),
                "wrap": {
                    "aad_hex": _hex(link_aad),
                    "plaintext_hex": _hex(content_key),
                    "blob_b64": _b64(crypto.seal_content(link_key, content_key, link_aad)),
                },
            },
        ],
    }


def _dumps(fixtures: dict) -> str:
    """Indented JSON, but each ``bind`` parts list on one line."""
    parts = [entry.pop("parts") for entry in fixtures["bind"]]
    for index, entry in enumerate(fixtures["bind"]):
        entry["parts"] = f"@parts{index}@"
    text = json.dumps(fixtures, ensure_ascii=False, indent=2) + "\n"
    for index, value in enumerate(parts):
        text = text.replace(f'"@parts{index}@"', json.dumps(value, ensure_ascii=False))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        parser.error(f"{args.output} exists; fixtures are written once (use --force to overwrite)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_dumps(build()), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
