"""Pure rendering: `{{slot}}` interpolation and flow steps -> `OutboundMessage`s.

Also the two functions the conversation engine calls after the LLM effect:
`render_llm_reply` (the model's answer) and `render_llm_failure` (the flow's fallback message
plus a 'talk to a human' button, so a failed LLM never means silence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from supportbot.flow.checks import VARIABLE
from supportbot.flow.schema import CAPTION_MAX, TEXT_MAX, Flow, Step
from supportbot.flow.state import HUMAN_OFFER_ID, SessionState
from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton


def interpolate(text: str, slots: Mapping[str, str]) -> str:
    """Replace ``{{name}}`` with the slot value; ``{{name|default}}`` when the slot is empty."""

    def sub(match: re.Match[str]) -> str:
        full, name = match.group(0), match.group(1)
        default = full[2:-2].split("|", 1)[1].strip() if "|" in full else ""
        value = slots.get(name, "")
        return value if value else default

    return VARIABLE.sub(sub, text)


def text_message(text: str) -> OutboundMessage:
    return OutboundMessage(kind=OutboundKind.TEXT, text=text[:TEXT_MAX])


def render_step(step: Step, slots: Mapping[str, str]) -> list[OutboundMessage]:
    """The message(s) entering `step` sends: text, reply buttons, a list, or media (the text as
    its caption)."""
    body = interpolate(step.text, slots) if step.text else ""
    if step.media:
        media = step.media
        message = OutboundMessage(
            kind=OutboundKind(media.kind),
            text=body[:CAPTION_MAX],
            media_url=media.url,
            media_filename=media.filename,
        )
        return [message]
    if step.buttons:
        buttons = tuple(ReplyButton(id=b.id, title=b.title) for b in step.buttons)
        return [
            OutboundMessage(
                kind=OutboundKind.BUTTONS, text=body, footer=step.footer, buttons=buttons
            )
        ]
    if step.list:
        sections = tuple(
            ListSection(
                title=s.title or "",
                rows=tuple(
                    ListRow(id=r.id, title=r.title, description=r.description) for r in s.rows
                ),
            )
            for s in step.list.sections
        )
        message = OutboundMessage(
            kind=OutboundKind.LIST,
            text=body,
            footer=step.footer,
            list_button=step.list.button,
            sections=sections,
        )
        return [message]
    return [text_message(body)] if body else []


def system_prompt(flow: Flow, slots: Mapping[str, str]) -> str:
    """The flow's system prompt with slots filled in and its knowledge snippets appended."""
    assert flow.llm is not None
    parts = [interpolate(flow.llm.system_prompt, slots).strip()]
    if flow.llm.knowledge:
        parts.append("Knowledge you may use (answer only from it when it applies):")
        parts += [f"## {k.title}\n{k.text.strip()}" for k in flow.llm.knowledge]
    return "\n\n".join(parts)


def render_llm_reply(flow: Flow, state: SessionState, reply: str) -> list[OutboundMessage]:
    """Messages carrying the LLM's answer (after the decision's own messages)."""
    del flow, state  # the reply is sent as it is; kept for symmetry and future formatting
    return [text_message(reply.strip())]


def render_llm_failure(flow: Flow, state: SessionState) -> list[OutboundMessage]:
    """The flow's fallback message, with a 'talk to a human' button when enabled.

    Tapping the button arrives as reply id `HUMAN_OFFER_ID`, which `decide` turns into a handoff.
    """
    text = interpolate(flow.fallback.message, state.slots)
    if not flow.fallback.offer_human:
        return [text_message(text)]
    button = ReplyButton(id=HUMAN_OFFER_ID, title=flow.fallback.human_button)
    return [OutboundMessage(kind=OutboundKind.BUTTONS, text=text[:1024], buttons=(button,))]
