"""Validate and default objects against a CRD's structural OpenAPI v3 schema, in pure Python.

Covers what the CRD uses: type (incl. int-or-string), properties / additionalProperties,
required, enum, pattern, min/max, min/maxLength, min/maxItems, default, preserve-unknown-fields.
Unknown fields are reported (the API server would silently prune them, hiding typos). CEL rules
(`x-kubernetes-validations`) are not evaluated here; the cluster tests cover them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

Schema = dict[str, Any]


def _type_ok(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    kind = schema.get("type")
    checks: dict[str, Any] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }
    return kind is None or bool(checks[kind](value))


def validate(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Every violation as 'path: problem'; [] when `value` conforms."""
    where = path or "<root>"
    if not _type_ok(value, schema):
        return [
            f"{where}: expected {schema.get('type', 'int-or-string')}, got {type(value).__name__}"
        ]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > maximum {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            errors.extend(validate(item, schema.get("items", {}), f"{path}[{i}]"))
    if isinstance(value, dict):
        errors.extend(_validate_object(value, schema, path))
    return errors


def _validate_object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    errors: list[str] = []
    props: dict[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{path + '.' if path else ''}{name}: required")
    for key, item in value.items():
        sub = f"{path}.{key}" if path else key
        if key in props:
            errors.extend(validate(item, props[key], sub))
        elif isinstance(extra, dict):
            errors.extend(validate(item, extra, sub))
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and (props or extra is False):
            errors.append(f"{sub}: unknown field (the API server would prune it)")
    return errors


def apply_defaults(value: Any, schema: Schema) -> Any:
    """A copy of `value` with structural defaults filled in, as the API server does."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in schema.get("properties", {}):
                    value[key] = apply_defaults(value[key], extra)
    elif isinstance(value, list) and "items" in schema:
        value = [apply_defaults(item, schema["items"]) for item in value]
    return value


def structural_problems(schema: Schema, path: str = "") -> list[str]:
    """Violations of the structural-schema rules that matter for pruning and defaulting."""
    where = path or "<root>"
    out: list[str] = []
    untyped = "type" not in schema and not schema.get("x-kubernetes-int-or-string")
    if untyped and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append(f"{where}: no type")
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" in schema
    ):
        out.append(f"{where}: both properties and additionalProperties")
    if "default" in schema:
        out.extend(f"{where}: default invalid: {e}" for e in validate(schema["default"], schema))
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            out.append(f"{where}: required {name!r} has no schema")
    for key, sub in schema.get("properties", {}).items():
        out.extend(structural_problems(sub, f"{path}.{key}" if path else key))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out.extend(structural_problems(schema[key], f"{path}[{key}]"))
    return out
