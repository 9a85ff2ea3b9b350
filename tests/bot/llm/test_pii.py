"""`llm.pii.mask_pii`: payment cards (Luhn), Aadhaar (Verhoeff), PAN, e-mails and phone numbers
become placeholders before customer text reaches an LLM; near misses and order ids stay."""

from __future__ import annotations

import pytest

from supportbot.llm.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # payment cards: 13-19 digits, spaces/dashes allowed, Luhn-valid
        ("card 4111 1111 1111 1111 please", "card [card] please"),
        ("4111-1111-1111-1111", "[card]"),
        ("4111111111111111", "[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("mc 5500000000000004, exp 12/27", "mc [card], exp 12/27"),
        ("4111 1111 1111 1111 12/27 cvv 123", "[card] 12/27 cvv 123"),
        ("visa13 4222222222222", "visa13 [card]"),
        ("qty 2 4111 1111 1111 1111", "qty 2 [card]"),
        ("4111 1111 1111 1111 1234 5678", "[card] 1234 5678"),
        # Aadhaar: 12 digits, first 2-9, Verhoeff-valid (checked before the phone rule)
        ("aadhaar 2341 2341 2346", "aadhaar [aadhaar]"),
        ("2341-2341-2346.", "[aadhaar]."),
        ("id 987654321096", "id [aadhaar]"),
        # PAN: 5 letters, 4 digits, 1 letter; 4th letter a holder type
        ("PAN ABCPE1234F", "PAN [pan]"),
        ("pan abcpe1234f ok", "pan [pan] ok"),
        ("AAPPV8261K, ACUPA7085R", "[pan], [pan]"),
        # together, with the existing rules
        ("x@y.io 4111111111111111 +91 98765 43210", "[email] [card] [phone]"),
    ],
)
def test_identifiers_are_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn-invalid: not a card (16 digits: not a phone either)
        "4111111111111112",
        "order ORD-2026-000123, order 45120987, pin 560001, Rs 4999 on 15-03-2026",
        "tracking AWB41111111111111111",  # glued to letters: an id, not a card
        "ABCXE1234F",  # 4th letter X is no holder type
        "ACUPA0000R",  # serial 0000 does not exist
        "ABCPE1234",  # too short
        "XABCPE1234F",  # part of a longer token
    ],
)
def test_near_misses_and_order_ids_stay(text: str) -> None:
    assert mask_pii(text) == text


def test_twelve_digits_failing_verhoeff_are_no_aadhaar() -> None:
    assert mask_pii("2341 2341 2347") == "[phone]"  # still 10-15 digits: a phone number
    assert mask_pii("1234 5678 9012") == "[phone]"  # Aadhaar never starts with 0 or 1
    assert mask_pii("call 919876543210") == "call [phone]"  # a phone failing Verhoeff


def test_a_luhn_valid_run_that_is_also_a_phone_is_masked_as_a_card() -> None:
    # cards are tried first; either way the number does not reach the model
    assert mask_pii("4222222222222") == "[card]"
