"""Classification of Graph answers into retry classes (pure; reference §2.8)."""

from __future__ import annotations

from typing import Any

import pytest

from supportbot.meta.errors import (
    DEFINITIVE_CODES,
    AttemptOutcome,
    DefinitiveSendError,
    RetryableSendError,
    classify_response,
    error_for,
)


def _graph(code: int, subcode: int | None = None, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#{code}) x", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"details": details}
    error["fbtrace_id"] = "AbC"
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, 130429, AttemptOutcome.RATE_LIMITED),
        (429, 130429, AttemptOutcome.RATE_LIMITED),
        (400, 131057, AttemptOutcome.RATE_LIMITED),
        (400, 131056, AttemptOutcome.PAIR_RATE_LIMITED),
        (400, 131047, AttemptOutcome.WINDOW_CLOSED),
        (400, 131026, AttemptOutcome.UNDELIVERABLE),
        (401, 190, AttemptOutcome.AUTH_ERROR),
        (400, 190, AttemptOutcome.AUTH_ERROR),
        (403, 10, AttemptOutcome.AUTH_ERROR),
        (403, 200, AttemptOutcome.AUTH_ERROR),
        (400, 100, AttemptOutcome.REJECTED),
        (403, 100, AttemptOutcome.REJECTED),
        (400, 131051, AttemptOutcome.REJECTED),
        (400, 132000, AttemptOutcome.REJECTED),
        (400, 132001, AttemptOutcome.REJECTED),
        (500, 2, AttemptOutcome.SERVER_ERROR),
        (503, 131000, AttemptOutcome.SERVER_ERROR),
        (400, 99999, AttemptOutcome.REJECTED),
    ],
)
def test_code_then_status_decides(status: int, code: int, outcome: AttemptOutcome) -> None:
    verdict = classify_response(status, _graph(code, details="why"))
    assert verdict.outcome is outcome
    assert verdict.error_code == str(code)
    assert verdict.fbtrace_id == "AbC"
    assert verdict.reason is not None and "why" in verdict.reason


def test_the_reference_definitive_set_is_never_retried() -> None:
    for code in DEFINITIVE_CODES:
        assert not classify_response(400, _graph(code)).retryable, code


def test_without_an_error_object_the_status_decides() -> None:
    assert (
        classify_response(200, {"messages": [{"id": "wamid.x"}]}).outcome is AttemptOutcome.ACCEPTED
    )
    assert classify_response(200, {"success": True}).outcome is AttemptOutcome.ACCEPTED
    assert classify_response(502, None).outcome is AttemptOutcome.SERVER_ERROR
    assert classify_response(429, None).outcome is AttemptOutcome.RATE_LIMITED
    assert classify_response(408, None).outcome is AttemptOutcome.TIMEOUT
    assert classify_response(401, None).outcome is AttemptOutcome.AUTH_ERROR
    assert classify_response(404, "<html>").outcome is AttemptOutcome.REJECTED


def test_an_error_object_in_a_2xx_is_not_accepted() -> None:
    assert classify_response(200, _graph(131047)).outcome is AttemptOutcome.WINDOW_CLOSED


def test_subcode_is_kept() -> None:
    verdict = classify_response(401, _graph(190, subcode=463))
    assert (verdict.error_code, verdict.error_subcode) == ("190", "463")


def test_error_types_and_delays() -> None:
    window = error_for(classify_response(400, _graph(131047)))
    assert isinstance(window, DefinitiveSendError) and window.needs_template
    pair = error_for(classify_response(400, _graph(131056)))
    assert isinstance(pair, RetryableSendError) and pair.retry_after == 6.0
    given = error_for(classify_response(400, _graph(131056)), retry_after=9.0)
    assert given.retry_after == 9.0
    throttled = error_for(classify_response(400, _graph(130429)))
    assert isinstance(throttled, RetryableSendError) and throttled.retry_after is None
