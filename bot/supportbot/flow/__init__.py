"""Conversation flows: a versioned YAML schema (SCHEMA.md), its validator, the pure decision
function (`rules.decide`) the conversation engine calls once per turn, and a hot-reloading flow
store.

Engine usage::

    store = FlowStore(settings.flow_path)
    flow = store.current()
    decision = decide(flow, state, turn.messages, now)
    # send decision.messages; persist decision.state and the effects; if decision.llm:
    #   reply = await llm_client.complete(...); send render_llm_reply(flow, state, reply.content)
    #   or, on LLMUnavailable, send render_llm_failure(flow, state)
    # while decision.http: result = <perform the call>;
    #   decision = continue_after_http(flow, decision.state, decision.http, result,
    #                                  decision.pending, now)
"""

from supportbot.flow.hours import is_open
from supportbot.flow.render import (
    interpolate,
    render_llm_failure,
    render_llm_reply,
    render_step,
    system_prompt,
)
from supportbot.flow.rules import (
    abandon_http,
    continue_after_http,
    decide,
    match_intent,
    normalise,
)
from supportbot.flow.schema import Flow
from supportbot.flow.state import (
    HUMAN_OFFER_ID,
    Decision,
    Effect,
    HandoffRequested,
    HTTPCall,
    HTTPResult,
    LLMRequest,
    OptOutChanged,
    SessionState,
)
from supportbot.flow.store import FlowStore
from supportbot.flow.validation import (
    FlowError,
    LoadedFlow,
    load_flow_text,
    parse_flow_text,
    validate_flow_text,
)

__all__ = [
    "HUMAN_OFFER_ID",
    "Decision",
    "Effect",
    "Flow",
    "FlowError",
    "FlowStore",
    "HTTPCall",
    "HTTPResult",
    "HandoffRequested",
    "LLMRequest",
    "LoadedFlow",
    "OptOutChanged",
    "SessionState",
    "abandon_http",
    "continue_after_http",
    "decide",
    "interpolate",
    "is_open",
    "load_flow_text",
    "match_intent",
    "normalise",
    "parse_flow_text",
    "render_llm_failure",
    "render_llm_reply",
    "render_step",
    "system_prompt",
    "validate_flow_text",
]
