"""Build the chat messages for one LLM call, and fold the system prompt for models without a
system role.

Some models reject or ignore ``role: system`` (the seed's quirk; e.g. Gemma and OpenAI's o1
previews). For those the system prompt is folded into the first user message. Which models:
glob patterns in `LLMConfig.no_system_models` (default below), plus any model that answered a
request with a 400 error mentioning the system role (the client learns it at run time).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from supportbot.llm.chat import ChatMessage
from supportbot.llm.pii import mask_pii

DEFAULT_NO_SYSTEM_MODELS: tuple[str, ...] = ("*gemma*", "openai/o1-mini*", "openai/o1-preview*")


def build_messages(
    system_prompt: str | None,
    user_text: str,
    history: Sequence[ChatMessage] = (),
    *,
    mask: bool = True,
) -> list[ChatMessage]:
    """[system?, *history, user]; customer text (history user turns too) masked when `mask`."""
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for item in history:
        if item["role"] == "system":
            continue
        content = mask_pii(item["content"]) if mask and item["role"] == "user" else item["content"]
        messages.append({"role": item["role"], "content": content})
    messages.append({"role": "user", "content": mask_pii(user_text) if mask else user_text})
    return messages


def needs_folding(model: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(model, p) for p in patterns)


def fold_system(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Move system messages into the first user message ("Instructions: ...").

    If the conversation starts with an assistant message, a user message carrying the
    instructions is put first, so providers that need user-first ordering accept it.
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [
        ChatMessage(role=m["role"], content=m["content"]) for m in messages if m["role"] != "system"
    ]
    if not system:
        return rest
    preamble = f"Instructions:\n{system}\n\n---\n\n"
    for i, message in enumerate(rest):
        if message["role"] == "user":
            rest[i] = {"role": "user", "content": preamble + message["content"]}
            return rest
    return [{"role": "user", "content": f"Instructions:\n{system}"}, *rest]


def rejects_system_role(status: int, message: str) -> bool:
    """Does a 400 error say the model does not accept a system message?"""
    text = message.lower()
    return (
        status == 400
        and "system" in text
        and any(
            w in text for w in ("not supported", "unsupported", "not allowed", "does not support")
        )
    )
