"""Keeps secrets out of everything the sidecar writes: results, events, logs.

A :class:`Redactor` knows the secret values of one run (its opened secrets, and the values of the
environment variables passed to the plugin by name whose names look secret) and replaces them by
``[redacted]``. For free text (errors, log lines, step messages) it also hides credentials in URLs
(``scheme://user:password@host`` becomes ``scheme://[redacted]@host``) and the values of query
parameters that usually carry secrets (``?api_key=...``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Iterable, List, Mapping, Optional

from .types import ExecutionOutcome

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6
"""Shorter values are not redacted: replacing every occurrence of a short word would destroy text
and still reveal little. Real keys and tokens are much longer."""

SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@?#'\"<>]+@")
_SECRET_PARAMETERS = (
    "api_key", "apikey", "api-key", "key", "token", "access_token", "refresh_token", "id_token",
    "auth", "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature",
)
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:" + "|".join(re.escape(name) for name in _SECRET_PARAMETERS) + r")=)[^&;#\s'\"<>]+",
    re.IGNORECASE,
)


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name suggests a secret (``OPENAI_API_KEY``, ``GH_TOKEN``...)."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


def redact_urls(text: str) -> str:
    """Hides URL credentials and secret query parameters in a text (no known values needed)."""
    text = _URL_USERINFO.sub(lambda match: match.group("scheme") + MASK + "@", text)
    return _QUERY_SECRET.sub(lambda match: match.group("name") + MASK, text)


class Redactor:
    """Replaces one run's secret values by ``[redacted]``.

    :param values: the secret values; values shorter than :data:`MIN_SECRET_LENGTH` are ignored.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        unique = {value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
        # Longest first, so a value that contains another is hidden whole.
        self._values: List[str] = sorted(unique, key=len, reverse=True)

    @classmethod
    def for_run(cls, secrets: Mapping[str, str], environment: Mapping[str, str]) -> "Redactor":
        """The redactor of a run: every opened secret, and each passed-through variable whose name looks secret.

        :param secrets: the run's opened secrets.
        :param environment: the variables the plugin receives by name (manifest ``env`` and
            ``SIDECAR_PLUGIN_ENV``).
        """
        values = list(secrets.values())
        values += [value for name, value in environment.items() if looks_secret(name)]
        return cls(values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def values(self, text: str) -> str:
        """Replaces the known secret values only."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def text(self, text: Optional[str]) -> Optional[str]:
        """Redacts free text: known values, URL credentials and secret query parameters."""
        if text is None:
            return None
        return redact_urls(self.values(text))

    def output(self, output: Optional[str]) -> Optional[str]:
        """Redacts a completed run's JSON output text and keeps it valid JSON.

        Output without a secret value is returned unchanged (byte for byte); otherwise every string
        in the JSON document (keys included) is redacted and the document written again.
        """
        if output is None or not any(value in output for value in self._values):
            return output
        try:
            document = json.loads(output)
        except ValueError:
            return self.values(output)
        return json.dumps(self._walk(document), ensure_ascii=False, allow_nan=False)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.values(value)
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, dict):
            return {self.values(str(key)): self._walk(item) for key, item in value.items()}
        return value

    def outcome(self, outcome: ExecutionOutcome) -> ExecutionOutcome:
        """An outcome with its error and output redacted."""
        return dataclasses.replace(outcome, error=self.text(outcome.error), output=self.output(outcome.output))
