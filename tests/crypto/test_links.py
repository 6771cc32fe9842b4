"""Secrets of the links a teacher sends to a parent, and their access codes."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import (
    CannotOpen,
    access_code_tag,
    link_hash,
    link_key,
    new_access_code,
    new_link_secret,
    open_content,
    seal_content,
    verify_access_code,
)

from .strategies import SOME

URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
secrets_ = st.text(alphabet=URL_SAFE, min_size=1, max_size=60)
access_codes = st.text(alphabet="0123456789", min_size=6, max_size=6)


def test_a_fresh_secret_is_url_safe_and_carries_256_bits():
    for _ in range(50):
        secret = new_link_secret()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret), secret
        assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 32


def test_fresh_secrets_differ():
    assert len({new_link_secret() for _ in range(20)}) == 20


@SOME
@given(secrets_, secrets_)
def test_link_hash_finds_one_link(secret, other):
    found = link_hash(secret)
    assert found == link_hash(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", found)
    if other != secret:
        assert link_hash(other) != found


@SOME
@given(secrets_, secrets_)
def test_link_key_is_a_256_bit_key_of_its_own(secret, other):
    key = link_key(secret)
    assert len(key) == 32 and key == link_key(secret)
    # The stored hash must not be (or reveal) the key that opens the letter.
    assert key.hex() != link_hash(secret)
    if other != secret:
        assert link_key(other) != key


def test_a_letter_wrapped_for_a_link_opens_only_with_its_secret():
    secret, other = new_link_secret(), new_link_secret()
    blob = seal_content(link_key(secret), b"content key", b"aad")
    assert open_content(link_key(secret), blob, b"aad") == b"content key"
    with pytest.raises(CannotOpen):
        open_content(link_key(other), blob, b"aad")


def test_fresh_access_codes_are_six_digits():
    codes = [new_access_code() for _ in range(1000)]
    for code in codes:
        assert len(code) == 6 and code.isascii() and code.isdigit(), code
    # Every digit in every position: catches a code without its leading zeros
    # or drawn from a smaller range. Missing by chance: 0.9**1000 per pair.
    for position in range(6):
        assert {code[position] for code in codes} == set("0123456789"), position


@SOME
@given(secrets_, access_codes, access_codes)
def test_an_access_code_verifies_against_its_tag_only(secret, code, other):
    tag = access_code_tag(secret, code)
    assert re.fullmatch(r"[0-9a-f]{64}", tag)
    assert verify_access_code(secret, code, tag)
    if other != code:
        assert not verify_access_code(secret, other, tag)


@SOME
@given(secrets_, secrets_, access_codes)
def test_the_tag_is_keyed_by_the_link_secret(secret, other, code):
    # Without the secret the stored tag cannot be brute-forced over 10**6 codes.
    assume(other != secret)
    assert access_code_tag(other, code) != access_code_tag(secret, code)
    assert not verify_access_code(other, code, access_code_tag(secret, code))
    assert access_code_tag(secret, code) != link_hash(secret)
