"""Prometheus metrics of the conversation engine and the agent API (default registry; base
units; labels never carry phone numbers or customer ids)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120)

TURNS = Counter(
    "supportbot_turns_total",
    "Conversation turns handled by the engine, by outcome (the flow's outcome such as greeting, "
    "menu, llm, handoff, opt_out, silent_handed_off; or llm_fallback, throttled, error).",
    ["outcome"],
)
TURN_SECONDS = Histogram(
    "supportbot_turn_duration_seconds",
    "Wall time of one engine turn (decision, LLM, delivery), by outcome.",
    ["outcome"],
    buckets=TURN_BUCKETS,
)
HANDOFFS = Counter(
    "supportbot_handoffs_total",
    "Conversations handed to a human, by reason (keyword, step, button, intent, "
    "fallback_offer, ask_failed, api) and source (bot, api).",
    ["reason", "source"],
)
HANDBACKS = Counter(
    "supportbot_handbacks_total", "Conversations handed back to the bot through the agent API."
)
OPT_OUTS = Counter(
    "supportbot_opt_out_changes_total",
    "Customers opting out (change=opt_out, e.g. STOP) or back in (change=opt_in, e.g. START).",
    ["change"],
)
AGENT_REPLIES = Counter(
    "supportbot_agent_replies_total",
    "Replies sent by human agents through the agent API, by result (sent, template_sent, "
    "undeliverable, deferred).",
    ["result"],
)

HTTP_STEP_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60)

FLOW_HTTP_CALLS = Counter(
    "supportbot_flow_http_calls_total",
    "Calls of the flow's HTTP steps to the tenant's backend, by step and outcome (success, "
    "not_found, error, timeout); retries of one call count once.",
    ["step", "outcome"],
)
FLOW_HTTP_SECONDS = Histogram(
    "supportbot_flow_http_call_duration_seconds",
    "Wall time of one HTTP step call (every attempt and backoff included), by step and outcome.",
    ["step", "outcome"],
    buckets=HTTP_STEP_BUCKETS,
)
