"""Validation of plugin settings with Debian's ``python3-jsonschema``, with the .NET catalog's semantics.

``settings.schema.json`` is read as JSON Schema draft-07 whatever its ``$schema`` says (the .NET
catalog's NJsonSchema does the same), and validated here with :class:`jsonschema.Draft7Validator`.
Where the two libraries differ, this module follows the .NET side, so a run that starts in the
application is never refused by a worker:

- an integer is a JSON integer (``3.0`` is a number, not an integer);
- formats are checked as NJsonSchema checks them (``email``, ``hostname``, ``ipv4``, ``ipv6``,
  ``uri``, ``date-time``, ``date``, ``time``, ``uuid``, ``guid``, ``byte``, ``base64``); other
  formats are not checked;
- keywords NJsonSchema does not enforce (:data:`UNENFORCED_KEYWORDS`) make the schema invalid on
  both sides, instead of being enforced on one side only;
- every failure is reported with the same path (``topics[1]``, ``delivery.channel``; empty for the
  settings object) and the same message as the .NET catalog gives.

``tests/vectors/settings.json`` holds the cases both test suites check.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import uuid
from typing import Any, Iterable, List, Mapping, Set, Tuple

import jsonschema
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

UNENFORCED_KEYWORDS = frozenset(
    {
        "const", "contains", "dependencies", "dependentRequired", "dependentSchemas", "if", "then", "else",
        "propertyNames", "prefixItems", "unevaluatedItems", "unevaluatedProperties", "minContains", "maxContains",
    }
)
"""Keywords the .NET catalog's validator does not enforce: a schema using them is invalid on both sides."""

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_SINGLE = ("items", "additionalProperties", "additionalItems", "not")

_EMAIL = re.compile(
    r"^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)$",
    re.IGNORECASE,
)
_HOSTNAME = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
)
_IPV4 = re.compile(r"^((25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)$")
_BASE64 = re.compile(r"^[a-zA-Z0-9\+/]*={0,3}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?$")

_FORMATS = FormatChecker(formats=())


def _format(name: str):
    def register(function):
        _FORMATS.checks(name)(lambda value: not isinstance(value, str) or function(value))
        return function

    return register


@_format("email")
def _is_email(value: str) -> bool:
    return _EMAIL.match(value) is not None


@_format("hostname")
def _is_hostname(value: str) -> bool:
    return _HOSTNAME.match(value) is not None


@_format("ipv4")
def _is_ipv4(value: str) -> bool:
    return _IPV4.match(value) is not None


@_format("ipv6")
def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
        return True
    except ValueError:
        return False


@_format("uri")
def _is_uri(value: str) -> bool:
    # An absolute URI; like .NET on Linux, an absolute path counts as a file URI.
    return _SCHEME.match(value) is not None or (value.startswith("/") and not value.startswith("//") and " " not in value)


@_format("date-time")
def _is_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True
    except ValueError:
        return False


@_format("date")
def _is_date(value: str) -> bool:
    if _DATE.match(value) is None:
        return False
    try:
        datetime.date.fromisoformat(value)
        return True
    except ValueError:
        return False


@_format("time")
def _is_time(value: str) -> bool:
    return _TIME.match(value) is not None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


_format("uuid")(_is_uuid)
_format("guid")(_is_uuid)
_format("byte")(lambda value: _BASE64.match(value) is not None)
_format("base64")(lambda value: _BASE64.match(value) is not None)


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    Draft7Validator, type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


def _subschemas(schema: Mapping[str, Any], path: str) -> Iterable[Tuple[Any, str]]:
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield sub, f"{path}/{key}/{name}"
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for index, sub in enumerate(schema[key]):
                yield sub, f"{path}/{key}/{index}"
    for key in _SUBSCHEMA_SINGLE:
        value = schema.get(key)
        if isinstance(value, dict):
            yield value, f"{path}/{key}"
        elif key == "items" and isinstance(value, list):
            for index, sub in enumerate(value):
                yield sub, f"{path}/items/{index}"


