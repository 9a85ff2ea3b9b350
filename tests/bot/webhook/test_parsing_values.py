"""Single-value readers: missing markers, timestamps, phone/BSUID/message-id sanitising."""

from __future__ import annotations

from typing import Any

import pytest

from supportbot.webhook.parsing import values
from supportbot.webhook.parsing.errors import ParseError

ISO_TS = 1779527612.0  # 2026-05-23T14:43:32+05:30


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True),
        ("", True),
        ("   ", True),
        ("null", True),
        ("NULL", True),
        ("undefined", True),
        ("{{text}}", True),
        (" {{customerNumber}} ", True),
        ("{{}}", True),
        ("hello", False),
        ("{{not closed", False),
        ("0", False),
        (0, False),
        (False, False),
        ({}, False),
        ([], False),
    ],
)
def test_is_missing(value: Any, missing: bool) -> None:
    assert values.is_missing(value) is missing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-23T14:43:32+05:30", ISO_TS),
        ("2026-05-23T09:13:32Z", ISO_TS),
        ("2026-05-23T09:13:32", ISO_TS),  # naive -> UTC
        ("2026-05-23 09:13:32", ISO_TS),
        ("1779527612", ISO_TS),  # epoch seconds, string
        (1779527612, ISO_TS),
        ("1779527612000", ISO_TS),  # epoch milliseconds
        (1779527612000, ISO_TS),
        ("1779527612.5", ISO_TS + 0.5),
        (1779527612000000, ISO_TS),  # microseconds
        ("1730092801", 1730092801.0),
        ("{{ts}}", None),
        ("", None),
        ("yesterday", None),
        ("12", None),  # implausible (1970)
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        ({"ts": 1}, None),
        ("99999999999999999999999", None),
        (10**400, None),  # too big for a float: must not raise OverflowError
        ("9" * 400, None),
    ],
)
def test_timestamp(value: Any, expected: float | None) -> None:
    got = values.timestamp(value)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("919876543210", "919876543210"),
        ("+91 98765-43210", "919876543210"),
        ("(91) 98765.43210", "919876543210"),
        (919876543210, "919876543210"),
        ("12345", None),  # too short
        ("1234567890123456", None),  # too long for E.164
        ("91987654321x", None),
        ("{{customerNumber}}", None),
        (True, None),
        (None, None),
        (["919876543210"], None),
    ],
)
def test_phone_digits(value: Any, expected: str | None) -> None:
    assert values.phone_digits(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US.13491208655302741918", "US.13491208655302741918"),
        ("US.ENT.13491208655302741918", "US.ENT.13491208655302741918"),
        (" IN.1648738043044942 ", "IN.1648738043044942"),
        ("13491208655302741918", None),
        ("US.", None),
        ("US.abc:def", None),  # ':' would break Redis key layouts
        ("US.abc def", None),
        ("{{bsuid}}", None),
        (12, None),
    ],
)
def test_bsuid(value: Any, expected: str | None) -> None:
    assert values.bsuid(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wamid.HBgM+/=_-", "wamid.HBgM+/=_-"),
        (12345, "12345"),
        ("with space", None),
        ("x" * 257, None),
        ("ünicode", None),
        ("{{uuid}}", None),
        ({"id": 1}, None),
    ],
)
def test_message_id(value: Any, expected: str | None) -> None:
    assert values.message_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", 12.5),
        (-90, -90.0),
        (90.5, None),
        (10**400, None),
        ("nan", None),
        ("north", None),
        (True, None),
        ([1], None),
    ],
)
def test_number_in_range(value: Any, expected: float | None) -> None:
    assert values.number(value, low=-90.0, high=90.0) == expected


def test_body_hash_is_stable_and_indexed() -> None:
    first = values.body_hash(b"{}")
    assert first == values.body_hash(b"{}")
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert values.body_hash(b"{}", 2) == first + ":2"
    assert values.body_hash(b"{ }") != first


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (" [1, 2]", [1, 2]),
        ("{not json", "{not json"),
        ("plain", "plain"),
        (5, 5),
        ('"\\ud800"', '"\\ud800"'),  # not an object/array: untouched
        ('{"a": "\\ud800"}', {"a": "\ufffd"}),  # lone surrogate: normalised (textsafe)
        ('{"a\\u0000": "x\\u0000y"}', {"a\ufffd": "x\ufffdy"}),  # NUL: normalised
    ],
)
def test_maybe_json(value: Any, expected: Any) -> None:
    assert values.maybe_json(value) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "malformed_json"),
        (b"{", "malformed_json"),
        (b"\xff\xfe{}", "invalid_encoding"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed_json"),  # RecursionError inside json
        (b'{"n": ' + b"9" * 5000 + b"}", "malformed_json"),  # int digit limit
    ],
)
def test_decode_json_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        values.decode_json(raw)
    assert caught.value.reason == reason
    assert caught.value.malformed


def test_decode_json_accepts_bom_and_surrogate_pairs() -> None:
    assert values.decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert values.decode_json(b'{"e": "\\ud83d\\ude00"}') == {"e": "\U0001f600"}


def test_decode_json_normalises_what_postgresql_cannot_store() -> None:
    raw = b'{"t": "a\\u0000b", "l": ["\\udc00", {"k": "\\ud83d"}], '
    raw += b'"ok": "\\ud83d\\ude00", "\\\\u0000": 1}'
    doc = values.decode_json(raw)
    assert doc == {
        "t": "a\ufffdb",
        "l": ["\ufffd", {"k": "\ufffd"}],
        "ok": "\U0001f600",
        "\\u0000": 1,  # an escaped backslash followed by "u0000" is plain text
    }
