"""The plugin catalog: ``plugins/<name>/plugin.yaml`` parsed into typed manifests.

Plugins are found by name in the catalog only. A name is checked against the name rule and
looked up in the folders the catalog found under ``PLUGIN_DIR``; it is never joined to a path,
so ``../../etc/passwd`` or ``/var/lib/evil`` are simply unknown plugins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import threading
from typing import Any, Dict, List, Optional, Tuple

import yaml

from . import schema as settings_schema
from .environment import is_variable_name
from .errors import ManifestError, UnknownPluginError

logger = logging.getLogger("firstsip.plugins")

MANIFEST_FILE = "plugin.yaml"
MANIFEST_SCHEMA_VERSION = 1
SCHEMA_VERSIONS = (1, "1", "v1")
"""Accepted ``schema_version`` values: FirstSip writes ``1``, the original system wrote ``v1``."""
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
RUNTIMES = ("python", "crewai")
DEFAULT_CREW_ENTRY = "crew/crew.py:create_crew"
DEFAULT_SCHEMA_FILE = "settings.schema.json"
_KEYS = frozenset(
    {
        "schema_version", "name", "description", "version", "runtime", "entry", "timeout_seconds",
        "settings_schema_path", "capabilities", "default_config", "env", "queue_timeout_seconds",
        "deadline_seconds", "isolation",
    }
)
ISOLATIONS = ("pool", "process")
"""``isolation:`` values: ``pool`` (the default: a pooled process serves the plugin's runs one after
another) and ``process`` (a fresh process per run, for code that leaks state between runs)."""
_REQUIRED = ("name",)
CREW_FILE = "crew/crew.py"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class PluginManifest:
    """A parsed ``plugin.yaml``.

    :param name: the plugin name (equals its folder name).
    :param description: one line.
    :param version: the plugin's own version text.
    :param runtime: ``python`` or ``crewai``.
    :param entry: ``module:function`` for ``python``; ``path/to/file.py:function`` for ``crewai``.
    :param timeout_seconds: the plugin's execution timeout, or ``None`` for the sidecar default.
    :param settings_schema_path: the settings schema file relative to the folder (default
        ``settings.schema.json`` when that file exists), or ``None``.
    :param capabilities: free-form capability names (``network``, ``llm``, ``web-search``...).
    :param default_config: settings merged under the run's (the run's keys win).
    :param directory: the plugin folder (absolute).
    :param settings_schema: the loaded settings schema, or ``None``.
    :param schema_version: the manifest format version (1).
    :param env: names of the sidecar's environment variables the plugin's process receives
        (besides the allowlist, see :mod:`firstsip_sidecar.environment`).
    :param queue_timeout_seconds: the app's queue timeout for the plugin's runs (the app applies
        it; the sidecar only honours the request's ``queue_deadline``), or ``None``.
    :param deadline_seconds: the app's overall deadline for the plugin's runs (applied through the
        request's ``deadline``), or ``None``.
    :param isolation: ``pool`` (default) or ``process``: a fresh process for every run of the plugin.
    :param entry_path: the entry's source file, resolved when the manifest is loaded.
    :param metadata: the manifest's other keys (presentation and ownership keys such as ``owner``,
        ``icon``, ``tile_size``, ``display_order``, and any unknown key), kept as they are.
    :param warnings: problems that do not stop the plugin, for example a key that looks like a
        misspelt known key (``timeout_second``).
    """

    name: str
    description: str
    version: str
    runtime: str
    entry: str
    timeout_seconds: Optional[float]
    settings_schema_path: Optional[str]
    capabilities: Tuple[str, ...]
    default_config: Dict[str, Any]
    directory: str
    settings_schema: Optional[Dict[str, Any]] = None
    schema_version: int = MANIFEST_SCHEMA_VERSION
    env: Tuple[str, ...] = ()
    queue_timeout_seconds: Optional[float] = None
    deadline_seconds: Optional[float] = None
    isolation: str = "pool"
    entry_path: Optional[str] = None
    metadata: Dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: Tuple[str, ...] = ()

    def entry_file(self) -> str:
        """The absolute path of the entry's source file (inside the plugin folder)."""
        if self.entry_path is not None:
            return self.entry_path
        target, _ = self.entry.rsplit(":", 1)
        relative = target if self.runtime == "crewai" else target.replace(".", "/") + ".py"
        return _inside(self.directory, relative, "entry")

    def entry_function(self) -> str:
        """The name of the entry's function."""
        return self.entry.rsplit(":", 1)[1]

    def merged_settings(self, settings: Dict[str, Any]) -> Dict[str, Any]:
        """The run's settings over ``default_config`` (a shallow merge; the run's keys win)."""
        merged = dict(self.default_config)
        merged.update(settings)
        return merged

    def validate_settings(self, settings: Dict[str, Any]) -> List[Tuple[str, str]]:
        """Validates settings against the plugin's schema; ``(path, message)`` per failure."""
        if self.settings_schema is None:
            return []
        return settings_schema.validate(settings, self.settings_schema)


def _inside(directory: str, relative: str, what: str) -> str:
    if os.path.isabs(relative) or "\\" in relative:
        raise ManifestError(f"{what} must be a path relative to the plugin folder: {relative!r}")
    root = os.path.realpath(directory)
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root:
        raise ManifestError(f"{what} points outside the plugin folder: {relative!r}")
    return path


def _edit_distance(a: str, b: str) -> int:
    """The optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def near_miss(key: str) -> Optional[str]:
    """The known manifest key an unknown one probably means, or ``None``.

    A key is a near miss when, compared case-insensitively, it is at most one edit away from a
    known key shorter than 8 characters, or two edits from a longer one (the .NET catalog applies
    the same rule).
    """
    lowered = key.lower()
    best: Optional[Tuple[int, str]] = None
    for known in sorted(_KEYS):
        distance = _edit_distance(lowered, known)
        limit = 1 if len(known) < 8 else 2
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, known)
    return None if best is None else best[1]


def _plain(value: Any) -> Any:
    """A YAML value as JSON-compatible data (dates and other scalars become text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def load_manifest(directory: str) -> PluginManifest:
    """Reads and checks one plugin folder's ``plugin.yaml``.

    Manifests in the original system's format load as they are: ``schema_version`` may be ``1``
    or ``v1`` (and defaults to 1), keys FirstSip does not know are kept in
    :attr:`PluginManifest.metadata` (a near miss of a known key is also reported in
    :attr:`PluginManifest.warnings`), and a folder with ``crew/crew.py`` and no ``runtime`` is a
    CrewAI plugin.

    :param directory: the plugin folder.
    :raises ManifestError: the manifest is missing or malformed, or points at files outside the
        folder.
    """
    path = os.path.join(directory, MANIFEST_FILE)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ManifestError(f"{MANIFEST_FILE} is missing") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{MANIFEST_FILE} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{MANIFEST_FILE} must be a mapping")

    metadata: Dict[str, Any] = {}
    warnings: List[str] = []
    for key in sorted(data, key=str):
        if key in _KEYS:
            continue
        metadata[str(key)] = _plain(data[key])
        meant = near_miss(str(key))
        if meant is not None:
            warnings.append(f"plugin.yaml: unknown key '{key}' is kept as metadata; did you mean '{meant}'?")
    missing = [key for key in _REQUIRED if data.get(key) in (None, "")]
    if missing:
        raise ManifestError("missing keys in plugin.yaml: " + ", ".join(missing))

    schema_version = data.get("schema_version", MANIFEST_SCHEMA_VERSION)
    if isinstance(schema_version, bool) or schema_version not in SCHEMA_VERSIONS:
        raise ManifestError(f"unsupported schema_version {schema_version!r} (expected 1 or v1)")
    name = data["name"]
    folder = os.path.basename(os.path.normpath(directory))
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise ManifestError(f"name {name!r} does not match [a-z0-9][a-z0-9-]*")
    if name != folder:
        raise ManifestError(f"name {name!r} must equal the folder name {folder!r}")
    for key in ("description", "version"):
        value = data.get(key, "")
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ManifestError(f"{key} must be text")
    runtime = data.get("runtime")
    if runtime in (None, ""):
        if not os.path.isfile(os.path.join(directory, CREW_FILE)):
            raise ManifestError("missing keys in plugin.yaml: runtime (or a crew/crew.py for a CrewAI plugin)")
        runtime = "crewai"
    if runtime not in RUNTIMES:
        raise ManifestError(f"runtime must be python or crewai, not {runtime!r}")

    entry = data.get("entry")
    if runtime == "crewai":
        entry = entry or DEFAULT_CREW_ENTRY
        if ":" not in entry:
            entry = f"{entry}:create_crew"
        target, function = entry.rsplit(":", 1)
        if not target.endswith(".py") or not _IDENTIFIER.match(function):
            raise ManifestError(f"entry must be path/to/file.py:function, not {entry!r}")
    else:
        if not isinstance(entry, str) or ":" not in entry:
            raise ManifestError("entry is required for a python plugin, as module:function")
        target, function = entry.rsplit(":", 1)
        if not all(_IDENTIFIER.match(part) for part in target.split(".")) or not _IDENTIFIER.match(function):
            raise ManifestError(f"entry must be module:function, not {entry!r}")

    limits = {}
    for key in ("timeout_seconds", "queue_timeout_seconds", "deadline_seconds"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ManifestError(f"{key} must be a positive number")
        limits[key] = float(value) if value is not None else None

    env = data.get("env") or []
    if not isinstance(env, list) or not all(is_variable_name(name) for name in env):
        raise ManifestError("env must be a list of environment variable names ([A-Za-z_][A-Za-z0-9_]*)")

    isolation = data.get("isolation")
    if isolation in (None, ""):
        isolation = "pool"
    if isolation not in ISOLATIONS:
        raise ManifestError(f"isolation must be pool or process, not {isolation!r}")

    capabilities = data.get("capabilities") or []
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise ManifestError("capabilities must be a list of strings")
    default_config = data.get("default_config") or {}
    if not isinstance(default_config, dict):
        raise ManifestError("default_config must be a mapping")

    schema_path = data.get("settings_schema_path")
    if schema_path is None and os.path.isfile(os.path.join(directory, DEFAULT_SCHEMA_FILE)):
        schema_path = DEFAULT_SCHEMA_FILE
    loaded_schema = None
    if schema_path is not None:
        if not isinstance(schema_path, str):
            raise ManifestError("settings_schema_path must be a path")
        file = _inside(directory, schema_path, "settings_schema_path")
        try:
            with open(file, "r", encoding="utf-8") as handle:
                loaded_schema = json.load(handle)
        except FileNotFoundError:
            raise ManifestError(f"settings schema {schema_path} is missing") from None
        except ValueError as error:
            raise ManifestError(f"settings schema {schema_path} is not valid JSON: {error}") from None
        problems = settings_schema.check_schema(loaded_schema)
        if problems:
            raise ManifestError(f"settings schema {schema_path}: " + "; ".join(problems))

    manifest = PluginManifest(
        name=name,
        description=str(data.get("description", "")),
        version=str(data.get("version", "")),
        runtime=runtime,
        entry=entry,
        timeout_seconds=limits["timeout_seconds"],
        settings_schema_path=schema_path,
        capabilities=tuple(capabilities),
        default_config=default_config,
        directory=os.path.realpath(directory),
        settings_schema=loaded_schema,
        env=tuple(dict.fromkeys(env)),
        queue_timeout_seconds=limits["queue_timeout_seconds"],
        deadline_seconds=limits["deadline_seconds"],
        isolation=isolation,
        metadata=metadata,
        warnings=tuple(warnings),
    )
    return dataclasses.replace(manifest, entry_path=manifest.entry_file())


class PluginCatalog:
    """The plugins found under one folder, by name.

    The folder is scanned when the catalog is created (unless ``scan=False``) and again when a
    name is not found (so a plugin added while the sidecar runs is picked up). A folder whose
    manifest is invalid is kept as an error for that name and logged.

    :meth:`get` reads the file system when it scans; coroutines call :meth:`lookup`, which never
    does that on the event loop. One scan runs at a time; lookups that wait for a scan use its
    answer rather than scanning again.

    :param plugin_dir: the folder holding one folder per plugin.
    :param scan: scan the folder now (the default); with ``False`` the first lookup of a name or
        an explicit :meth:`scan` does.
    """

    def __init__(self, plugin_dir: str, *, scan: bool = True) -> None:
        self.plugin_dir = os.path.realpath(plugin_dir)
        self._plugins: Dict[str, PluginManifest] = {}
        self._errors: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._scans = 0
        if scan:
            self.scan()

    def scan(self) -> None:
        """Reads every plugin folder again (blocking: call it off the event loop)."""
        with self._scan_lock:
            self._scan()

    def _scan_unless_done_since(self, seen: int) -> None:
        with self._scan_lock:
            if self._scans == seen:
                self._scan()

    def _scan(self) -> None:
        plugins: Dict[str, PluginManifest] = {}
        errors: Dict[str, str] = {}
        try:
            entries = sorted(os.listdir(self.plugin_dir))
        except OSError as error:
            logger.warning("cannot list the plugin folder %s: %s", self.plugin_dir, error)
            entries = []
        for entry in entries:
            directory = os.path.join(self.plugin_dir, entry)
            if not NAME_RULE.match(entry) or not os.path.isfile(os.path.join(directory, MANIFEST_FILE)):
                continue
            try:
                plugins[entry] = load_manifest(directory)
                for warning in plugins[entry].warnings:
                    logger.warning("plugin %s: %s", entry, warning)
            except ManifestError as error:
                errors[entry] = str(error)
                logger.error("plugin %s is invalid: %s", entry, error)
        with self._lock:
            self._plugins, self._errors = plugins, errors
            self._scans += 1

    def names(self) -> List[str]:
        """The names of the valid plugins, sorted."""
        with self._lock:
            return sorted(self._plugins)

    def _known(self, name: str) -> Tuple[Optional[PluginManifest], int]:
        """The manifest of a name already scanned (``ManifestError`` for an invalid one), and the scan count."""
        with self._lock:
            manifest = self._plugins.get(name)
            error = self._errors.get(name)
            scans = self._scans
        if error is not None:
            raise ManifestError(f"plugin {name} is invalid: {error}")
        return manifest, scans

    def get(self, name: str) -> PluginManifest:
        """The manifest of a plugin; scans the folder again (blocking) when the name is not known.

        :raises UnknownPluginError: no valid-looking plugin of that name exists.
        :raises ManifestError: the plugin exists but its manifest is invalid.
        """
        if not isinstance(name, str) or not NAME_RULE.match(name):
            raise UnknownPluginError(str(name))
        manifest, seen = self._known(name)
        if manifest is not None:
            return manifest
        self._scan_unless_done_since(seen)
        manifest, _ = self._known(name)
        if manifest is not None:
            return manifest
        raise UnknownPluginError(name)

    async def lookup(self, name: str) -> PluginManifest:
        """:meth:`get` for coroutines: a known name is answered at once, a scan runs in a thread.

        :raises UnknownPluginError: no valid-looking plugin of that name exists.
        :raises ManifestError: the plugin exists but its manifest is invalid.
        """
        if not isinstance(name, str) or not NAME_RULE.match(name):
            raise UnknownPluginError(str(name))
        manifest, _ = self._known(name)
        if manifest is not None:
            return manifest
        return await asyncio.to_thread(self.get, name)