def check_schema(schema: Any, path: str = "#") -> List[str]:
    """Lists what makes a settings schema unusable (empty when it is fine).

    A schema is unusable when it is not a valid draft-07 schema, or when it uses a keyword in
    :data:`UNENFORCED_KEYWORDS`.
    """
    if not isinstance(schema, dict):
        return [f"{path}: a schema must be a JSON object"]
    problems: List[str] = []
    if path == "#":
        try:
            Draft7Validator.check_schema(schema)
        except SchemaError as error:
            where = "/".join(str(part) for part in error.path)
            problems.append(f"#/{where}: {error.message}" if where else f"#: {error.message}")
    for key in sorted(schema):
        if key in UNENFORCED_KEYWORDS:
            problems.append(f"{path}: unsupported keyword {key!r} (not validated by the .NET catalog)")
    for sub, where in _subschemas(schema, path):
        if isinstance(sub, dict):
            problems.extend(check_schema(sub, where))
    return problems


def _number(value: Any) -> str:
    return json.dumps(value) if isinstance(value, float) else str(value)


def _literal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def settings_path(parts: Iterable[Any]) -> str:
    """A settings path as both sides write it: ``topics[1]``, ``delivery.channel``; empty for the root."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_TYPE_MESSAGES = {
    "string": "must be a string", "integer": "must be an integer", "number": "must be a number",
    "boolean": "must be a boolean", "array": "must be an array", "object": "must be an object", "null": "must be null",
}


def _messages(error: ValidationError) -> List[Tuple[str, str]]:
    path = settings_path(error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword in ("oneOf", "anyOf") and error.context:
        found: List[Tuple[str, str]] = []
        for inner in error.context:
            found.extend(_messages(inner))
        return found
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        if len(names) == 1:
            return [(path, _TYPE_MESSAGES.get(names[0], f"must be of type {names[0]}"))]
        return [(path, "must be one of the types: " + ", ".join(sorted(names)))]
    if keyword == "required":
        return [(_join(path, name), "is required") for name in expected if isinstance(instance, dict) and name not in instance]
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties") or {})
        patterns = [re.compile(p) for p in (error.schema.get("patternProperties") or {})]
        return [
            (_join(path, name), "is not an allowed setting")
            for name in instance
            if name not in known and not any(p.search(name) for p in patterns)
        ]
    simple = {
        "enum": lambda: "must be one of: " + ", ".join(_literal(v) for v in expected),
        "minItems": lambda: f"must have at least {expected} items",
        "maxItems": lambda: f"must have at most {expected} items",
        "uniqueItems": lambda: "must not contain duplicate items",
        "minLength": lambda: f"must be at least {expected} characters long",
        "maxLength": lambda: f"must be at most {expected} characters long",
        "minimum": lambda: f"must be at least {_number(expected)}",
        "maximum": lambda: f"must be at most {_number(expected)}",
        "exclusiveMinimum": lambda: f"must be greater than {_number(expected)}",
        "exclusiveMaximum": lambda: f"must be less than {_number(expected)}",
        "multipleOf": lambda: f"must be a multiple of {_number(expected)}",
        "minProperties": lambda: f"must have at least {expected} properties",
        "maxProperties": lambda: f"must have at most {expected} properties",
        "pattern": lambda: f"must match the pattern {expected}",
        "format": lambda: f"must be a valid {expected}",
        "oneOf": lambda: "must match exactly one of the allowed schemas",
        "anyOf": lambda: "must match one of the allowed schemas",
        "not": lambda: "must not match the excluded schema",
    }
    text = simple.get(keyword)
    return [(path, text() if text is not None else error.message)]


def validate(value: Any, schema: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """Validates settings against a schema.

    :returns: ``(path, message)`` for every failure, without duplicates, sorted by path and then
        message; empty when the settings are valid. Paths look like ``topics[0]`` and
        ``delivery.channel``; the settings object itself is the empty path.
    """
    validator = _Validator(schema, format_checker=_FORMATS)
    found: Set[Tuple[str, str]] = set()
    for error in validator.iter_errors(value):
        found.update(_messages(error))
    return sorted(found)
