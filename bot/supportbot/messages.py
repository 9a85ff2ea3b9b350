"""Normalised message values that cross process boundaries (webhook -> queue -> worker).

The webhook's parser turns every MSG91/Meta payload shape into `InboundMessage`; the queue stores
it as compact JSON (`to_json`/`from_json`); the worker hands a `Turn` (one or more coalesced
messages of one conversation) to the conversation engine through `TurnHandler`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, Protocol

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Compact JSON, built once (``json.dumps`` with options builds an encoder per call)."""


class MessageKind(StrEnum):
    TEXT = "text"
    INTERACTIVE = "interactive"  # button_reply / list_reply
    BUTTON = "button"  # template quick-reply button
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"
    VIDEO = "video"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    UNKNOWN = "unknown"


MEDIA_KINDS = frozenset(
    {MessageKind.IMAGE, MessageKind.DOCUMENT, MessageKind.AUDIO, MessageKind.VIDEO,
     MessageKind.STICKER}
)  # fmt: skip
"""Inbound kinds that carry a file (a URL and/or Meta media id, see `InboundMessage.media`)."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message, provider-neutral."""

    tenant_id: str
    customer_id: str
    """Conversation key inside the tenant: the BSUID when present, else the phone digits."""
    message_id: str
    """De-duplication id: WhatsApp message id (uuid/wamid), else requestId, else body hash."""
    kind: MessageKind
    received_at: float
    """Epoch seconds when the webhook accepted it (arrival order within a conversation)."""
    phone: str | None = None
    bsuid: str | None = None
    text: str | None = None
    """Text body, the tapped button/list title, or a media caption."""
    reply_id: str | None = None
    """Id of the tapped reply button / list row / template button payload."""
    media_url: str | None = None
    media_mime: str | None = None
    customer_name: str | None = None
    sent_at: float | None = None
    """Provider timestamp (epoch seconds) when the customer sent it, if given."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Type-specific details (location, contacts, reaction, unknown payload...)."""
    throttled: bool = False
    """Over the customer's per-minute limit: record it, but do not send it to the LLM."""
    throttle_notice: bool = False
    """The first over-limit message of its window: tell the customer (once) to slow down."""
    request_id: str | None = None
    """Our correlation id: the webhook request's ``X-Request-ID`` (or one generated for it); it
    follows the message into its turn's logs, LLM call and sends (`observability`). Not MSG91's
    ``requestId`` (that one is in `extra`). None: accepted before request ids existed."""

    @property
    def media_id(self) -> str | None:
        """Meta's media id of a media message (the parser keeps it in `extra`)."""
        value = self.extra.get("media_id") if self.kind in MEDIA_KINDS else None
        return value if isinstance(value, str) else None

    @property
    def has_media(self) -> bool:
        return self.kind in MEDIA_KINDS and bool(self.media_url or self.media_id)

    def to_json(self) -> str:
        """Compact JSON of the wire fields (`WIRE_FIELDS`) in field order.

        Without ``asdict`` on the usual path: on the webhook's hot path its deep copy (probing
        every value, the enum included, for dataclass-ness) cost more than the encoding.

        Rolling upgrades and rollbacks: the previous release's workers decode an entry with
        ``cls(**raw)`` and quarantine one carrying a field they do not know, so the top-level
        keys stay exactly `WIRE_FIELDS`; `request_id` rides inside `extra` under
        `WIRE_REQUEST_ID` (a free-form dict every release accepts) and `from_json` lifts it back.
        """
        values = list(_wire_values(self))
        if self.request_id is not None:
            values[_EXTRA_INDEX] = {**self.extra, WIRE_REQUEST_ID: self.request_id}
        try:
            return _ENCODER.encode(dict(zip(WIRE_FIELDS, values, strict=True)))
        except TypeError:  # something in `extra` that only asdict turns into JSON
            plain = asdict(self)
            plain.pop("request_id")
            if self.request_id is not None:
                plain["extra"] = {**plain["extra"], WIRE_REQUEST_ID: self.request_id}
            return _ENCODER.encode(plain)

    @classmethod
    def from_json(cls, data: str | bytes) -> InboundMessage:
        """Entries written by older versions lack newer fields (defaults apply); top-level fields
        this version does not know (a newer writer's) are ignored."""
        raw = json.loads(data)
        raw["kind"] = MessageKind(raw["kind"])
        if not _INBOUND_NAMES.issuperset(raw):
            raw = {k: v for k, v in raw.items() if k in _INBOUND_NAMES}
        extra = raw.get("extra")
        if extra and WIRE_REQUEST_ID in extra:
            raw["extra"] = {k: v for k, v in extra.items() if k != WIRE_REQUEST_ID}
            request_id = extra[WIRE_REQUEST_ID]
            raw["request_id"] = request_id if isinstance(request_id, str) else None
        return cls(**raw)


WIRE_REQUEST_ID = "supportbot.request_id"
"""The key under which `InboundMessage.request_id` travels inside `extra` on the wire."""
WIRE_FIELDS = (
    "tenant_id",
    "customer_id",
    "message_id",
    "kind",
    "received_at",
    "phone",
    "bsuid",
    "text",
    "reply_id",
    "media_url",
    "media_mime",
    "customer_name",
    "sent_at",
    "extra",
    "throttled",
    "throttle_notice",
)
"""The top-level keys of an inbox entry: exactly those every deployed release decodes. A new field
must ride in `extra` (as `request_id` does) until no release that rejects it can still run."""
_INBOUND_NAMES = frozenset(f.name for f in fields(InboundMessage))
_EXTRA_INDEX = WIRE_FIELDS.index("extra")
_wire_values = attrgetter(*WIRE_FIELDS)


