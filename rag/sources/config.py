"""The sources file, ``sources.toml``: the feeds ``rag ingest`` reads again before each
ingest, each with the name it is shown under and an optional filter (docs/sources.md).

.. code-block:: toml

    [[feed]]
    name = "RT France"                       # shown in progress and messages
    url = "https://francais.rt.com/rss"
    filter = "Russie|Biden"                  # optional: a case-insensitive regular expression

A missing file means no feeds. A file that is not as above is refused whole, with a
message naming the file and the entry: polling part of a list would hide the mistake.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from rag.errors import SourcesFileError
from rag.sources.feeds import FeedSource, compile_filter
from rag.urls import web_url

#: The keys a ``[[feed]]`` table may hold.
FEED_KEYS = ("name", "url", "filter")
#: What every message about the file ends with: how to go on without fixing it first.
_MEANWHILE = " (rag ingest --no-poll indexes the corpus folder without reading the feeds.)"


def read_sources(path: str | Path) -> list[FeedSource]:
    """The feeds of the sources file ``path``, in its order; none when it does not exist.
    Raises :class:`SourcesFileError` naming the file (and the entry) when it cannot be
    read or is not as the module shows."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SourcesFileError(f"Cannot read the sources file {path}: {exc}." + _MEANWHILE) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourcesFileError(f"The sources file {path} is not valid TOML ({exc})." + _MEANWHILE) from None
    unknown = [key for key in data if key != "feed"]
    if unknown:
        raise SourcesFileError(f"The sources file {path}: unknown key {unknown[0]!r}; it holds [[feed]] tables, "
                               f"one per feed, with {_keys()}." + _MEANWHILE)
    tables = data.get("feed", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SourcesFileError(f"The sources file {path}: write each feed as a [[feed]] table with {_keys()}."
                               + _MEANWHILE)
    feeds: list[FeedSource] = []
    named: dict[str, int] = {}  # name -> the entry that has it
    for n, table in enumerate(tables, 1):
        feed = _feed(path, n, table)
        if feed.name is not None:
            if feed.name in named:
                raise _problem(path, n, table, f"the name {feed.name!r} is feed {named[feed.name]}'s too; "
                                               "give each feed its own name")
            named[feed.name] = n
        feeds.append(feed)
    return feeds


def _feed(path: Path, n: int, table: dict[str, Any]) -> FeedSource:
    """Entry ``n`` (from 1) of the file as a :class:`FeedSource`, checked key by key."""
    for key in table:
        if key not in FEED_KEYS:
            raise _problem(path, n, table, f"unknown key {key!r} (a feed takes {_keys()})")
    name, url, pattern = table.get("name"), table.get("url"), table.get("filter")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise _problem(path, n, table, 'name must be a text, e.g. name = "RT France"')
    if url is None:
        raise _problem(path, n, table, 'no url; give the feed\'s address, e.g. url = "https://example.org/rss"')
    address = web_url(url) if isinstance(url, str) else None
    if address is None:
        raise _problem(path, n, table, f"url must be an http or https address (got {url!r})")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern.strip():
            raise _problem(path, n, table, 'filter must be a regular expression, e.g. filter = "Russie|Biden" '
                                           "(leave it out to keep every entry)")
        try:
            compile_filter(pattern)
        except re.error as exc:
            raise _problem(path, n, table, f"the filter {pattern!r} is not a valid regular expression ({exc})"
                           ) from None
    return FeedSource(url=address, name=name.strip() if name else None, filter=pattern)


def _problem(path: Path, n: int, table: dict[str, Any], what: str) -> SourcesFileError:
    """The error about entry ``n``: the file, the entry (its number, and its name when it
    has one), what is wrong."""
    name = table.get("name")
    entry = f"feed {n}" + (f" ({name!r})" if isinstance(name, str) and name.strip() else "")
    return SourcesFileError(f"The sources file {path}, {entry}: {what}." + _MEANWHILE)


def _keys() -> str:
    return ", ".join(FEED_KEYS[:-1]) + f" and {FEED_KEYS[-1]}"
