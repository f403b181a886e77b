"""Test plugin: raises Retry (``fail: retry``) or a plain error (``fail: error``).

``defer`` (seconds, default 7) is the delay the retry asks for; ``defer_as: timedelta`` passes it
as a :class:`datetime.timedelta`.
"""

import datetime

from firstsip_sidecar import Retry


def run(settings, context):
    if settings.get("fail") == "error":
        raise ValueError("the upstream answered 500")
    defer = settings.get("defer", 7)
    if settings.get("defer_as") == "timedelta":
        defer = datetime.timedelta(seconds=defer)
    raise Retry(defer=defer)
