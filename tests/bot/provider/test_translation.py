"""Pure parts of the provider layer: Meta's Graph classes in the shared vocabulary, the
template-listing answer, and which providers get read receipts at all."""

from __future__ import annotations

import pytest

from supportbot.meta import errors as meta_errors
from supportbot.provider import meta_provider
from supportbot.provider.interface import (
    AttemptOutcome,
    DefinitiveSendError,
    RetryableSendError,
)

M = meta_errors.AttemptOutcome


@pytest.mark.parametrize(
    ("code", "status", "outcome", "retryable"),
    [
        (130429, 400, AttemptOutcome.RATE_LIMITED, True),
        (131056, 400, AttemptOutcome.RATE_LIMITED, True),
        (131057, 400, AttemptOutcome.RATE_LIMITED, True),
        (131047, 400, AttemptOutcome.REJECTED, False),
        (131026, 400, AttemptOutcome.REJECTED, False),
        (131051, 400, AttemptOutcome.REJECTED, False),
        (100, 400, AttemptOutcome.REJECTED, False),
        (190, 401, AttemptOutcome.AUTH_ERROR, False),
        (2, 503, AttemptOutcome.SERVER_ERROR, True),
    ],
)
def test_graph_errors_keep_their_retry_class_and_code(
    code: int, status: int, outcome: AttemptOutcome, retryable: bool
) -> None:
    body = {"error": {"message": "x", "type": "OAuthException", "code": code}}
    verdict = meta_errors.classify_response(status, body)
    original = meta_errors.error_for(verdict, status_code=status)
    translated = meta_provider.translate(original)
    assert translated.outcome is outcome
    assert translated.classification.error_code == str(code)
    assert isinstance(translated, RetryableSendError if retryable else DefinitiveSendError)
    assert original.classification.retryable is retryable  # the split is Meta's own


def test_pair_rate_limit_keeps_its_minimum_delay() -> None:
    verdict = meta_errors.Classification(M.PAIR_RATE_LIMITED, "131056")
    translated = meta_provider.translate(meta_errors.error_for(verdict, status_code=400))
    assert translated.retry_after == 6.0


def test_every_graph_outcome_has_a_translation() -> None:
    for outcome in M:
        verdict = meta_errors.Classification(outcome)
        translated = meta_provider.translate(meta_errors.error_for(verdict))
        assert translated.classification.retryable is outcome.retryable


def test_approved_templates() -> None:
    body = {
        "data": [
            {"name": "we_are_here", "status": "APPROVED"},
            {"name": "draft", "status": "PENDING"},
            {"name": "no_status"},
            {"status": "APPROVED"},
        ]
    }
    assert meta_provider.approved_templates(body) == ["we_are_here", "no_status"]
    assert meta_provider.approved_templates({"error": {}}) == []
