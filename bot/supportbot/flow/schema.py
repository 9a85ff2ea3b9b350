"""Pydantic models of a flow file, schema version 1 (documented in SCHEMA.md).

Field-level rules live here, so pydantic reports them at the exact field: WhatsApp's interactive
limits (reply buttons <= 3 with titles <= 20 characters; lists <= 10 rows, row titles <= 24,
descriptions <= 72, button label <= 20), regexes that must compile, time zones that must exist.
Rules that look across the file (targets of `goto`, cycles, `{{slot}}` references) are in
:mod:`supportbot.flow.checks`.
"""

from __future__ import annotations

import builtins
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

BUTTON_TITLE_MAX = 20
MAX_BUTTONS = 3
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
INTERACTIVE_BODY_MAX = 1024
TEXT_MAX = 4096
FOOTER_MAX = 60
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_WINDOW = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _limit(n: int, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > n:
            raise ValueError(f"{what} is {len(value)} characters; WhatsApp allows at most {n}")
        if not value.strip():
            raise ValueError(f"{what} must not be empty")
        return value

    return AfterValidator(check)


def _reply_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("ids use letters, digits and _ . : - (1-200 characters)")
    if value.startswith("sb:"):
        raise ValueError("ids starting with 'sb:' are reserved for the bot")
    return value


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("names are lowercase letters, digits and '_' (start with a letter)")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Asia/Kolkata)"
        ) from None
    return value


def _window(value: str) -> str:
    m = _WINDOW.match(value)
    if not m or (m.group(3), m.group(4)) > ("24", "00") or value[:5] >= value[6:]:
        raise ValueError("opening windows look like '09:00-18:00' (start before end, end <= 24:00)")
    return value


def _date(value: str) -> str:
    if not _DATE.match(value):
        raise ValueError("holidays are dates like 2026-01-26")
    return value


def _max_buttons(value: list[Button]) -> list[Button]:
    if not 1 <= len(value) <= MAX_BUTTONS:
        raise ValueError(f"{len(value)} reply buttons; WhatsApp allows 1 to {MAX_BUTTONS}")
    return value


