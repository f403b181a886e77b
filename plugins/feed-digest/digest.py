"""Feed digest: the newest items of RSS 2.0 and Atom feeds, as a briefing, with no LLM.

Each feed is a path relative to the plugin folder, an absolute path, or an http(s) URL. The
briefing's summary counts what was read and names the newest item; each feed gets one section
listing its newest items with an extractive summary (the first sentences of the item's text).
A feed that is missing, unreachable, larger than ``max_feed_bytes`` or not a well-formed RSS 2.0
or Atom document fails the run with a message naming the feed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import http.client
import os
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from typing import Any, Dict, List, Mapping, Optional, Tuple

from firstsip_sidecar import PluginContext, PluginFailure

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_TAG = re.compile(r"<[^>]+>")


class FeedError(PluginFailure):
    """A feed cannot be read; the message names the feed."""


def _read_feed(source: str, plugin_dir: str, limit: int, timeout: float) -> bytes:
    if re.match(r"^https?://", source, re.IGNORECASE):
        request = urllib.request.Request(source, headers={"User-Agent": "FirstSip-feed-digest/1.0"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise FeedError(f"feed {source} is too large ({declared} bytes, limit {limit})")
                data = response.read(limit + 1)
        except FeedError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            raise FeedError(f"feed {source} is unreachable: {reason}") from None
    elif "://" in source:
        raise FeedError(f"feed {source} is neither a file nor an http(s) URL")
    else:
        path = source if os.path.isabs(source) else os.path.join(plugin_dir, source)
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            raise FeedError(f"feed {source} does not exist") from None
        except OSError as error:
            raise FeedError(f"feed {source} cannot be read: {error.strerror}") from None
    if len(data) > limit:
        raise FeedError(f"feed {source} is too large (more than {limit} bytes)")
    return data


def _plain(text: Optional[str]) -> str:
    if not text:
        return ""
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", text))).strip()


def _sentences(text: str, count: int) -> str:
    parts = [part.strip() for part in _SENTENCE.split(text) if part.strip()]
    summary = " ".join(parts[:count])
    return summary if len(summary) <= 600 else summary[:597].rstrip() + "..."


def _date(text: Optional[str]) -> Optional[dt.datetime]:
    if not text:
        return None
    text = text.strip()
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        value = None
    if value is None:
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _child_text(element: ElementTree.Element, *tags: str) -> Optional[str]:
    for tag in tags:
        child = element.find(tag)
        if child is not None and (child.text or "").strip():
            return child.text
    return None


def _atom_link(entry: ElementTree.Element) -> Optional[str]:
    fallback = None
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
        fallback = fallback or link.get("href")
    return fallback


def parse_feed(data: bytes, source: str) -> Tuple[str, List[Dict[str, Any]]]:
    """Parses an RSS 2.0 or Atom document into its title and items (title, link, date, text).

    :raises FeedError: the document is not well-formed XML, or neither RSS 2.0 nor Atom.
    """
    if b"<!ENTITY" in data:
        raise FeedError(f"feed {source} is malformed: entity declarations are not accepted")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise FeedError(f"feed {source} is malformed: {error}") from None

    items: List[Dict[str, Any]] = []
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedError(f"feed {source} is malformed: an RSS document needs a channel")
        title = _plain(_child_text(channel, "title")) or source
        for item in channel.findall("item"):
            items.append(
                {
                    "title": _plain(_child_text(item, "title")) or "(untitled)",
                    "link": (_child_text(item, "link") or "").strip() or None,
                    "date": _date(_child_text(item, "pubDate", "{http://purl.org/dc/elements/1.1/}date")),
                    "text": _plain(_child_text(item, "description", CONTENT)),
                }
            )
    elif root.tag == f"{ATOM}feed":
        title = _plain(_child_text(root, f"{ATOM}title")) or source
        for entry in root.findall(f"{ATOM}entry"):
            items.append(
                {
                    "title": _plain(_child_text(entry, f"{ATOM}title")) or "(untitled)",
                    "link": _atom_link(entry),
                    "date": _date(_child_text(entry, f"{ATOM}updated", f"{ATOM}published")),
                    "text": _plain(_child_text(entry, f"{ATOM}summary", f"{ATOM}content")),
                }
            )
    else:
        raise FeedError(f"feed {source} is malformed: the root element is neither an RSS 2.0 rss nor an Atom feed")
    return title, items


def _newest(items: List[Dict[str, Any]], count: int) -> List[Dict[str, Any]]:
    ordered = sorted(enumerate(items), key=lambda pair: (pair[1]["date"] or _EPOCH, -pair[0]), reverse=True)
    return [item for _, item in ordered[:count]]


def _section(title: str, items: List[Dict[str, Any]], sentences: int) -> Dict[str, str]:
    lines = []
    for item in items:
        heading = f"[{item['title']}]({item['link']})" if item["link"] else item["title"]
        when = f" ({item['date']:%Y-%m-%d})" if item["date"] else ""
        summary = _sentences(item["text"], sentences)
        lines.append(f"- **{heading}**{when}" + (f": {summary}" if summary else ""))
    return {"title": title, "content": "\n".join(lines) if lines else "No items."}


def run(settings: Mapping[str, Any], context: PluginContext) -> Dict[str, Any]:
    """Builds the briefing: ``{"summary": ..., "sections": [{"title", "content"}, ...]}``."""
    feeds = settings.get("feeds") or []
    if not feeds:
        raise PluginFailure("no feeds are configured: set feeds to a list of files or http(s) URLs")
    per_feed = int(settings.get("items_per_feed", 3))
    sentences = int(settings.get("summary_sentences", 2))
    limit = int(settings.get("max_feed_bytes", 2 * 1024 * 1024))
    timeout = float(settings.get("fetch_timeout_seconds", 10))

    sections: List[Dict[str, str]] = []
    newest: Optional[Tuple[dt.datetime, str, str]] = None
    total = 0
    for source in feeds:
        title, items = parse_feed(_read_feed(str(source), context.plugin_dir, limit, timeout), str(source))
        chosen = _newest(items, per_feed)
        total += len(chosen)
        for item in chosen:
            if item["date"] and (newest is None or item["date"] > newest[0]):
                newest = (item["date"], item["title"], title)
        sections.append(_section(title, chosen, sentences))
        context.step("read_feed", title)

    summary = f"{total} item{'s' if total != 1 else ''} from {len(sections)} feed{'s' if len(sections) != 1 else ''}."
    if newest is not None:
        summary += f" Newest: {newest[1]} ({newest[2]}, {newest[0]:%Y-%m-%d})."
    return {"summary": summary, "sections": sections}
