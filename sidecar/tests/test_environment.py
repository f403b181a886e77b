"""The plugin process's environment: an allowlist, the manifest's ``env`` and ``SIDECAR_PLUGIN_ENV``."""

from __future__ import annotations

import json

import pytest

from firstsip_sidecar.environment import BASE_ALLOWLIST, PACKAGE_ROOT, named_variables, plugin_environment
from firstsip_sidecar.errors import ConfigurationError
from firstsip_sidecar.settings import Settings

from conftest import publish, wait_result

WORKER_ENV = {
    "PATH": "/usr/bin", "HOME": "/home/w", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost", "SSL_CERT_FILE": "/etc/ssl/cert.pem",
    "PYTHONPATH": "/opt/extra", "REDIS_URL": "redis://:pw@redis:6379", "FIRSTSIP_SEAL_KEY": "a2V5",
    "SIDECAR_PORT": "8000", "AWS_SECRET_ACCESS_KEY": "nope", "OPENAI_API_KEY": "sk-env", "CUSTOM": "yes",
}


def test_only_the_allowlist_and_named_variables_pass():
    env = plugin_environment(("OPENAI_API_KEY", "MISSING", "REDIS_URL"), WORKER_ENV)
    assert env == {
        "PATH": "/usr/bin", "HOME": "/home/w", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
        "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost", "SSL_CERT_FILE": "/etc/ssl/cert.pem",
        "PYTHONPATH": PACKAGE_ROOT + ":/opt/extra", "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "sk-env",
    }
    assert named_variables(("OPENAI_API_KEY", "FIRSTSIP_SEAL_KEY", "MISSING"), WORKER_ENV) == {"OPENAI_API_KEY": "sk-env"}
    assert plugin_environment((), {})["PYTHONPATH"] == PACKAGE_ROOT


def test_sidecar_plugin_env_is_read_and_checked():
    assert Settings.from_env({}).plugin_env == ()
    assert Settings.from_env({"SIDECAR_PLUGIN_ENV": " A_1, b ,,"}).plugin_env == ("A_1", "b")
    with pytest.raises(ConfigurationError, match="'1BAD' is not a variable name"):
        Settings.from_env({"SIDECAR_PLUGIN_ENV": "OK,1BAD"})
    with pytest.raises(ConfigurationError, match="REDIS_URL is never passed"):
        Settings.from_env({"SIDECAR_PLUGIN_ENV": "REDIS_URL"})


def test_the_plugin_process_sees_the_allowlist_only(r, names, sidecar_factory):
    sidecar_factory(
        ECHO_FROM_MANIFEST="1", FROM_OPERATOR="1", NOT_LISTED_TOKEN="x" * 20, SIDECAR_PLUGIN_ENV="FROM_OPERATOR",
        FIRSTSIP_SEAL_KEY="AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
    )
    run_id = publish(r, names, "echo", {})
    result = wait_result(r, names, run_id)
    names_seen = set(json.loads(result["output"])["env_names"])
    assert {"ECHO_FROM_MANIFEST", "FROM_OPERATOR", "PATH", "PYTHONPATH", "PYTHONUNBUFFERED"} <= names_seen
    for hidden in ("REDIS_URL", "FIRSTSIP_SEAL_KEY", "NOT_LISTED_TOKEN", "SIDECAR_PORT", "PLUGIN_DIR",
                   "FIRSTSIP_REQUESTS_STREAM", "SIDECAR_PLUGIN_ENV"):
        assert hidden not in names_seen
    allowed = set(BASE_ALLOWLIST) | {"ECHO_FROM_MANIFEST", "FROM_OPERATOR", "PYTHONPATH", "PYTHONUNBUFFERED"}
    assert {name for name in names_seen if not name.startswith("LC_")} - allowed == set()
