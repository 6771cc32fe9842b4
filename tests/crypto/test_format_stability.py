"""Blobs sealed by an earlier version must keep opening.

The fixtures were written once by ``make_fixtures.py``; never regenerate them
to make this file pass. A failure here means stored letters, keys or codes
would become unreadable after an upgrade.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from qiaoqiao import crypto

FIXTURES = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "crypto" / "fixtures-v1.json").read_text(encoding="utf-8")
)


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _part(encoded: list) -> str | int | bytes:
    kind, value = encoded
    return {"str": str, "int": int, "bytes_hex": bytes.fromhex}[kind](value)


def _params(recorded: dict) -> crypto.KdfParams:
    return crypto.KdfParams(**recorded)


def _cases(kind: str):
    return pytest.mark.parametrize("case", FIXTURES[kind], ids=[f"{kind}-{i}" for i in range(len(FIXTURES[kind]))])


def test_the_fixtures_cover_every_kind():
    for kind in ("bind", "content", "hpke", "passphrase", "verifier", "recovery", "pickup", "links"):
        assert FIXTURES[kind], kind


@_cases("bind")
def test_bind_encodes_as_before(case):
    assert crypto.bind(*map(_part, case["parts"])) == bytes.fromhex(case["aad_hex"])


@_cases("content")
def test_content_still_opens(case):
    blob = _b64(case["blob_b64"])
    assert blob[0] == 0x01
    opened = crypto.open_content(bytes.fromhex(case["key_hex"]), blob, bytes.fromhex(case["aad_hex"]))
    assert opened == bytes.fromhex(case["plaintext_hex"])


@_cases("hpke")
def test_hpke_still_opens(case):
    keypair = crypto.load_private_key(bytes.fromhex(case["private_key_hex"]))
    assert keypair.public_bytes() == _b64(case["public_key_b64"])
    blob = _b64(case["blob_b64"])
    assert blob[0] == 0x01
    assert crypto.open_sealed(keypair, blob, bytes.fromhex(case["aad_hex"])) == bytes.fromhex(case["plaintext_hex"])


@_cases("hpke")
def test_a_stored_public_key_still_loads(case):
    # Sealing to a public key read back from the database must still work.
    keypair = crypto.load_private_key(bytes.fromhex(case["private_key_hex"]))
    blob = crypto.seal_to(_b64(case["public_key_b64"]), b"fresh", b"aad")
    assert crypto.open_sealed(keypair, blob, b"aad") == b"fresh"


@_cases("passphrase")
def test_passphrase_wraps_still_open(case):
    blob = _b64(case["blob_b64"])
    assert blob[0] == 0x01
    assert crypto.KdfParams.decode(blob[1:7]) == _params(case["kdf_params"])
    opened = crypto.unwrap_with_passphrase(blob, case["passphrase"], bytes.fromhex(case["aad_hex"]))
    assert opened == bytes.fromhex(case["secret_hex"])


@_cases("verifier")
def test_login_verifiers_still_verify(case):
    assert crypto.verify_passphrase(case["passphrase"], case["phc"])
    assert not crypto.verify_passphrase(case["passphrase"] + "x", case["phc"])


@_cases("recovery")
def test_recovery_wraps_still_open(case):
    blob = _b64(case["blob_b64"])
    assert blob[0] == 0x01
    aad = bytes.fromhex(case["aad_hex"])
    for typed in (case["recovery_key"], case["recovery_key"].lower().replace("-", " ")):
        assert crypto.unwrap_with_recovery_key(blob, typed, aad) == bytes.fromhex(case["secret_hex"])


@_cases("pickup")
def test_a_pickup_code_still_derives_its_key_and_lookup_id(case):
    code = crypto.normalise_pickup_code(case["code"])
    keypair = crypto.pickup_keypair(code, bytes.fromhex(case["salt_hex"]), _params(case["kdf_params"]))
    assert keypair.public_bytes() == _b64(case["public_key_b64"])
    assert crypto.lookup_id(code, bytes.fromhex(case["server_key_hex"])) == case["lookup_id"]
    reply = case["reply"]
    opened = crypto.open_sealed(keypair, _b64(reply["blob_b64"]), bytes.fromhex(reply["aad_hex"]))
    assert opened == bytes.fromhex(reply["plaintext_hex"])


@_cases("links")
def test_a_parent_link_still_finds_its_row_and_opens(case):
    secret = case["secret"]
    assert crypto.link_hash(secret) == case["link_hash"]
    assert crypto.link_key(secret) == bytes.fromhex(case["link_key_hex"])
    assert crypto.access_code_tag(secret, case["access_code"]) == case["access_code_tag"]
    assert crypto.verify_access_code(secret, case["access_code"], case["access_code_tag"])
    wrap = case["wrap"]
    opened = crypto.open_content(crypto.link_key(secret), _b64(wrap["blob_b64"]), bytes.fromhex(wrap["aad_hex"]))
    assert opened == bytes.fromhex(wrap["plaintext_hex"])
