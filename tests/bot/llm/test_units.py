"""Pure pieces of the LLM package: PII masking, prompt building and folding, response parsing,
Retry-After parsing, configuration from settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from supportbot.llm import (
    InvalidResponse,
    LLMConfig,
    ModelErrorIn200,
    ModelHTTPError,
    build_messages,
    fold_system,
    mask_pii,
    pseudonymous_user,
)
from supportbot.llm.prompt import needs_folding, rejects_system_role
from supportbot.llm.response import parse_completion
from supportbot.retrying import parse_retry_after
from supportbot.settings import load_settings


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +91 98765 43210 now", "call [phone] now"),
        ("9876543210", "[phone]"),
        ("(022) 2345-6789", "[phone]"),
        ("+44 20 7946 0958.", "[phone]."),
        ("mail a.b+c@ex-ample.co.in", "mail [email]"),
        ("order AC-123456, pin 560001, Rs 4999 on 15-03-2026", None),
    ],
)
def test_mask_pii(text: str, masked: str | None) -> None:
    assert mask_pii(text) == (masked if masked is not None else text)


def test_build_messages_masks_user_turns_only() -> None:
    messages = build_messages(
        "sys 9876543210",
        "me: x@y.io",
        [
            {"role": "assistant", "content": "we called 9876543210"},
            {"role": "system", "content": "drop"},
        ],
    )
    assert messages == [
        {"role": "system", "content": "sys 9876543210"},
        {"role": "assistant", "content": "we called 9876543210"},
        {"role": "user", "content": "me: [email]"},
    ]


def test_fold_system_variants() -> None:
    assert fold_system(
        [{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}]
    ) == [
        {"role": "user", "content": "Instructions:\nS"},
        {"role": "assistant", "content": "A"},
    ]
    assert fold_system([{"role": "user", "content": "U"}]) == [{"role": "user", "content": "U"}]
    assert needs_folding("google/gemma-3-27b-it", ("*gemma*",))
    assert not needs_folding("openai/gpt-4o-mini", ("*gemma*",))
    assert rejects_system_role(400, "System role is not supported for this model")
    assert not rejects_system_role(400, "context length exceeded")


def body(**data: object) -> bytes:
    return json.dumps(data).encode()


def test_parse_completion_validates() -> None:
    ok = body(
        id="gen-1",
        model="served/x",
        choices=[{"finish_reason": "stop", "message": {"content": "Hi"}}],
        usage={"prompt_tokens": 3, "completion_tokens": 2, "cost": 0.5},
    )
    completion = parse_completion("asked/x", 200, {}, ok, 0)
    assert completion.model == "served/x" and completion.usage.total_tokens == 5
    assert completion.usage.cost == 0.5
    with pytest.raises(ModelErrorIn200) as err:
        parse_completion("m", 200, {}, body(error={"code": 429, "message": "slow down"}), 0)
    assert err.value.code == 429
    for bad in (
        b"not json",
        body(choices=[]),
        body(choices=[{"message": {"content": None}}]),
        body(choices=[{"message": {"content": "   "}}]),
        body(choices=[{}]),
    ):
        with pytest.raises(InvalidResponse):
            parse_completion("m", 200, {}, bad, 0)
    with pytest.raises(ModelHTTPError) as http:
        parse_completion("m", 503, {"retry-after": "7"}, body(error={"message": "busy"}), 0)
    assert http.value.status == 503 and http.value.retry_after == 7
    assert http.value.counts_for_breaker and not http.value.fatal_for_request
    with pytest.raises(ModelHTTPError) as http:
        parse_completion("m", 401, {}, b"", 0)
    assert http.value.fatal_for_request and not http.value.counts_for_breaker


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert parse_retry_after("3", now) == 3
    assert (
        parse_retry_after(
            format_datetime(datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC), usegmt=True), now
        )
        == 9
    )
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_config_from_settings() -> None:
    settings = load_settings(
        {
            "SUPPORTBOT_TENANT_ID": "acme",
            "SUPPORTBOT_INTEGRATED_NUMBER": "919876543210",
            "SUPPORTBOT_WEBHOOK_SECRET": "s",
            "SUPPORTBOT_REDIS_URL": "redis://localhost",
            "SUPPORTBOT_DATABASE_URL": "postgresql://localhost/x",
            "SUPPORTBOT_OPENROUTER_API_KEY": "sk-or-v1-abc",
            "SUPPORTBOT_OPENROUTER_BASE_URL": "http://127.0.0.1:8090/api/v1/",
            "SUPPORTBOT_LLM_MODELS": "a/b, c/d",
            "SUPPORTBOT_LLM_TIMEOUT_SECONDS": "12",
            "SUPPORTBOT_LLM_MASK_PII": "false",
        }
    )
    config = LLMConfig.from_settings(settings, breaker_failure_threshold=2)
    assert config.base_url == "http://127.0.0.1:8090/api/v1" and config.api_key == "sk-or-v1-abc"
    assert config.models == ("a/b", "c/d") and config.timeout_seconds == 12
    assert config.mask_pii is False and config.breaker_failure_threshold == 2
    with pytest.raises(ValueError, match="1 to 3"):
        LLMConfig(base_url="x", api_key=None, models=())


def test_pseudonymous_user_is_stable_and_hides_the_number() -> None:
    user = pseudonymous_user("acme", "919876543210")
    assert user == pseudonymous_user("acme", "919876543210")
    assert user.startswith("acme:wa:") and "9876543210" not in user
    assert user != pseudonymous_user("other", "919876543210")
