"""The answer cache's pure decisions: what may be cached and what its key depends on."""

from __future__ import annotations

import pytest

from supportbot.engine.answers import ModelChain, lookup_key, storable, uncacheable_reason
from supportbot.llm import ChatMessage

CHAIN = ModelChain(models=("openai/gpt-4o-mini",), temperature=0.3, max_tokens=512)
HISTORY: list[ChatMessage] = [
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello! Ask us anything."},
]


def key(**changes: object) -> str:
    args: dict[str, object] = {
        "flow_sha256": "f" * 64,
        "chain": CHAIN,
        "system_prompt": "You are the assistant of FAQ Shop.",
        "history": HISTORY,
        "question": "What are your opening hours?",
    }
    args.update(changes)
    return lookup_key(**args)  # type: ignore[arg-type]


def test_the_key_ignores_case_spacing_and_surrounding_punctuation() -> None:
    assert key() == key(question="  what are your OPENING hours ")
    assert key() == key(history=[{"role": "user", "content": "Hi!"}, HISTORY[1]])


@pytest.mark.parametrize(
    "change",
    [
        {"flow_sha256": "e" * 64},
        {"chain": ModelChain(("google/gemini-2.5-flash",), 0.3, 512)},
        {"chain": ModelChain(("openai/gpt-4o-mini",), 0.9, 512)},
        {"chain": ModelChain(("openai/gpt-4o-mini",), 0.3, 100)},
        {"system_prompt": "You are the assistant of FAQ Shop. Returns take 30 days."},
        {"history": [{"role": "user", "content": "hello"}, HISTORY[1]]},
        {"history": []},
        {"question": "What are your closing hours?"},
    ],
)
def test_every_ingredient_changes_the_key(change: dict[str, object]) -> None:
    assert key(**change) != key()


def reason(question: str, **changes: object) -> str | None:
    args: dict[str, object] = {
        "question": question,
        "system_prompt_template": "You are the assistant of FAQ Shop.",
        "history": HISTORY,
        "customer_name": "Asha Rao",
    }
    args.update(changes)
    return uncacheable_reason(**args)  # type: ignore[arg-type]


def test_plain_questions_are_cacheable() -> None:
    assert reason("Do you ship to Pune?") is None
    assert reason("Do you ship to Pune?", customer_name=None) is None


@pytest.mark.parametrize(
    ("question", "changes", "why"),
    [
        ("", {}, "empty"),
        ("?!", {}, "empty"),
        ("x" * 400, {}, "long"),
        ("call me on +91 98765 43210", {}, "pii"),
        ("mail asha@example.com", {}, "pii"),
        ("is this for rao?", {}, "pii"),
        ("hours?", {"history": [{"role": "user", "content": "I'm Asha"}]}, "pii"),
        ("hours?", {"history": [{"role": "user", "content": "my no. 9876543210"}]}, "pii"),
        ("hours?", {"system_prompt_template": "Help {{customer_name}}."}, "slots"),
    ],
)
def test_uncacheable(question: str, changes: dict[str, object], why: str) -> None:
    assert reason(question, **changes) == why


def test_answers_with_pii_or_the_name_are_not_stored() -> None:
    assert storable("We open at 9:00, Monday to Friday.", "Asha Rao")
    assert not storable("Hi Asha, we open at 9.", "Asha Rao")
    assert not storable("Call us on +91 98765 43210.", None)
    assert not storable("   ", None)
