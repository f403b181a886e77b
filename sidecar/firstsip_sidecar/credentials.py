"""Credentials given as settings, the way the original system sent them, and the crews' LLM credentials.

The original Go app put a user's keys among a run's settings: ``_llm_api_key``, ``_tavily_api_key``
(and the model as ``_llm_model``). A top-level settings key that starts with ``_`` and that the
plugin's settings schema does not declare is such a credential: :func:`split` moves it out of the
settings into the run's secrets before the settings are validated, logged or handed to the plugin,
so it is redacted like any secret. (The .NET side does the same when a run starts, and seals them;
this covers requests written by the original app itself.) A declared ``_`` key, like the original's
``_llm_model`` setting, stays a setting.

For CrewAI plugins, :func:`crew_fallbacks` adds the sidecar's own LLM and search credentials for the
ones a run does not bring (see :data:`ENVIRONMENT`).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

ENVIRONMENT = {
    "_llm_api_key": "FIRSTSIP_LLM_API_KEY",
    "_llm_model": "FIRSTSIP_LLM_MODEL",
    "_llm_base_url": "FIRSTSIP_LLM_BASE_URL",
    "_tavily_api_key": "FIRSTSIP_TAVILY_API_KEY",
}
"""The sidecar's variables that stand in for a run's own crew credentials (run's secret name -> variable)."""


def split(settings: Mapping[str, Any], schema: Optional[Mapping[str, Any]]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Splits a request's settings into the settings to keep and the credentials found among them.

    :param settings: the request's settings.
    :param schema: the plugin's settings schema (its top-level ``properties`` are the declared keys).
    :returns: the settings without the credentials, and the credentials as text.
    """
    declared = set((schema or {}).get("properties") or {})
    kept: Dict[str, Any] = {}
    moved: Dict[str, str] = {}
    for key, value in settings.items():
        if key.startswith("_") and key not in declared:
            if value is not None:
                moved[key] = value if isinstance(value, str) else _json(value)
            continue
        kept[key] = value
    return kept, moved


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def crew_fallbacks(secrets: Mapping[str, str], environ: Mapping[str, str]) -> Dict[str, str]:
    """The sidecar's crew credentials (:data:`ENVIRONMENT`) for the names the run's secrets lack."""
    found: Dict[str, str] = {}
    for name, variable in ENVIRONMENT.items():
        value = environ.get(variable)
        if value and name not in secrets:
            found[name] = value
    return found
