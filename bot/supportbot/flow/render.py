"""Pure rendering: `{{slot}}` interpolation and flow steps -> `OutboundMessage`s.

Also the two functions the conversation engine calls after the LLM effect:
`render_llm_reply` (the model's answer) and `render_llm_failure` (the flow's fallback message
plus a 'talk to a human' button, so a failed LLM never means silence).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from urllib.parse import quote

from pydantic import JsonValue

from supportbot.flow.checks import VARIABLE
from supportbot.flow.schema import CAPTION_MAX, TEXT_MAX, Csat, Flow, HTTPStep, Step
from supportbot.flow.state import HUMAN_OFFER_ID, HTTPCall, SessionState, csat_reply_id
from supportbot.messages import ListRow, ListSection, OutboundKind, OutboundMessage, ReplyButton


def interpolate(
    text: str, slots: Mapping[str, str], encode: Callable[[str], str] | None = None
) -> str:
    """Replace ``{{name}}`` with the slot value; ``{{name|default}}`` when the slot is empty.
    `encode` transforms each value put in (URL-encoding for HTTP step URLs)."""

    def sub(match: re.Match[str]) -> str:
        full, name = match.group(0), match.group(1)
        default = full[2:-2].split("|", 1)[1].strip() if "|" in full else ""
        value = slots.get(name, "")
        value = value if value else default
        return encode(value) if encode else value

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


CSAT_FIVE = (
    (5, "★★★★★ Excellent"),
    (4, "★★★★ Good"),
    (3, "★★★ Okay"),
    (2, "★★ Poor"),
    (1, "★ Very poor"),
)
CSAT_THREE = ((3, "Good"), (2, "OK"), (1, "Poor"))


def csat_question(csat: Csat, survey_id: int) -> OutboundMessage:
    """The rating question of survey `survey_id`: a list of five ratings or three buttons, each
    option's reply id naming the survey and the rating (`state.csat_reply_id`)."""
    if csat.scale == 3:
        buttons = tuple(
            ReplyButton(id=csat_reply_id(survey_id, n), title=title) for n, title in CSAT_THREE
        )
        return OutboundMessage(kind=OutboundKind.BUTTONS, text=csat.question, buttons=buttons)
    rows = tuple(ListRow(id=csat_reply_id(survey_id, n), title=title) for n, title in CSAT_FIVE)
    return OutboundMessage(
        kind=OutboundKind.LIST,
        text=csat.question,
        list_button=csat.button,
        sections=(ListSection(title="", rows=rows),),
    )


def _url_encode(value: str) -> str:
    return quote(value, safe="")


def _header_value(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _body(value: JsonValue, slots: Mapping[str, str]) -> JsonValue:
    if isinstance(value, str):
        return interpolate(value, slots)
    if isinstance(value, dict):
        return {k: _body(v, slots) for k, v in value.items()}
    if isinstance(value, list):
        return [_body(v, slots) for v in value]
    return value


def render_http_call(name: str, http: HTTPStep, slots: Mapping[str, str]) -> HTTPCall:
    """The request of HTTP step `name`: slots URL-encoded into the URL (so an answer cannot add
    path segments or query parameters), put into header values (line breaks removed) and into
    the body's strings; `{{secret:NAME}}` stays for the engine."""
    headers = tuple((k, interpolate(v, slots, _header_value)) for k, v in http.headers.items())
    return HTTPCall(
        step=name,
        method=http.method,
        url=interpolate(http.url, slots, _url_encode),
        headers=headers,
        body=None if http.body is None else _body(http.body, slots),
        timeout_seconds=http.timeout_seconds,
        retries=http.retries,
        idempotency_key=http.idempotency_key,
        max_response_bytes=http.max_response_bytes,
    )


def extract(data: JsonValue, path: str) -> str | None:
    """The scalar at dotted `path` ('shipment.eta', 'items.0.name', optional '$.') in JSON
    `data` as text (true/false for booleans), or None when missing, null, an object or a list."""
    value: JsonValue = data
    for part in path.removeprefix("$.").split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
