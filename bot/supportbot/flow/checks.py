"""Whole-file rules of a flow that a single field cannot check.

Each check yields ``(path, message)``; :mod:`supportbot.flow.validation` turns the path into a
line number. Checked: step names, every `goto`/`next`/`start`/`on_fail` target exists, ids are
unique where WhatsApp or routing needs it, `{{variable}}` references name a slot that some step
asks for (or a built-in), chains of `next` steps do not loop, `on_text: llm` has an `llm` section,
and HTTP steps: branch targets exist, variables name known slots (or slots an `extract` fills),
`{{secret:NAME}}` only in header values, plain http:// only to an allow-listed host, literal
IP hosts not blocked (`httppolicy`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from urllib.parse import urlsplit

from pydantic import JsonValue

from supportbot.flow import httppolicy
from supportbot.flow.schema import SECRET_REF, Flow, Step
from supportbot.flow.yamlsrc import Path

BUILTIN_VARIABLES = frozenset({"customer_name", "opens_at"})
"""`customer_name`: the WhatsApp profile name; `opens_at`: the next opening time (rendered in
`business_hours.message`, empty elsewhere)."""
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^}]*)?\}\}")
_STEP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Problem = tuple[Path, str]


def _targets(flow: Flow) -> Iterator[tuple[Path, str]]:
    yield ("start",), flow.start
    for name, step in flow.steps.items():
        base: Path = ("steps", name)
        if step.next:
            yield (*base, "next"), step.next
        if step.on_media:
            yield (*base, "on_media"), step.on_media
        if step.ask and step.ask.on_fail:
            yield (*base, "ask", "on_fail"), step.ask.on_fail
        if step.http:
            for branch in ("on_success", "on_not_found", "on_error", "on_timeout"):
                target = getattr(step.http, branch)
                if target:
                    yield (*base, "http", branch), target
        for i, button in enumerate(step.buttons or []):
            if button.goto:
                yield (*base, "buttons", i, "goto"), button.goto
        for s, section in enumerate(step.list.sections if step.list else []):
            for r, row in enumerate(section.rows):
                if row.goto:
                    yield (*base, "list", "sections", s, "rows", r, "goto"), row.goto
    for i, intent in enumerate(flow.intents):
        if intent.goto:
            yield ("intents", i, "goto"), intent.goto


def _option_problems(name: str, step: Step) -> Iterator[Problem]:
    base: Path = ("steps", name)
    seen: dict[str, Path] = {}
    options: list[tuple[Path, str, str | None, str | None]] = [
        ((*base, "buttons", i), b.id, b.goto, b.action) for i, b in enumerate(step.buttons or [])
    ]
    for s, section in enumerate(step.list.sections if step.list else []):
        options += [
            ((*base, "list", "sections", s, "rows", r), row.id, row.goto, row.action)
            for r, row in enumerate(section.rows)
        ]
    titles: set[str] = set()
    for path, option_id, goto, action in options:
        if option_id in seen:
            yield (*path, "id"), f"duplicate id {option_id!r} in this menu"
        seen[option_id] = path
        if bool(goto) == bool(action):
            yield path, "an option needs exactly one of goto or action"
    for i, button in enumerate(step.buttons or []):
        if button.title in titles:
            yield (*base, "buttons", i, "title"), "button titles must be unique (WhatsApp rule)"
        titles.add(button.title)


def _texts(flow: Flow) -> Iterator[tuple[Path, str]]:
    if flow.greeting:
        yield ("greeting",), flow.greeting
    for name, step in flow.steps.items():
        if step.text:
            yield ("steps", name, "text"), step.text
        if step.ask and step.ask.invalid:
            yield ("steps", name, "ask", "invalid"), step.ask.invalid
        if step.http:
            yield ("steps", name, "http", "url"), step.http.url
            for header, value in step.http.headers.items():
                yield ("steps", name, "http", "headers", header), value
            if step.http.body is not None:
                yield from _body_texts(("steps", name, "http", "body"), step.http.body)
    for i, intent in enumerate(flow.intents):
        if intent.reply:
            yield ("intents", i, "reply"), intent.reply
    if flow.llm:
        yield ("llm", "system_prompt"), flow.llm.system_prompt
    yield ("handoff", "message"), flow.handoff.message
    yield ("fallback", "message"), flow.fallback.message
    for kind, reply in (flow.fallback.media or {}).items():
        yield ("fallback", "media", kind), reply


def _body_texts(path: Path, value: JsonValue) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _body_texts((*path, key), item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _body_texts((*path, i), item)


def _answers(flow: Flow, name: str) -> bool:
    """Does entering step `name` send the customer something (itself or down its `next`s)?"""
    for _ in range(len(flow.steps) + 1):
        step = flow.steps.get(name)
        if step is None:
            return True  # reported as an unknown step elsewhere
        if step.text or step.buttons or step.list or step.http or step.action == "handoff":
            return True
        if not step.next or step.ask:
            return False
        name = step.next
    return False


def _http_problems(
    flow: Flow, name: str, step: Step, allow_hosts: Collection[str] | None
) -> Iterator[Problem]:
    assert step.http is not None
    base: Path = ("steps", name, "http")
    for branch in ("on_success", "on_not_found", "on_error", "on_timeout"):
        target = getattr(step.http, branch)
        if target and not _answers(flow, target):
            yield (
                (*base, branch),
                (
                    f"step {target!r} sends nothing: the customer would get no answer "
                    "(give it text, or leave the branch out to send the fallback message)"
                ),
            )
    if step.http.body is not None:
        for path, text in _body_texts((*base, "body"), step.http.body):
            if SECRET_REF.search(text):
                yield path, "secrets ({{secret:...}}) may only appear in header values"
    if allow_hosts is None:
        return  # the allow-list is not known here (checked again before every call)
    parts = urlsplit(VARIABLE.sub("x", step.http.url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    problem = httppolicy.url_problem(parts.scheme, parts.hostname or "", port, allow_hosts)
    if problem:
        yield (*base, "url"), problem


def _next_cycles(flow: Flow) -> Iterator[Problem]:
    for start in flow.steps:
        seen = [start]
        step = flow.steps[start]
        while step.next and step.next in flow.steps and not (step.ask or step.action):
            if step.next == start:
                chain = " -> ".join([*seen, start])
                yield ("steps", start, "next"), f"steps loop through 'next' forever: {chain}"
                break
            if step.next in seen:
                break
            seen.append(step.next)
            step = flow.steps[step.next]


def known_slots(flow: Flow) -> set[str]:
    """Slots a `{{variable}}` may name: asked by a step, filled by an HTTP step's `extract`,
    or built in."""
    slots = {s.ask.slot for s in flow.steps.values() if s.ask} | set(BUILTIN_VARIABLES)
    for step in flow.steps.values():
        if step.http:
            slots |= set(step.http.extract)
    return slots


def check_flow(flow: Flow, http_allow_hosts: Collection[str] | None = None) -> list[Problem]:
    """All whole-file problems of a flow whose fields are individually valid. With
    `http_allow_hosts` (the bot's `SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS`) the URLs of HTTP steps are
    checked against it too; None skips that part (the caller does not know the list)."""
    problems: list[Problem] = []
    for name in flow.steps:
        if not _STEP_NAME.match(name):
            problems.append((("steps", name), "step names use letters, digits, '_' and '-'"))
    for path, target in _targets(flow):
        if target not in flow.steps:
            known = ", ".join(sorted(flow.steps)[:10])
            problems.append((path, f"unknown step {target!r} (steps: {known})"))
    for name, step in flow.steps.items():
        problems.extend(_option_problems(name, step))
        if step.on_text == "llm" and flow.llm is None:
            problems.append((("steps", name, "on_text"), "on_text: llm needs an 'llm' section"))
        if step.http:
            problems.extend(_http_problems(flow, name, step, http_allow_hosts))
    ids: set[str] = set()
    for i, intent in enumerate(flow.intents):
        if intent.id in ids:
            problems.append((("intents", i, "id"), f"duplicate intent id {intent.id!r}"))
        ids.add(intent.id)
    slots = known_slots(flow)
    for path, text in _texts(flow):
        for var in VARIABLE.findall(text):
            if var not in slots:
                problems.append((path, f"unknown variable {{{{{var}}}}} (known: {sorted(slots)})"))
    problems.extend(_next_cycles(flow))
    return problems
