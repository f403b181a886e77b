"""Test plugin: raises Retry (``fail: retry``) or a plain error (``fail: error``)."""

from firstsip_sidecar import Retry


def run(settings, context):
    if settings.get("fail") == "error":
        raise ValueError("the upstream answered 500")
    raise Retry(defer=7)
