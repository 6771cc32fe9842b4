"""Pickup codes (回信码): twelve digits, the last a Damm check digit."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, strategies as st

from qiaoqiao.crypto import (
    CannotOpen,
    CodeTypo,
    KdfParams,
    PickupCode,
    format_pickup_code,
    lookup_id,
    new_pickup_code,
    normalise_pickup_code,
    open_sealed,
    pickup_keypair,
    seal_to,
)

from .strategies import FEW, SOME

FAST = KdfParams.fast_for_tests()
DIGITS = "0123456789"
bodies = st.text(alphabet=DIGITS, min_size=11, max_size=11)
salts = st.binary(min_size=16, max_size=16)


def _is_valid(text: str) -> bool:
    try:
        normalise_pickup_code(text)
    except CodeTypo:
        return False
    return True


def complete(body: str) -> str:
    """``body`` with the check digit the module accepts (found by asking it)."""
    (digit,) = [d for d in DIGITS if _is_valid(body + d)]
    return body + digit


codes = bodies.map(complete)


@SOME
@given(bodies)
def test_every_body_has_exactly_one_check_digit(body):
    assert sum(_is_valid(body + d) for d in DIGITS) == 1


@pytest.mark.parametrize(("body", "check"), [("00000000572", "4"), ("12345678901", "8")])
def test_known_damm_check_digits(body, check):
    # 572 → 4 is the worked example of Damm's algorithm, and leading zeros do
    # not change a Damm check digit. The second value was computed separately
    # from the table in Damm's thesis (as printed on Wikipedia).
    assert complete(body) == body + check


@SOME
@given(codes)
def test_formatted_code_normalises_back(code):
    formatted = format_pickup_code(code)
    assert formatted == f"{code[:4]} {code[4:8]} {code[8:]}"
    assert normalise_pickup_code(formatted) == PickupCode(code)
    assert normalise_pickup_code(code).formatted() == formatted


@SOME
@given(codes, st.data())
def test_what_a_child_types_is_accepted(code, data):
    typed = []
    for digit in code:
        if data.draw(st.booleans(), label="full-width"):
            digit = chr(ord(digit) - ord("0") + ord("０"))
        typed.append(digit + data.draw(st.sampled_from(["", "", " ", "-", "－", "—", "\u3000", "、", "·", "  "])))
    assert normalise_pickup_code(" " + "".join(typed) + "\n") == PickupCode(code)


def test_full_width_digits_and_dashes():
    code = complete("12345678901")
    full_width = "".join(chr(ord(d) - ord("0") + ord("０")) for d in code)
    assert full_width.startswith("１２３４")
    assert normalise_pickup_code(full_width) == PickupCode(code)
    assert normalise_pickup_code(f"{code[:4]}-{code[4:8]}-{code[8:]}") == PickupCode(code)


@SOME
@given(codes)
def test_every_single_wrong_digit_is_a_typo(code):
    for position in range(12):
        for digit in DIGITS:
            if digit != code[position]:
                with pytest.raises(CodeTypo):
                    normalise_pickup_code(code[:position] + digit + code[position + 1 :])


@SOME
@given(codes)
def test_every_swap_of_neighbours_is_a_typo(code):
    for position in range(11):
        a, b = code[position], code[position + 1]
        if a != b:
            with pytest.raises(CodeTypo):
                normalise_pickup_code(code[:position] + b + a + code[position + 2 :])


@SOME
@given(codes, st.integers(0, 12), st.sampled_from("OoIlLSBZaＯ零〇?"))
def test_a_letter_is_a_typo(code, position, letter):
    with pytest.raises(CodeTypo):
        normalise_pickup_code(code[:position] + letter + code[position:])


@SOME
@given(codes, st.integers(0, 11), st.sampled_from("OoIlL"))
def test_a_letter_in_place_of_a_digit_is_a_typo(code, position, letter):
    with pytest.raises(CodeTypo):
        normalise_pickup_code(code[:position] + letter + code[position + 1 :])


@pytest.mark.parametrize("text", ["", "1234 5678 901", "1234 5678 9012 3", "0" * 24])
def test_wrong_length_is_a_typo(text):
    with pytest.raises(CodeTypo):
        normalise_pickup_code(text)


def test_a_typo_is_a_value_error():
    assert issubclass(CodeTypo, ValueError)


def test_fresh_codes_are_twelve_digits_that_pass_their_own_check():
    for _ in range(200):
        code = new_pickup_code()
        assert len(code.digits) == 12
        assert code.digits.isascii() and code.digits.isdigit()
        assert normalise_pickup_code(code.digits) == code
        assert normalise_pickup_code(code.formatted()) == code


def test_eleven_random_digits_carry_at_least_36_bits():
    assert 11 * math.log2(10) >= 36


def test_fresh_codes_use_every_digit_in_every_random_position():
    # Catches codes drawn from fewer digits or fewer positions than claimed.
    # A digit is missing from a position by chance with probability 0.9**1000.
    codes = [new_pickup_code().digits for _ in range(1000)]
    for position in range(11):
        assert {code[position] for code in codes} == set(DIGITS), position
    assert len(set(codes)) == len(codes)


def test_a_code_does_not_print():
    code = new_pickup_code()
    assert code.digits not in repr(code)


@SOME
@given(codes, st.binary(min_size=1, max_size=64), st.binary(min_size=1, max_size=64))
def test_lookup_id_is_a_keyed_hash(code, server_key, other_key):
    found = lookup_id(PickupCode(code), server_key)
    assert found == lookup_id(PickupCode(code), server_key)
    assert len(found) == 64 and set(found) <= set("0123456789abcdef")
    assert code not in found
    if other_key != server_key:
        assert lookup_id(PickupCode(code), other_key) != found


@SOME
@given(codes, codes, st.binary(min_size=32, max_size=32))
def test_lookup_ids_of_different_codes_differ(code, other, server_key):
    assume(code != other)
    assert lookup_id(PickupCode(code), server_key) != lookup_id(PickupCode(other), server_key)


@FEW
@given(codes, salts)
def test_the_code_alone_rederives_the_reply_key(code, salt):
    # What a counsellor sees: the stored public key. What the child has: the code.
    stored_public = pickup_keypair(PickupCode(code), salt, FAST).public_bytes()
    reply = seal_to(stored_public, "老师看到了你的信。".encode(), b"reply-aad")
    typed = normalise_pickup_code(format_pickup_code(code))
    assert open_sealed(pickup_keypair(typed, salt, FAST), reply, b"reply-aad") == "老师看到了你的信。".encode()


@FEW
@given(codes, codes, salts, salts)
def test_the_reply_key_depends_on_code_salt_and_cost(code, other, salt, other_salt):
    public = pickup_keypair(PickupCode(code), salt, FAST).public_bytes()
    if other != code:
        assert pickup_keypair(PickupCode(other), salt, FAST).public_bytes() != public
    if other_salt != salt:
        assert pickup_keypair(PickupCode(code), other_salt, FAST).public_bytes() != public
    costlier = KdfParams(memory_kib=FAST.memory_kib, iterations=2, lanes=1)
    assert pickup_keypair(PickupCode(code), salt, costlier).public_bytes() != public


@FEW
@given(codes, codes, salts)
def test_another_code_cannot_open_a_reply(code, other, salt):
    assume(code != other)
    reply = seal_to(pickup_keypair(PickupCode(code), salt, FAST).public, b"reply", b"aad")
    with pytest.raises(CannotOpen):
        open_sealed(pickup_keypair(PickupCode(other), salt, FAST), reply, b"aad")