Text = Annotated[str, _limit(TEXT_MAX, "text")]
ReplyId = Annotated[str, AfterValidator(_reply_id)]
Name = Annotated[str, AfterValidator(_name)]
Regex = Annotated[str, AfterValidator(_regex)]
Keyword = Annotated[str, Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Button(_Model):
    id: ReplyId
    title: Annotated[str, _limit(BUTTON_TITLE_MAX, "button title")]
    goto: str | None = None
    action: Literal["handoff"] | None = None


class ListRow(_Model):
    id: ReplyId
    title: Annotated[str, _limit(ROW_TITLE_MAX, "row title")]
    description: Annotated[str, _limit(ROW_DESCRIPTION_MAX, "row description")] | None = None
    goto: str | None = None
    action: Literal["handoff"] | None = None


class ListSection(_Model):
    title: Annotated[str, _limit(SECTION_TITLE_MAX, "section title")] | None = None
    rows: Annotated[list[ListRow], Field(min_length=1)]


class ListMenu(_Model):
    button: Annotated[str, _limit(LIST_BUTTON_MAX, "list button label")]
    sections: Annotated[list[ListSection], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _rows(self) -> ListMenu:
        total = sum(len(s.rows) for s in self.sections)
        if total > LIST_ROWS_MAX:
            raise ValueError(f"the list has {total} rows; WhatsApp allows at most {LIST_ROWS_MAX}")
        if len(self.sections) > 1 and any(s.title is None for s in self.sections):
            raise ValueError("every section needs a title when a list has several sections")
        return self


class Ask(_Model):
    slot: Name
    pattern: Regex | None = None
    """Full-match regex the answer must satisfy (case-insensitive); any text when absent."""
    invalid: Text | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    on_fail: str | None = None
    """Step entered after `max_attempts` invalid answers; absent: hand off to a human."""


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
HTTP_TIMEOUT_MAX = 15.0
HTTP_RETRIES_MAX = 3
HTTP_RESPONSE_MAX = 1_048_576
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_EXTRACT_PATH = re.compile(r"^(\$\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,9}$")
SECRET_REF = re.compile(r"\{\{\s*secret:([A-Za-z0-9._-]{1,253})\s*\}\}")
"""`{{secret:NAME}}` in a header value: key NAME of the tenant's backend Secret."""
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def _header_name(value: str) -> str:
    if not _HEADER_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid HTTP header name")
    if value.lower() in _FORBIDDEN_HEADERS:
        raise ValueError(f"header {value!r} is set by the bot")
    return value


def _extract_path(value: str) -> str:
    if not _EXTRACT_PATH.match(value):
        raise ValueError(
            "extract paths are dotted keys or list indexes like 'status', 'shipment.eta', "
            "'items.0.name' (optionally starting with '$.'), at most 10 parts"
        )
    return value


def http_url_problem(url: str) -> str | None:
    """Why a templated URL is unsafe or malformed (None = fine). Slots may appear in the path
    and query only: the scheme and host are literal, so a customer's answer never picks the
    server."""
    if SECRET_REF.search(url):
        return "secrets ({{secret:...}}) may only appear in header values, not in the URL"
    parts = urlsplit(_ANY_TEMPLATE.sub("x", url))
    if parts.scheme not in ("https", "http"):
        return "the URL must start with https:// (or http:// for an allow-listed host)"
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "{{" in authority or "}}" in authority:
        return "the host of the URL must be written out: {{variables}} only in path and query"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use headers with {{secret:NAME}}"
    if parts.fragment:
        return "the URL must not have a #fragment"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the URL has an invalid port"
    return None


def _http_url(value: str) -> str:
    problem = http_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
ExtractPath = Annotated[str, AfterValidator(_extract_path)]


class HTTPStep(_Model):
    """A call to the tenant's backend (SCHEMA.md, 'HTTP steps')."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Annotated[str, Field(min_length=8, max_length=2000), AfterValidator(_http_url)]
    """Slots in the path and query are URL-encoded; the scheme and host are literal."""
    headers: dict[HeaderName, Annotated[str, Field(max_length=1000)]] = {}
    """Values may use {{slot}} and {{secret:NAME}} (a key of the backend Secret)."""
    body: dict[str, JsonValue] | None = None
    """JSON body (POST/PUT/PATCH/DELETE); string values may use {{slot}}."""
    timeout_seconds: Annotated[float, Field(gt=0, le=HTTP_TIMEOUT_MAX)] = 5.0
    retries: Annotated[int, Field(ge=0, le=HTTP_RETRIES_MAX)] = 0
    """Extra attempts after a timeout, connection error, 429 or 5xx (idempotent calls only)."""
    idempotency_key: bool = False
    """Send an `Idempotency-Key` header, the same on every attempt of the turn (allows retries
    of POST/PATCH)."""
    max_response_bytes: Annotated[int, Field(ge=1, le=HTTP_RESPONSE_MAX)] = 65_536
    extract: dict[Name, ExtractPath] = {}
    """slot -> path into the JSON response, read on success."""
    on_success: str | None = None
    on_not_found: str | None = None
    on_error: str | None = None
    on_timeout: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> HTTPStep:
        if self.retries and self.method not in IDEMPOTENT_METHODS and not self.idempotency_key:
            raise ValueError(
                f"retries of a {self.method} could act twice; retry only GET, HEAD, PUT, "
                "DELETE, or set idempotency_key: true"
            )
        if self.body is not None and self.method in ("GET", "HEAD"):
            raise ValueError(f"a {self.method} request has no body")
        return self


MediaKind = Literal["image", "document", "audio", "video", "sticker", "location", "contacts"]
"""Customer message kinds a step can `accept` (and `fallback.media` can answer)."""
CAPTION_MAX = 1024


def _media_link(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+\S*$", value):
        raise ValueError("media is sent by a public http(s) link")
    return value


class StepMedia(_Model):
    """Media the step sends (by link); the step's `text` is its caption (<= 1024)."""

    kind: Literal["image", "document", "video"]
    url: Annotated[str, Field(max_length=2000), AfterValidator(_media_link)]
    filename: Annotated[str, _limit(240, "file name")] | None = None
    """Documents: the name the customer sees."""


class Step(_Model):
    text: Text | None = None
    footer: Annotated[str, _limit(FOOTER_MAX, "footer")] | None = None
    buttons: Annotated[builtins.list[Button], AfterValidator(_max_buttons)] | None = None
    list: ListMenu | None = None
    ask: Ask | None = None
    next: str | None = None
    action: Literal["handoff", "end"] | None = None
    on_text: Literal["llm", "repeat"] | None = None
    http: HTTPStep | None = None
    """Call the tenant's backend after sending `text`; continue on a branch of the result."""
    media: StepMedia | None = None
    """Send this image/document/video (the step's text as caption)."""
    accept: Annotated[builtins.list[MediaKind], Field(min_length=1)] | None = None
    """Customer media kinds this step takes: an `ask` slot gets the reference, then `on_media`."""
    on_media: str | None = None
    """Step entered when accepted media arrives (absent: `next`, else stay)."""

    @model_validator(mode="after")
    def _media_shape(self) -> Step:
        if self.media and (self.buttons or self.list):
            raise ValueError("'media' cannot be combined with buttons or list")
        if self.media and self.text and len(self.text) > CAPTION_MAX:
            raise ValueError(f"a media caption is {len(self.text)} characters; at most 1024")
        if self.on_media and not self.accept:
            raise ValueError("'on_media' needs 'accept' (the media kinds the step takes)")
        if self.accept and (self.buttons or self.list):
            raise ValueError("'accept' waits for media; it cannot be combined with a menu")
        if self.accept and len(set(self.accept)) != len(self.accept):
            raise ValueError("'accept' lists a media kind twice")
        return self

    @model_validator(mode="after")
    def _shape(self) -> Step:
        menus = [n for n in ("buttons", "list", "ask", "http") if getattr(self, n) is not None]
        if len(menus) > 1:
            raise ValueError(f"a step has at most one of buttons, list, ask, http (got {menus})")
        if menus and self.action:
            raise ValueError(f"'action' cannot be combined with {menus[0]}")
        if (self.buttons or self.list) and self.next:
            raise ValueError("a menu step waits for a choice; use goto on its options, not next")
        if self.http and self.next:
            raise ValueError("an http step continues on its branches (on_success ...), not next")
        if self.action and self.next:
            raise ValueError("'next' cannot follow an action")
        if (self.buttons or self.list) and not self.text:
            raise ValueError("a menu needs 'text' (WhatsApp requires a body)")
        if (self.buttons or self.list) and self.text and len(self.text) > INTERACTIVE_BODY_MAX:
            raise ValueError(f"menu text is {len(self.text)} characters; at most 1024")
        if not (self.text or menus or self.next or self.action or self.media or self.accept):
            raise ValueError("the step does nothing: give it text, a menu, ask, next or action")
        return self


class Intent(_Model):
    id: Name
    keywords: list[Keyword] = []
    """Matched as whole words, case-insensitively, anywhere in the message."""
    regex: list[Regex] = []
    """Searched case-insensitively anywhere in the message."""
    goto: str | None = None
    reply: Text | None = None
    action: Literal["handoff"] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Intent:
        if not (self.keywords or self.regex):
            raise ValueError("an intent needs keywords or regex")
        if not (self.goto or self.reply or self.action):
            raise ValueError("an intent needs goto, reply or action")
        return self


class Knowledge(_Model):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    text: Annotated[str, Field(min_length=1, max_length=8000)]


class LLMSpec(_Model):
    system_prompt: Annotated[str, Field(min_length=1, max_length=16000)]
    knowledge: list[Knowledge] = []
    history_messages: Annotated[int, Field(ge=0, le=50)] = 10
    """How many earlier messages of the conversation the engine sends along."""


class Fallback(_Model):
    message: Text = "Sorry, I can't answer that right now."
    offer_human: bool = True
    human_button: Annotated[str, _limit(BUTTON_TITLE_MAX, "button title")] = "Talk to a human"
    unmatched: Text = "Sorry, I didn't get that. Please choose one of the options."
    unsupported: Text = "Sorry, I can only read text messages and menu choices."
    media: dict[Literal[MediaKind, "default"], Text] | None = None
    """Reply to a customer's media the current step does not `accept`, by kind (`default`: any
    other kind); replaces `unsupported` for media. Captions still count as text."""


class Handoff(_Model):
    keywords: list[Keyword] = ["agent", "human", "representative", "talk to a person"]
    message: Text = "Connecting you to a member of our team. They will reply here shortly."


class OptOut(_Model):
    keywords: Annotated[list[Keyword], Field(min_length=1)] = [
        "STOP",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPT-OUT",
    ]
    """Whole-message matches (case-insensitive) opt the customer out."""
    opt_in_keywords: Annotated[list[Keyword], Field(min_length=1)] = ["START"]
    confirmation: Text = (
        "You have been unsubscribed and won't get more messages. Reply START to resume."
    )
    opt_in_confirmation: Text = "Welcome back! You will receive messages again."


class Csat(_Model):
    """Ask a satisfaction rating once a conversation is resolved (`engine.csat`)."""

    question: Text = "How would you rate the help you got today?"
    scale: Literal[3, 5] = 5
    """5: a list of five ratings (5 = best); 3: three reply buttons (Good / OK / Poor)."""
    button: Annotated[str, _limit(LIST_BUTTON_MAX, "list button label")] = "Rate us"
    """Label of the button that opens the rating list (scale 5)."""
    thanks: Text = "Thank you for your feedback!"
    after: Annotated[list[Literal["flow_end", "agent_resolved", "idle"]], Field(min_length=1)] = [
        "flow_end",
        "agent_resolved",
        "idle",
    ]
    """What counts as resolved: the flow reaching an ``action: end`` step, an agent handing
    back with ``resolved: true``, or the conversation idle for `idle_minutes`."""
    delay_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    """Wait this long after a flow end or a handback; a new customer message cancels the ask."""
    idle_minutes: Annotated[int, Field(ge=1, le=1380)] = 30
    cooldown_hours: Annotated[int, Field(ge=0, le=720)] = 24
    """At most one rating request per customer within this time."""


class BusinessHours(_Model):
    timezone: Annotated[str, AfterValidator(_timezone)]
    schedule: dict[
        Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        list[Annotated[str, AfterValidator(_window)]],
    ]
    holidays: list[Annotated[str, AfterValidator(_date)]] = []
    message: Text
    """Out-of-hours message."""
    applies_to: Literal["handoff", "all"] = "handoff"
    """`handoff`: the bot answers 24/7, only human handoff is hour-bound; `all`: out of hours
    the bot only sends `message` (once per `repeat_after_minutes`)."""
    closed_handoff: Literal["queue", "refuse"] = "queue"
    """Handoff requested out of hours: `queue` hands off anyway (agents answer when open),
    `refuse` keeps the customer with the bot."""
    repeat_after_minutes: Annotated[int, Field(ge=1, le=10080)] = 240


class Flow(_Model):
    version: Literal[1]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: str | None = None
    start: str
    greeting: Text | None = None
    steps: Annotated[dict[str, Step], Field(min_length=1)]
    intents: list[Intent] = []
    llm: LLMSpec | None = None
    fallback: Fallback = Fallback()
    handoff: Handoff = Handoff()
    opt_out: OptOut = OptOut()
    business_hours: BusinessHours | None = None
    csat: Csat | None = None
    """Satisfaction ratings after a resolution; off when absent."""
