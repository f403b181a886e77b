"""The feed-digest plugin on its bundled feeds, on local HTTP feeds and on broken ones."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading

import pytest
import yaml

from firstsip_sidecar import PluginContext, PluginFailure
from firstsip_sidecar.runner import load_module

from conftest import REAL_PLUGINS, free_port

PLUGIN_DIR = os.path.join(REAL_PLUGINS, "feed-digest")
digest = load_module("feed_digest_under_test", os.path.join(PLUGIN_DIR, "digest.py"), PLUGIN_DIR)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Loopback feeds must not go through a proxy the environment may name."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def defaults():
    with open(os.path.join(PLUGIN_DIR, "plugin.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["default_config"]


def context(steps=None):
    return PluginContext(
        run_id="r", attempt=1, plugin_dir=PLUGIN_DIR, secrets={}, deadline=0,
        report=(lambda step, message: steps.append((step, message))) if steps is not None else None,
    )


def run(**settings):
    merged = defaults()
    merged.update(settings)
    return digest.run(merged, context())


def test_bundled_feeds_make_a_briefing_offline():
    steps = []
    briefing = digest.run(defaults(), context(steps))
    assert set(briefing) == {"summary", "sections"}
    assert briefing["summary"] == (
        "8 items from 3 feeds. Newest: Coral reefs recover faster in shaded bays (Science Notes (sample), 2026-11-21)."
    )
    titles = [section["title"] for section in briefing["sections"]]
    assert titles == ["Tech Weekly (sample)", "Science Notes (sample)", "City Desk (sample)"]
    tech = briefing["sections"][0]["content"].splitlines()
    # newest first, three per feed, the oldest item left out
    assert [line.split("**")[1].split("](")[0].lstrip("[") for line in tech] == [
        "Browser adds per-site memory limits",
        "Chip makers agree on a common low-power link",
        "Open-source database ships faster stream trimming",
    ]
    # extractive summary: HTML removed, the first two sentences kept
    assert tech[2].endswith(
        "(2026-11-16): The new release trims append-only logs by minimum id. Operators report steadier memory use under backlog."
    )
    science = briefing["sections"][1]["content"]
    assert "Seismic data from old missions was analysed again." in science and "<b>" not in science
    assert "https://example.org/science/coral" in science
    assert steps == [("read_feed", title) for title in titles]
    json.dumps(briefing)


def test_items_per_feed_and_sentences():
    briefing = run(items_per_feed=1, summary_sentences=1, feeds=["samples/science-notes.atom"])
    assert briefing["sections"][0]["content"] == (
        "- **[Coral reefs recover faster in shaded bays](https://example.org/science/coral)** (2026-11-21): "
        "Divers measured regrowth in twelve bays over three years."
    )
    assert briefing["summary"].startswith("1 item from 1 feed.")


def test_absolute_paths_work(tmp_path):
    source = os.path.join(PLUGIN_DIR, "samples", "city-desk.rss")
    briefing = run(feeds=[source])
    assert briefing["sections"][0]["title"] == "City Desk (sample)"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"<rss version='2.0'><channel><title>x</title><item></channel></rss>", "is malformed: mismatched tag"),
        (b"not xml at all", "is malformed"),
        (b"<html><body>hello</body></html>", "neither an RSS 2.0 rss nor an Atom feed"),
        (b"<rss version='2.0'></rss>", "needs a channel"),
        (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaa'>]><rss><channel>&a;</channel></rss>", "entity declarations"),
    ],
    ids=["mismatched", "text", "html", "no-channel", "entities"],
)
def test_malformed_feeds_fail_naming_the_feed(tmp_path, content, message):
    path = tmp_path / "broken.xml"
    path.write_bytes(content)
    with pytest.raises(PluginFailure) as caught:
        run(feeds=["samples/city-desk.rss", str(path)])
    assert str(caught.value).startswith(f"feed {path} ")
    assert message in str(caught.value)


def test_missing_feed_fails_naming_it():
    with pytest.raises(PluginFailure) as caught:
        run(feeds=["samples/nope.rss"])
    assert str(caught.value) == "feed samples/nope.rss does not exist"


def test_oversize_feed_fails_naming_it(tmp_path):
    path = tmp_path / "big.rss"
    path.write_bytes(b"<rss version='2.0'><channel>" + b" " * 5000 + b"</channel></rss>")
    with pytest.raises(PluginFailure) as caught:
        run(feeds=[str(path)], max_feed_bytes=1024)
    assert str(caught.value) == f"feed {path} is too large (more than 1024 bytes)"


def test_other_schemes_are_refused():
    with pytest.raises(PluginFailure) as caught:
        run(feeds=["file:///etc/passwd"])
    assert "neither a file nor an http(s) URL" in str(caught.value)


@pytest.fixture
def feed_server():
    """Serves the bundled sample feeds over HTTP on a loopback port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.path.join(PLUGIN_DIR, "samples"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_feeds_over_http(feed_server):
    briefing = run(feeds=[f"{feed_server}/tech-weekly.rss", f"{feed_server}/science-notes.atom"])
    assert [s["title"] for s in briefing["sections"]] == ["Tech Weekly (sample)", "Science Notes (sample)"]


def test_http_errors_and_oversize_downloads_name_the_feed(feed_server):
    with pytest.raises(PluginFailure) as caught:
        run(feeds=[f"{feed_server}/missing.rss"])
    assert str(caught.value).startswith(f"feed {feed_server}/missing.rss is unreachable")
    with pytest.raises(PluginFailure) as caught:
        run(feeds=[f"{feed_server}/tech-weekly.rss"], max_feed_bytes=1024)
    assert str(caught.value).startswith(f"feed {feed_server}/tech-weekly.rss is too large")


def test_unreachable_feed_fails_naming_it():
    url = f"http://127.0.0.1:{free_port()}/feed.rss"
    with pytest.raises(PluginFailure) as caught:
        run(feeds=[url], fetch_timeout_seconds=2)
    assert str(caught.value).startswith(f"feed {url} is unreachable")


def test_a_server_that_does_not_speak_http_fails_naming_the_feed():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        connection, _ = listener.accept()
        connection.recv(4096)
        connection.sendall(b"-ERR this is not HTTP\r\n")
        connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/feed.rss"
    try:
        with pytest.raises(PluginFailure) as caught:
            run(feeds=[url], fetch_timeout_seconds=10)
        assert str(caught.value).startswith(f"feed {url} is unreachable")
    finally:
        thread.join(timeout=10)
        listener.close()