class DeliveryState(StrEnum):
    """Outbound message states; reports only move a message forward (`next_delivery_state`)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_DELIVERY_RANK = {
    DeliveryState.QUEUED: 0,
    DeliveryState.SENT: 1,
    DeliveryState.DELIVERED: 2,
    DeliveryState.READ: 3,
}


def next_delivery_state(current: DeliveryState, reported: DeliveryState) -> DeliveryState | None:
    """The delivery state machine (the only one): the state after a report of `reported`, or
    None when the report changes nothing.

    Order ``queued < sent < delivered < read``; a report for the current or an earlier state is
    stale, a later one jumps straight to it (``read`` without ``delivered``). ``failed`` applies
    only while ``queued``/``sent`` (after ``delivered``/``read`` another device's failure is
    ignored) and is terminal except for a later ``delivered``/``read`` (multi-device; reference
    msg91-whatsapp.md §1.3 and §2.1).
    """
    if reported == current:
        return None
    if reported == DeliveryState.FAILED:
        return reported if current in (DeliveryState.QUEUED, DeliveryState.SENT) else None
    if current == DeliveryState.FAILED:
        return reported if reported in (DeliveryState.DELIVERED, DeliveryState.READ) else None
    return reported if _DELIVERY_RANK[reported] > _DELIVERY_RANK[current] else None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A delivery/read report (DLR) for one of our outbound messages, provider-neutral."""

    tenant_id: str
    provider_message_id: str
    """The id the provider gave our outbound message (MSG91 `uuid`/requestId or a wamid)."""
    state: DeliveryState
    received_at: float
    occurred_at: float | None = None
    customer_id: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return _ENCODER.encode(asdict(self))

    @classmethod
    def from_json(cls, data: str | bytes) -> DeliveryReport:
        raw = json.loads(data)
        raw["state"] = DeliveryState(raw["state"])
        return cls(**raw)


class OutboundKind(StrEnum):
    TEXT = "text"
    BUTTONS = "buttons"  # WhatsApp reply buttons: <= 3, title <= 20 chars
    LIST = "list"  # WhatsApp list: <= 10 rows, title <= 24, description <= 72
    TEMPLATE = "template"
    IMAGE = "image"  # media by link; `text` is the caption (shared/reference §2.6 limits)
    DOCUMENT = "document"
    VIDEO = "video"
    AUDIO = "audio"  # no caption
    STICKER = "sticker"  # no caption


MEDIA_OUTBOUND_KINDS = frozenset(
    {OutboundKind.IMAGE, OutboundKind.DOCUMENT, OutboundKind.VIDEO, OutboundKind.AUDIO,
     OutboundKind.STICKER}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReplyButton:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ListSection:
    title: str
    rows: tuple[ListRow, ...]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message the bot (or an agent) sends to a customer, provider-neutral."""

    kind: OutboundKind
    text: str = ""
    """Body text (for templates: unused; the template holds the text)."""
    header: str | None = None
    footer: str | None = None
    buttons: tuple[ReplyButton, ...] = ()
    list_button: str | None = None
    """Label of the button that opens a list message."""
    sections: tuple[ListSection, ...] = ()
    template_name: str | None = None
    template_language: str | None = None
    template_params: tuple[str, ...] = ()
    media_url: str | None = None
    """Media kinds: the public https link WhatsApp fetches the file from (Meta's ``link``)."""
    media_filename: str | None = None
    """Documents: the file name the customer sees."""
    media_mime: str | None = None
    """Declared MIME type, checked against WhatsApp's allowed types before sending."""
    media_size: int | None = None
    """Declared size in bytes, checked against WhatsApp's limits before sending (None: unknown,
    only the type is checked)."""
    template_header_type: str | None = None
    """Templates with a media header: image | document | video (``header_1`` component)."""
    template_header_url: str | None = None
    """The header media's link."""

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_OUTBOUND_KINDS


@dataclass(frozen=True, slots=True)
class Turn:
    """One unit of conversation work: the messages coalesced for one (tenant, customer)."""

    turn_id: str
    """Stable across retries of the same turn; delivery is idempotent on it."""
    tenant_id: str
    customer_id: str
    messages: tuple[InboundMessage, ...]
    attempt: int = 1
    lease_key: str | None = None
    """Redis key of the conversation lease the runner holds for this turn (None: unfenced)."""
    lease_token: str | None = None
    """The runner's token in `lease_key`: side effects (reply sends) are allowed only while the
    key still holds it (`provider.deliverer.SendFence`)."""

    @property
    def request_id(self) -> str | None:
        """The turn's correlation id: that of its first message carrying one (the message whose
        arrival queued the drain; coalesced followers' ids are on their messages)."""
        return next((m.request_id for m in self.messages if m.request_id), None)


class TurnDeferred(Exception):
    """A dependency of the turn (PostgreSQL, Redis, the provider's send API) is unavailable.

    Raised by a `TurnHandler` when the turn could not finish for a reason outside the turn itself:
    the runner keeps the conversation and runs the SAME turn again after a capped backoff, without
    counting an attempt, for as long as an answer is still useful (`BotSettings.
    turn_retry_deadline_seconds`). Anything else a handler raises counts as a failed attempt.
    """

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class TurnHandler(Protocol):
    """The seam between the turn runner (queue/worker) and the conversation engine."""

    async def handle_turn(self, turn: Turn) -> None:
        """Run one turn to completion. Raising makes the runner retry the same turn:
        `TurnDeferred` while a dependency is down, other exceptions as failed attempts."""
        ...
