"""Values the flow rules (`rules.decide`) read and return: session state, decisions, effects.

`SessionState` is what the conversation engine keeps per conversation (Redis, 1 h idle TTL) and
hands back on the next turn; it round-trips through `to_dict`/`from_dict` (JSON-safe). Two of
its fields must also survive the Redis TTL, so the engine persists them in PostgreSQL when the
matching effect appears: `opted_out` (`OptOutChanged`) and `handed_off` (`HandoffRequested`).

A `Decision` lists the messages to send in order, the new state and the effects the engine
carries out (an LLM call, a handoff, an opt-out change, a call to the tenant's backend). After an
`HTTPCall` the engine performs it and hands the `HTTPResult` to `rules.continue_after_http`,
which continues the flow (and the turn's remaining messages) on the matching branch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from supportbot.messages import InboundMessage, OutboundMessage

HUMAN_OFFER_ID = "sb:handoff"
"""Reply-button id of the 'talk to a human' button the bot adds to fallback messages."""
CSAT_REPLY_PREFIX = "sb:csat:"
"""Reply ids of a CSAT question's options: ``sb:csat:{survey id}:{rating}``."""


def csat_reply_id(survey_id: int, rating: int) -> str:
    return f"{CSAT_REPLY_PREFIX}{survey_id}:{rating}"


def parse_csat_reply(reply_id: str) -> tuple[int, int] | None:
    """(survey id, rating) of a CSAT option's reply id; None when it is not a well-formed one."""
    if not reply_id.startswith(CSAT_REPLY_PREFIX):
        return None
    survey, _, rating = reply_id[len(CSAT_REPLY_PREFIX) :].partition(":")
    if not (survey.isdigit() and rating.isdigit() and len(survey) <= 18 and len(rating) == 1):
        return None
    return int(survey), int(rating)


@dataclass
class SessionState:
    """Per-conversation flow state. Pass None to `decide` for a brand-new conversation."""

    greeted: bool = False
    step: str | None = None
    """Current step; None = at rest (free text goes to intents, then the LLM or the start menu)."""
    awaiting_slot: str | None = None
    """Slot the current step asked for; the next free text is the answer."""
    attempts: int = 0
    """Invalid answers to the current question so far."""
    slots: dict[str, str] = field(default_factory=dict)
    opted_out: bool = False
    handed_off: bool = False
    out_of_hours_notified_at: float | None = None
    """Epoch seconds when the out-of-hours message was last sent (to avoid repeating it)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        state.slots = {str(k): str(v) for k, v in (state.slots or {}).items()}
        return state

    def copy(self) -> SessionState:
        return SessionState.from_dict(self.to_dict())

    def handed_back(self) -> SessionState:
        """A copy for when an agent hands the conversation back: the bot answers again, from
        rest (the next message goes through intents, then the LLM or the start menu)."""
        state = self.copy()
        state.handed_off = False
        state.step = state.awaiting_slot = None
        state.attempts = 0
        return state


@dataclass(frozen=True)
class LLMRequest:
    """Ask the LLM to answer the customer's free text, then send its reply.

    The engine adds up to `history_messages` earlier messages, calls the LLM client, and sends
    `render_llm_reply(...)` on success or `render_llm_failure(...)` when it raised.
    """

    system_prompt: str
    """The flow's system prompt with `{{slots}}` filled in and the knowledge snippets appended."""
    user_text: str
    """The customer's text of this turn (several coalesced messages joined by newlines)."""
    history_messages: int
    step: str | None


HandoffReason = Literal["keyword", "step", "button", "intent", "fallback_offer", "ask_failed"]


@dataclass(frozen=True)
class HandoffRequested:
    """Hand the conversation to a human; the bot stays silent until handed back."""

    reason: HandoffReason
    out_of_hours: bool = False


@dataclass(frozen=True)
class OptOutChanged:
    """The customer opted out (STOP) or back in (START); persist it durably."""

    opted_out: bool


@dataclass(frozen=True)
class Resolved:
    """The flow reached an ``action: end`` step: the engine may plan a CSAT survey."""


@dataclass(frozen=True)
class CsatAnswered:
    """The customer tapped a rating of CSAT survey `survey_id`."""

    survey_id: int
    rating: int


@dataclass(frozen=True)
class HTTPCall:
    """Call the tenant's backend for the HTTP step `step`, then continue with
    `rules.continue_after_http`. Slots are filled in (URL-encoded in the URL); `{{secret:NAME}}`
    in header values is left for the engine to resolve from the backend Secret, so secrets never
    enter a decision, a stored plan or a log."""

    step: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: JsonValue = None
    """JSON body, None = no body."""
    timeout_seconds: float = 5.0
    retries: int = 0
    idempotency_key: bool = False
    max_response_bytes: int = 65_536


HTTPOutcome = Literal["success", "not_found", "error", "timeout"]


@dataclass(frozen=True)
class HTTPResult:
    """What an `HTTPCall` came to: `success` (2xx), `not_found` (404), `timeout` (no answer in
    time, retries included) or `error` (anything else: refused by policy, other status, a body
    over the size limit or not JSON when the step extracts)."""

    outcome: HTTPOutcome
    status: int | None = None
    data: JsonValue = None
    """The parsed JSON body on success (None when there was none)."""
    detail: str = ""
    """Why (for logs and the turn record): never the body or the URL's path."""


Effect = LLMRequest | HandoffRequested | OptOutChanged | Resolved | CsatAnswered | HTTPCall

Outcome = Literal[
    "greeting",
    "menu",
    "intent",
    "slot",
    "llm",
    "handoff",
    "opt_out",
    "opt_in",
    "silent_opted_out",
    "silent_handed_off",
    "out_of_hours",
    "unmatched",
    "unsupported",
    "csat",
    "http",
    "http_fallback",
    "media",
]


@dataclass(frozen=True)
class Decision:
    messages: tuple[OutboundMessage, ...]
    """Send in this order (before the LLM reply, if `llm` is set)."""
    state: SessionState
    effects: tuple[Effect, ...] = ()
    outcome: Outcome = "menu"
    """What the turn amounted to (a metrics label)."""
    llm_at: int | None = None
    """Where the LLM reply goes in `messages`: after the replies to messages the customer sent
    before the free text, before those to later ones (a coalesced turn keeps the order)."""
    pending: tuple[InboundMessage, ...] = ()
    """Messages of the turn not handled yet because an `HTTPCall` must run first; pass them to
    `continue_after_http`."""

    @property
    def llm(self) -> LLMRequest | None:
        return next((e for e in self.effects if isinstance(e, LLMRequest)), None)

    @property
    def handoff(self) -> HandoffRequested | None:
        return next((e for e in self.effects if isinstance(e, HandoffRequested)), None)

    @property
    def http(self) -> HTTPCall | None:
        return next((e for e in self.effects if isinstance(e, HTTPCall)), None)
