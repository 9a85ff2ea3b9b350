"""Whole-file rules of a flow that a single field cannot check.

Each check yields ``(path, message)``; :mod:`supportbot.flow.validation` turns the path into a
line number. Checked: step names, every `goto`/`next`/`start`/`on_fail` target exists, ids are
unique where WhatsApp or routing needs it, `{{variable}}` references name a slot that some step
asks for (or a built-in), chains of `next` steps do not loop, `on_text: llm` has an `llm` section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from supportbot.flow.schema import Flow, Step
from supportbot.flow.yamlsrc import Path

BUILTIN_VARIABLES = frozenset({"customer_name"})
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
    for i, intent in enumerate(flow.intents):
        if intent.reply:
            yield ("intents", i, "reply"), intent.reply
    if flow.llm:
        yield ("llm", "system_prompt"), flow.llm.system_prompt
    yield ("handoff", "message"), flow.handoff.message
    yield ("fallback", "message"), flow.fallback.message
    for kind, reply in (flow.fallback.media or {}).items():
        yield ("fallback", "media", kind), reply


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


def check_flow(flow: Flow) -> list[Problem]:
    """All whole-file problems of a flow whose fields are individually valid."""
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
    ids: set[str] = set()
    for i, intent in enumerate(flow.intents):
        if intent.id in ids:
            problems.append((("intents", i, "id"), f"duplicate intent id {intent.id!r}"))
        ids.add(intent.id)
    slots = {s.ask.slot for s in flow.steps.values() if s.ask} | BUILTIN_VARIABLES
    for path, text in _texts(flow):
        for var in VARIABLE.findall(text):
            if var not in slots:
                problems.append((path, f"unknown variable {{{{{var}}}}} (known: {sorted(slots)})"))
    problems.extend(_next_cycles(flow))
    return problems
