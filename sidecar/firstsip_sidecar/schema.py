"""Validation of plugin settings against the JSON Schema subset plugins may use.

``settings.schema.json`` files are JSON Schema draft-07 restricted to the keywords in
:data:`KEYWORDS` (the .NET catalog validates with the same files). This module checks that a
schema keeps to the subset and validates values against it, reporting every failing path.
"""

from __future__ import annotations

import re
from typing import Any, List, Mapping, Tuple
from urllib.parse import urlparse

KEYWORDS = frozenset(
    {
        "$schema", "$id", "type", "properties", "required", "additionalProperties", "enum", "items",
        "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "pattern", "format",
        "default", "title", "description",
    }
)
_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def check_schema(schema: Any, path: str = "#") -> List[str]:
    """Lists what in a schema falls outside the supported subset (empty when it is fine)."""
    problems: List[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: a schema must be a JSON object"]
    for key, value in schema.items():
        if key not in KEYWORDS:
            problems.append(f"{path}: unsupported keyword {key!r}")
        elif key == "type":
            names = value if isinstance(value, list) else [value]
            if not all(name in _TYPES for name in names):
                problems.append(f"{path}: unknown type {value!r}")
        elif key == "format" and value != "uri":
            problems.append(f"{path}: unsupported format {value!r} (only 'uri')")
        elif key == "pattern":
            try:
                re.compile(value)
            except (re.error, TypeError):
                problems.append(f"{path}: invalid pattern {value!r}")
    for name, sub in (schema.get("properties") or {}).items():
        problems.extend(check_schema(sub, f"{path}/properties/{name}"))
    if isinstance(schema.get("items"), dict):
        problems.extend(check_schema(schema["items"], f"{path}/items"))
    if isinstance(schema.get("additionalProperties"), dict):
        problems.extend(check_schema(schema["additionalProperties"], f"{path}/additionalProperties"))
    return problems


def _type_matches(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    return False


def _is_uri(value: str) -> bool:
    parsed = urlparse(value)
    return bool(parsed.scheme) and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parsed.scheme) is not None


def validate(value: Any, schema: Mapping[str, Any], path: str = "$") -> List[Tuple[str, str]]:
    """Validates a value against a schema of the subset.

    :returns: ``(path, message)`` for every failure; empty when the value is valid. Paths look like
        ``$.topics[0]``.
    """
    errors: List[Tuple[str, str]] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_type_matches(value, name) for name in names):
            return [(path, f"must be of type {' or '.join(names)}")]
    if "enum" in schema and value not in schema["enum"]:
        errors.append((path, "must be one of " + ", ".join(repr(v) for v in schema["enum"])))

    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, f"must be at least {schema['minLength']} characters long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, f"must be at most {schema['maxLength']} characters long"))
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append((path, f"must match the pattern {schema['pattern']}"))
        if schema.get("format") == "uri" and not _is_uri(value):
            errors.append((path, "must be a URI"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, f"must be at most {schema['maximum']}"))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append((path, f"must have at least {schema['minItems']} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((path, f"must have at most {schema['maxItems']} items"))
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                errors.extend(validate(item, schema["items"], f"{path}[{index}]"))
    elif isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                errors.append((f"{path}.{name}", "is required"))
        additional = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors.extend(validate(item, properties[name], f"{path}.{name}"))
            elif additional is False:
                errors.append((f"{path}.{name}", "is not an allowed property"))
            elif isinstance(additional, dict):
                errors.extend(validate(item, additional, f"{path}.{name}"))
    return errors
