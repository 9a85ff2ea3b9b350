"""Flow text -> a validated `Flow`, or a list of errors that each name a line and a field.

This is the one entry point for parsing flows: the CLI (`supportbot flow validate`), the
operator (before rolling out a ConfigMap) and the hot-reloading `FlowStore` all call it.
Error lines look like ``line 12: steps.menu.buttons[0].title: button title is 23 characters;
WhatsApp allows at most 20``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from supportbot.flow import checks, yamlsrc
from supportbot.flow.schema import Flow
from supportbot.flow.yamlsrc import Located, Path

SUPPORTED_VERSIONS = (1,)


class FlowError(Exception):
    """A flow file is invalid; `errors` holds one 'line N: field: problem' string each."""

    def __init__(self, errors: list[str], source: str = "flow") -> None:
        super().__init__(f"{source}: {len(errors)} error(s)\n  " + "\n  ".join(errors))
        self.errors = errors
        self.source = source


@dataclass(frozen=True)
class LoadedFlow:
    """A valid flow and the sha256 of the text it came from (reported as a metric label)."""

    flow: Flow
    sha256: str


def _clean(loc: tuple[int | str, ...]) -> Path:
    # pydantic adds pseudo-segments for dict keys, unions and function validators.
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("[", "function-"))))


def _message(err: Any) -> str:
    kind = err.get("type", "")
    loc = err.get("loc") or ()
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _line(src: Located, path: Path) -> str:
    return f"line {src.line_of(path)}: {yamlsrc.format_path(path)}: "


def _version_problem(src: Located) -> str | None:
    data = src.data
    if not isinstance(data, dict):
        return "line 1: the flow must be a YAML mapping (see SCHEMA.md)"
    version = data.get("version")
    if version is None:
        return "line 1: version: required field is missing (this bot reads 'version: 1')"
    if version not in SUPPORTED_VERSIONS:
        return f"{_line(src, ('version',))}unsupported version {version!r}; supported: 1"
    return None


def parse_flow_text(text: str, http_allow_hosts: Collection[str] | None = None) -> LoadedFlow:
    """Validate `text`; raises FlowError listing every problem found. `http_allow_hosts`: the
    hosts HTTP steps may reach over plain http or at private addresses (None: not checked)."""
    try:
        src = yamlsrc.load(text)
    except yamlsrc.YamlSourceError as exc:
        raise FlowError([str(exc)]) from None
    problem = _version_problem(src)
    if problem:
        raise FlowError([problem])
    try:
        flow = Flow.model_validate(src.data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            path = _clean(tuple(err.get("loc") or ()))
            errors.append(_line(src, path) + _message(err))
        raise FlowError(sorted(set(errors), key=_sort_key)) from None
    problems = checks.check_flow(flow, http_allow_hosts)
    if problems:
        errors = [_line(src, path) + message for path, message in problems]
        raise FlowError(sorted(set(errors), key=_sort_key))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedFlow(flow=flow, sha256=digest)


def _sort_key(error: str) -> tuple[int, str]:
    head = error.split(":", 1)[0].removeprefix("line ")
    return (int(head) if head.isdigit() else 0, error)


def load_flow_text(text: str, http_allow_hosts: Collection[str] | None = None) -> Flow:
    """The validated flow in `text`; raises FlowError."""
    return parse_flow_text(text, http_allow_hosts).flow


def validate_flow_text(text: str, http_allow_hosts: Collection[str] | None = None) -> list[str]:
    """Problems in `text` (empty list = valid). Each message starts with 'line N: '."""
    try:
        parse_flow_text(text, http_allow_hosts)
    except FlowError as exc:
        return list(exc.errors)
    return []
