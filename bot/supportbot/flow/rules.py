"""The flow decision function: ``decide(flow, state, messages, now) -> Decision``. Pure.

No I/O, no clock, no randomness: the same inputs always give the same decision, so every rule is
unit-testable. Each customer message of the turn is handled in order, by the first rule that
applies:

1. opt-out keyword (whole message, e.g. STOP) -> confirm, then silence until an opt-in keyword;
   (a tapped CSAT rating, ``sb:csat:{survey}:{rating}`` -> `CsatAnswered` and the thanks;
   silent while a human owns the conversation);
2. conversation handed to a human -> silence (the engine still stores the messages);
3. business hours with ``applies_to: all`` and closed -> out-of-hours message (not repeated
   within ``repeat_after_minutes``);
4. first contact -> greeting (then rules 5-8; unmatched text shows the start step);
5. a tapped reply button / list row -> its ``goto`` step or ``action``;
   media of a kind the current step ``accept``s -> its reference fills the step's ``ask`` slot,
   then ``on_media`` (or ``next``);
6. a handoff keyword (whole words, e.g. "agent") -> handoff;
7. the answer to a pending ``ask`` -> validated against its regex and stored in the slot;
8. an intent (keywords as whole words, or regex) -> its reply / goto / action;
9. media the step does not take: without a caption (location and contacts always, when
   ``fallback.media`` names them) -> ``fallback.media[kind]`` / ``[default]`` / ``unsupported``;
10. other text (a caption included) -> the LLM (``on_text: llm``) or the 'unmatched' message and
    the menu again.

Free text of several messages in one turn becomes a single `LLMRequest` effect; a caption reaches
the LLM marked with its kind (``[image] the caption``).

Entering an HTTP step sends its text and ends the decision with an `HTTPCall` effect (messages
of the turn not handled yet wait in `Decision.pending`). The engine performs the call and calls
``continue_after_http(flow, state, call, result, pending, now)``: on success the `extract`
paths fill slots, then the matching branch step (`on_success`, `on_not_found`, `on_error`,
`on_timeout`) is entered; without one the customer gets the flow's fallback message (with the
'talk to a human' button when enabled), never silence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from supportbot.flow import render
from supportbot.flow.hours import is_open, opens_at_text
from supportbot.flow.schema import BusinessHours, Flow, Intent, Step
from supportbot.flow.state import (
    HUMAN_OFFER_ID,
    CsatAnswered,
    Decision,
    Effect,
    HandoffReason,
    HandoffRequested,
    HTTPCall,
    HTTPResult,
    LLMRequest,
    OptOutChanged,
    Outcome,
    Resolved,
    SessionState,
    parse_csat_reply,
)
from supportbot.messages import MEDIA_KINDS, InboundMessage, MessageKind, OutboundMessage

MAX_SLOT_CHARS = 500
_SHARED_KINDS = frozenset({MessageKind.LOCATION, MessageKind.CONTACTS})
"""Kinds whose `text` is a label the parser made (a place name, a contact's name), not typed."""


def media_reference(msg: InboundMessage) -> str:
    """What an accepted media message stores in a slot: the URL (else ``media:<Meta id>``), a
    location's ``latitude,longitude``, or the shared contact's name."""
    if msg.kind is MessageKind.LOCATION:
        lat, lng = msg.extra.get("latitude"), msg.extra.get("longitude")
        return f"{lat},{lng}"
    if msg.kind in MEDIA_KINDS:
        return msg.media_url or (f"media:{msg.media_id}" if msg.media_id else "")
    return (msg.text or "").strip()


_AUTO_STEPS_MAX = 50
_PUNCT = re.compile(r"[\s.!?,;:'\"]+")


def normalise(text: str) -> str:
    """Case-folded text without surrounding punctuation: ' Stop! ' -> 'stop'."""
    return _PUNCT.sub(" ", text.casefold()).strip()


def _has_words(text: str, phrase: str) -> bool:
    pattern = r"(?<!\w)" + re.escape(normalise(phrase)) + r"(?!\w)"
    return re.search(pattern, normalise(text)) is not None


def match_intent(flow: Flow, text: str) -> Intent | None:
    """The first intent (in file order) whose keyword or regex matches `text`."""
    for intent in flow.intents:
        if any(_has_words(text, k) for k in intent.keywords):
            return intent
        if any(re.search(r, text, re.IGNORECASE) for r in intent.regex):
            return intent
    return None


class _Turn:
    def __init__(self, flow: Flow, state: SessionState, now: datetime) -> None:
        self.flow = flow
        self.st = state
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.out: list[OutboundMessage] = []
        self.effects: list[Effect] = []
        self.llm_texts: list[str] = []
        self.llm_at: int | None = None
        self.outcome: Outcome = "menu"
        self.http: HTTPCall | None = None

    # --- actions ------------------------------------------------------------------------
    def send(self, text: str) -> None:
        self.out.append(render.text_message(render.interpolate(text, self.st.slots)))

    def send_closed(self, hours: BusinessHours) -> None:
        """The out-of-hours message; `{{opens_at}}` in it is the next opening time."""
        slots = {**self.st.slots, "opens_at": opens_at_text(hours, self.now)}
        self.out.append(render.text_message(render.interpolate(hours.message, slots)))

    def closed(self) -> bool:
        hours = self.flow.business_hours
        return hours is not None and not is_open(hours, self.now)

    def handoff(self, reason: HandoffReason, message: str | None = None) -> None:
        hours = self.flow.business_hours
        self.llm_texts.clear()
        if hours is not None and self.closed():
            self.send_closed(hours)
            if hours.closed_handoff == "refuse":
                self.outcome = "out_of_hours"
                return
        elif message is None:
            self.send(self.flow.handoff.message)
        elif message:
            self.send(message)
        self.st.handed_off = True
        self.st.step = self.st.awaiting_slot = None
        self.st.attempts = 0
        self.effects.append(HandoffRequested(reason=reason, out_of_hours=self.closed()))
        self.outcome = "handoff"

    def enter(self, name: str) -> None:
        for _ in range(_AUTO_STEPS_MAX):
            step = self.flow.steps[name]
            self.st.step, self.st.awaiting_slot, self.st.attempts = name, None, 0
            self.out += render.render_step(step, self.st.slots)
            if step.ask:
                self.st.awaiting_slot = step.ask.slot
            elif step.http:
                self.http = render.render_http_call(name, step.http, self.st.slots)
                self.effects.append(self.http)
            elif step.action == "handoff":
                self.handoff("step", message="" if step.text else None)
            elif step.action == "end":
                self.st.step = None
                if not any(isinstance(e, Resolved) for e in self.effects):
                    self.effects.append(Resolved())
            elif step.next and not (step.buttons or step.list):
                name = step.next
                continue
            return

    def apply_intent(self, intent: Intent) -> None:
        self.st.awaiting_slot, self.st.attempts = None, 0
        self.outcome = "intent"
        if intent.reply:
            self.send(intent.reply)
        if intent.action == "handoff":
            self.handoff("intent")
        elif intent.goto:
            self.enter(intent.goto)

    # --- rules --------------------------------------------------------------------------
    def option(self, reply_id: str) -> tuple[str | None, str | None] | None:
        """(goto, action) of the menu option `reply_id`: current step first, then any step."""
        steps = list(self.flow.steps.items())
        steps.sort(key=lambda item: item[0] != self.st.step)
        for _, step in steps:
            for b in step.buttons or []:
                if b.id == reply_id:
                    return b.goto, b.action
            for section in step.list.sections if step.list else []:
                for row in section.rows:
                    if row.id == reply_id:
                        return row.goto, row.action
        return None

    def rate(self, survey_id: int, rating: int) -> None:
        """A tapped CSAT rating: recorded (the engine checks it belongs to an asked survey);
        thanked unless an agent owns the conversation. Never touches the flow's position."""
        self.effects.append(CsatAnswered(survey_id=survey_id, rating=rating))
        self.outcome = "csat"
        if self.flow.csat is not None and not self.st.handed_off:
            self.send(self.flow.csat.thanks)

    def answer(self, text: str) -> None:
        assert self.st.step is not None
        step = self.flow.steps[self.st.step]
        assert step.ask is not None
        ask, value = step.ask, text.strip()[:MAX_SLOT_CHARS]
        if ask.pattern is None or re.fullmatch(ask.pattern, value, re.IGNORECASE):
            self.st.slots[ask.slot] = value
            self.st.awaiting_slot, self.st.attempts = None, 0
            self.outcome = "slot"
            if step.next:
                self.enter(step.next)
            return
        intent = match_intent(self.flow, text)
        if intent:
            self.apply_intent(intent)
            return
        self.st.attempts += 1
        self.outcome = "slot"
        if self.st.attempts >= ask.max_attempts:
            self.st.awaiting_slot, self.st.attempts = None, 0
            if ask.on_fail:
                self.enter(ask.on_fail)
            else:
                self.handoff("ask_failed")
            return
        self.send(ask.invalid or "That doesn't look right. Please try again.")

    def free_text(self, text: str) -> None:
        step: Step | None = self.flow.steps.get(self.st.step) if self.st.step else None
        on_text = (step.on_text if step else None) or ("llm" if self.flow.llm else "repeat")
        if on_text == "llm" and self.flow.llm is not None:
            if not self.llm_texts:
                self.llm_at = len(self.out)
            self.llm_texts.append(text)
            self.outcome = "llm"
            return
        self.send(self.flow.fallback.unmatched)
        menu = self.st.step if self.st.step and step and (step.buttons or step.list) else None
        self.enter(menu or self.flow.start)
        self.outcome = "unmatched"

    def accepts(self, msg: InboundMessage) -> Step | None:
        """The current step, when it takes this message's kind."""
        step = self.flow.steps.get(self.st.step) if self.st.step else None
        if step is None or not step.accept or msg.kind.value not in step.accept:
            return None
        return step

    def take_media(self, step: Step, msg: InboundMessage) -> None:
        if step.ask:
            self.st.slots[step.ask.slot] = media_reference(msg)[:MAX_SLOT_CHARS]
        self.st.awaiting_slot, self.st.attempts = None, 0
        self.outcome = "media"
        target = step.on_media or step.next
        if target:
            self.enter(target)

    def media_fallback(self, msg: InboundMessage, text: str) -> str | None:
        """The reply to a message the step cannot take, or None: handle `text` as text.

        Media without a caption, and a location or contacts card whatever its label, get
        ``fallback.media[kind]`` (or ``[default]``) when the flow sets one; other messages
        without text get ``fallback.unsupported``."""
        shared = msg.kind in _SHARED_KINDS
        if self.flow.fallback.media and (msg.kind in MEDIA_KINDS or shared):
            replies = {str(k): v for k, v in self.flow.fallback.media.items()}
            reply = replies.get(msg.kind.value) or replies.get("default")
            if reply and (shared or not text):
                return reply
        return None if text else self.flow.fallback.unsupported

    def handle(self, msg: InboundMessage) -> None:
        flow, st = self.flow, self.st
        text = (msg.text or "").strip()
        reply_id = (
            msg.reply_id if msg.kind in (MessageKind.INTERACTIVE, MessageKind.BUTTON) else None
        )
        option = self.option(reply_id) if reply_id else None
        norm = normalise(text)
        if msg.customer_name and not st.slots.get("customer_name"):
            st.slots["customer_name"] = msg.customer_name.strip()[:100]
        if option is None and norm and norm in {normalise(k) for k in flow.opt_out.keywords}:
            self.out.clear()
            self.llm_texts.clear()
            self.outcome = "opt_out" if not st.opted_out else "silent_opted_out"
            if not st.opted_out:
                st.opted_out = True
                self.effects.append(OptOutChanged(opted_out=True))
                self.send(flow.opt_out.confirmation)
            return
        if st.opted_out:
            self.outcome = "silent_opted_out"
            if option is None and norm in {normalise(k) for k in flow.opt_out.opt_in_keywords}:
                st.opted_out = False
                self.effects.append(OptOutChanged(opted_out=False))
                self.send(flow.opt_out.opt_in_confirmation)
                self.outcome = "opt_in"
            return
        if reply_id and (rated := parse_csat_reply(reply_id)) is not None:
            self.rate(*rated)
            return
        if st.handed_off:
            self.outcome = "silent_handed_off"
            return
        hours = flow.business_hours
        if hours is not None and hours.applies_to == "all" and self.closed():
            stamp, last = self.now.timestamp(), st.out_of_hours_notified_at
            if last is None or stamp - last >= hours.repeat_after_minutes * 60:
                self.send_closed(hours)
                st.out_of_hours_notified_at = stamp
            self.outcome = "out_of_hours"
            return
        first = not st.greeted
        if first:
            st.greeted = True
            if flow.greeting:
                self.send(flow.greeting)
            self.outcome = "greeting"
        if st.step is not None and st.step not in flow.steps:  # the flow changed under us
            st.step, st.awaiting_slot = None, None
        self.route(text, reply_id, option, first, msg)

    def route(
        self,
        text: str,
        reply_id: str | None,
        option: tuple[str | None, str | None] | None,
        first: bool,
        msg: InboundMessage,
    ) -> None:
        taking = self.accepts(msg) if option is None else None
        if reply_id == HUMAN_OFFER_ID:
            self.handoff("fallback_offer")
        elif option is not None:
            goto, action = option
            self.outcome = "menu"
            if action == "handoff" or goto is None:
                self.handoff("button")
            else:
                self.enter(goto)
        elif taking is not None:
            self.take_media(taking, msg)
        elif text and any(_has_words(text, k) for k in self.flow.handoff.keywords):
            self.handoff("keyword")
        elif text and self.st.awaiting_slot and self.st.step:
            self.answer(text)
        elif text and (intent := match_intent(self.flow, text)):
            self.apply_intent(intent)
        elif first:
            self.enter(self.flow.start)
        elif (reply := self.media_fallback(msg, text)) is not None:
            self.send(reply)
            self.outcome = "unsupported"
        elif msg.kind in MEDIA_KINDS:
            self.free_text(f"[{msg.kind.value}] {text}")
        else:
            self.free_text(text)

    def after_http(self, call: HTTPCall, result: HTTPResult) -> None:
        step = self.flow.steps.get(call.step)
        http = step.http if step else None
        self.outcome = "http"
        target = None
        if http is not None:
            if result.outcome == "success":
                for slot, path in http.extract.items():
                    value = render.extract(result.data, path)
                    if value is None:
                        self.st.slots.pop(slot, None)
                    else:
                        self.st.slots[slot] = value[:MAX_SLOT_CHARS]
            target = {
                "success": http.on_success,
                "not_found": http.on_not_found,
                "error": http.on_error,
                "timeout": http.on_timeout,
            }[result.outcome]
        if target and target in self.flow.steps:
            self.enter(target)
        else:
            self.give_up()

    def give_up(self) -> None:
        """The flow's fallback message (+ human button) and back to rest: never silence."""
        self.out += render.render_llm_failure(self.flow, self.st)
        self.st.step = self.st.awaiting_slot = None
        self.st.attempts = 0
        self.outcome = "http_fallback"

    def run(self, messages: Sequence[InboundMessage]) -> tuple[InboundMessage, ...]:
        """Handle `messages` in order until one starts an HTTP call; the rest is pending."""
        for i, message in enumerate(messages):
            if self.http is not None:
                return tuple(messages[i:])
            self.handle(message)
        return ()

    def finish(self, pending: tuple[InboundMessage, ...] = ()) -> Decision:
        st = self.st
        if self.llm_texts and self.flow.llm and not (st.handed_off or st.opted_out):
            self.effects.append(
                LLMRequest(
                    system_prompt=render.system_prompt(self.flow, st.slots),
                    user_text="\n".join(self.llm_texts),
                    history_messages=self.flow.llm.history_messages,
                    step=st.step,
                )
            )
        llm_at = self.llm_at if any(isinstance(e, LLMRequest) for e in self.effects) else None
        return Decision(tuple(self.out), st, tuple(self.effects), self.outcome, llm_at, pending)


def decide(
    flow: Flow,
    state: SessionState | None,
    messages: Sequence[InboundMessage],
    now: datetime,
) -> Decision:
    """Decide what to send for one turn. `state` None = a new conversation. Never raises on
    customer input; the returned state is a fresh object (the argument is not modified)."""
    turn = _Turn(flow, state.copy() if state else SessionState(), now)
    return turn.finish(turn.run(messages))


def continue_after_http(
    flow: Flow,
    state: SessionState,
    call: HTTPCall,
    result: HTTPResult,
    pending: Sequence[InboundMessage],
    now: datetime,
) -> Decision:
    """Continue a turn after its `HTTPCall`: extract slots on success, enter the branch of
    `result.outcome` (absent: the fallback message), then handle the `pending` messages.
    The returned decision may start another call."""
    turn = _Turn(flow, state.copy(), now)
    turn.after_http(call, result)
    return turn.finish(turn.run(pending))


def abandon_http(
    flow: Flow, state: SessionState, pending: Sequence[InboundMessage], now: datetime
) -> Decision:
    """The engine's way out of a chain of calls that is too long: the fallback message, the
    conversation back at rest, then the pending messages (whose own calls are not made)."""
    turn = _Turn(flow, state.copy(), now)
    turn.give_up()
    for message in pending:
        if turn.http is None:
            turn.handle(message)
    if turn.http is not None:
        turn.effects.remove(turn.http)
        turn.http = None
        turn.give_up()
    return turn.finish()
