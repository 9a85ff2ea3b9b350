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
ANSWER_CACHE_LOOKUPS = Counter(
    "supportbot_answer_cache_lookups_total",
    "Free-text questions checked against the answer cache, by result: hit_memory, hit_redis, "
    "miss, uncacheable (PII, slots, customer name, too long) or error (Redis did not answer; "
    "the LLM answered).",
    ["result"],
)
ANSWER_CACHE_STORES = Counter(
    "supportbot_answer_cache_stores_total",
    "LLM answers offered to the answer cache, by result: stored, refused (the answer carries "
    "PII or the customer's name) or error.",
    ["result"],
)
ANSWER_CACHE_SAVED_CALLS = Counter(
    "supportbot_answer_cache_saved_llm_calls_total",
    "LLM calls not made because the answer cache had the answer.",
)
ANSWER_CACHE_SAVED_COST = Counter(
    "supportbot_answer_cache_saved_cost_usd_total",
    "What the LLM calls the answer cache saved would have cost (the original call's cost, USD).",
)
ANSWER_CACHE_SAVED_TOKENS = Counter(
    "supportbot_answer_cache_saved_tokens_total",
    "Prompt plus completion tokens of the LLM calls the answer cache saved.",
)
CSAT_SURVEYS = Counter(
    "supportbot_csat_surveys_total",
    "CSAT surveys settled, by trigger (flow_end, agent_resolved, idle) and result: asked, or "
    "why not (disabled, opted_out, handed_off, conversation_continued, window_closed, "
    "cooldown, undeliverable).",
    ["trigger", "result"],
)
CSAT_RATINGS = Histogram(
    "supportbot_csat_rating",
    "Ratings customers gave (1 = worst), by scale (3 or 5): the rating histogram.",
    ["scale"],
    buckets=(1, 2, 3, 4, 5),
)
CSAT_RATINGS_REFUSED = Counter(
    "supportbot_csat_ratings_refused_total",
    "Rating taps not recorded: no open survey of that customer (answered before, unknown).",
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
