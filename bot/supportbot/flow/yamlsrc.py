"""YAML text -> plain Python data plus a path -> line index, so validation errors name the line.

PyYAML's composer keeps a start mark on every node; we build the data ourselves from the node
tree instead of using a constructor, which lets us:

- record the 1-based line of every mapping key and sequence item (``Located.line_of``);
- reject duplicate keys (PyYAML silently keeps the last one);
- resolve plain scalars with YAML 1.2 core rules: only ``true``/``false`` are booleans, only
  decimal numbers are numbers. YAML 1.1 would turn ``NO`` into ``False``, ``18:00`` into the
  sexagesimal integer 1080 and ``2026-01-26`` into a date, all of which break a flow file
  (an opt-out keyword ``no``, an opening time, a holiday).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathKey = str | int
Path = tuple[PathKey, ...]

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


class YamlSourceError(Exception):
    """The text is not YAML this loader accepts; ``line`` is 1-based (0 = unknown)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Located:
    """Parsed data and the line of each path (mapping keys and sequence items)."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """Line of `path`, or of its nearest recorded ancestor (a missing field's parent)."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def format_path(path: Path) -> str:
    """('steps', 'menu', 'buttons', 0, 'title') -> 'steps.menu.buttons[0].title'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _scalar(node: ScalarNode) -> Any:
    value = node.value
    if node.style or node.tag == "tag:yaml.org,2002:str":
        return value  # quoted, literal (|) or folded (>) scalars, or an explicit !!str
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


def _build(node: Node, path: Path, lines: dict[Path, int]) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(item, (*path, index), lines))
        return items
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlSourceError(line, "merge keys ('<<') are not supported")
            if not isinstance(key_node, ScalarNode):
                raise YamlSourceError(line, "mapping keys must be plain strings")
            key = key_node.value
            if key in result:
                first = lines.get((*path, key), 0)
                raise YamlSourceError(
                    line,
                    f"{format_path((*path, key))}: duplicate key (first defined on line {first})",
                )
            lines[(*path, key)] = line
            result[key] = _build(value_node, (*path, key), lines)
        return result
    raise YamlSourceError(node.start_mark.line + 1, f"unsupported YAML node {node.tag}")


def load(text: str) -> Located:
    """Parse one YAML document; raises YamlSourceError with the offending line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        reason = exc.problem or exc.context or "invalid YAML"
        raise YamlSourceError(line, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as exc:  # e.g. several documents in one file
        raise YamlSourceError(0, f"YAML error: {exc}") from None
    lines: dict[Path, int] = {(): 1}
    if node is None:
        return Located(None, lines)
    lines[()] = node.start_mark.line + 1
    return Located(_build(node, (), lines), lines)
