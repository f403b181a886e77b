"""The environment a plugin's process receives: an allowlist, never the worker's whole environment.

A plugin process gets:

- the variables of :data:`BASE_ALLOWLIST` (and every ``LC_*``) that the worker has: what a
  process needs to find programs, its home and temporary folders, its locale and time zone, TLS
  certificate bundles and HTTP proxies;
- ``PYTHONPATH`` with the sidecar's package root first, ``PYTHONUNBUFFERED=1``;
- the variables its manifest names in ``env:``, and those the operator names in
  ``SIDECAR_PLUGIN_ENV`` (comma-separated), when the worker has them.

Everything else (``REDIS_URL``, ``FIRSTSIP_SEAL_KEY``, the sidecar's own settings, any other
credential in the worker's environment) never reaches a plugin.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterable, Mapping, Optional, Tuple

NAME_RULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BASE_ALLOWLIST: Tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ",
    "TMPDIR", "TEMP", "TMP",
    "PYTHONIOENCODING",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
)
BASE_PREFIXES: Tuple[str, ...] = ("LC_",)
NEVER: frozenset = frozenset({"REDIS_URL", "FIRSTSIP_SEAL_KEY"})
"""Never passed, even when a manifest or the operator names them."""

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_variable_name(name: object) -> bool:
    """Whether a value is a valid environment variable name (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return isinstance(name, str) and bool(NAME_RULE.match(name))


def named_variables(names: Iterable[str], environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The variables passed to a plugin by name that the worker has (``NEVER`` excluded).

    :param names: the manifest's ``env`` and the operator's ``SIDECAR_PLUGIN_ENV`` names.
    :param environ: the worker's environment; ``os.environ`` when omitted.
    """
    source = os.environ if environ is None else environ
    return {name: source[name] for name in names if name not in NEVER and name in source}


def plugin_environment(names: Iterable[str], environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The complete environment of a plugin process.

    :param names: variables passed by name (manifest ``env`` plus ``SIDECAR_PLUGIN_ENV``).
    :param environ: the worker's environment; ``os.environ`` when omitted.
    """
    source = os.environ if environ is None else environ
    env = {
        name: value
        for name, value in source.items()
        if name in BASE_ALLOWLIST or name.startswith(BASE_PREFIXES)
    }
    env.update(named_variables(names, source))
    inherited = source.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + inherited if inherited else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env
