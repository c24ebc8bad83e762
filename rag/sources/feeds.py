"""An RSS or Atom feed's entries: each article's link, title, published date, author and
summary (feedparser, which reads every RSS version, Atom and their common mistakes), and
a feed as the sources file names it (:class:`FeedSource`: its name and filter).

The feed is fetched by :class:`rag.sources.fetch.Fetcher` and handed to feedparser as bytes
in a stream: feedparser given a string or bytes would fetch a URL or open a file of that
name itself, out of reach of the fetcher's checks.
"""

from __future__ import annotations

import html
import io
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from rag.errors import FetchError
from rag.sources.fetch import Fetched
from rag.text import one_line
from rag.urls import canonical_url, web_url

# markup in a summary (feedparser keeps the HTML it allows): dropped, so a filter reads the words
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class FeedEntry:
    """One article a feed lists: its page's address and what the feed says of it (the
    summary as plain text, for a feed's filter)."""

    link: str
    title: str | None = None
    published: str | None = None  # YYYY-MM-DD
    author: str | None = None
    summary: str | None = None


def compile_filter(pattern: str) -> re.Pattern[str]:
    """A feed's filter as it is applied: a regular expression searched for anywhere in an
    entry's title or summary, whatever the case (the one place that says so); raises
    :class:`re.error` when ``pattern`` is not one."""
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class FeedSource:
    """A feed to read, with the name it is shown under (``None``: its address) and an
    optional ``filter`` (see :func:`compile_filter`): only the entries it finds are fetched,
    so a general feed can feed a corpus about one subject. A plain URL string stands for
    ``FeedSource(url)`` wherever a feed is taken."""

    url: str
    name: str | None = None
    filter: str | None = None
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.filter is not None:  # a bad expression fails here, not at the first entry
            object.__setattr__(self, "_pattern", compile_filter(self.filter))

    @property
    def label(self) -> str:
        """What progress lines and messages call the feed: its name, else its address."""
        return self.name or self.url

    def keeps(self, entry: FeedEntry) -> bool:
        """Whether the filter (if any) finds the entry's title or summary."""
        if self._pattern is None:
            return True
        return any(self._pattern.search(text) for text in (entry.title, entry.summary) if text)


@dataclass
class Feed:
    """A feed's title and entries (at most the number asked, in the feed's order), and a
    message for each entry left out (no link, not an http(s) link)."""

    url: str
    title: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_feed(fetched: Fetched, max_entries: int) -> Feed:
    """The entries of a fetched RSS or Atom feed; a :class:`FetchError` (``not-a-feed``)
    when it is neither. Relative links are read against the feed's address; an entry
    listed twice is kept once."""
    import feedparser

    parsed = feedparser.parse(io.BytesIO(fetched.body),
                              response_headers={"content-location": fetched.final_url,
                                                "content-type": fetched.content_type or "application/xml"})
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        why = f" ({type(problem).__name__})" if problem else ""
        raise FetchError(fetched.url, f"not an RSS or Atom feed{why}; nothing added.", "not-a-feed")
    feed = Feed(url=fetched.url, title=one_line(parsed.feed.get("title")))
    seen: set[str] = set()
    for n, entry in enumerate(parsed.entries, 1):
        raw = _link(entry)
        link = web_url(urljoin(fetched.final_url, raw)) if raw else None
        if link is None:
            feed.skipped.append(f"{fetched.url}: entry {n} ({one_line(entry.get('title')) or 'untitled'}) has no "
                                f"http(s) link{f' ({raw[:80]})' if raw else ''}; skipped.")
            continue
        key = canonical_url(link)
        if key in seen:
            continue
        seen.add(key)
        if len(feed.entries) == max_entries:
            feed.skipped.append(f"{fetched.url}: more than {max_entries} entries; the first {max_entries} are read "
                                "(RAG_MAX_FEED_ENTRIES).")
            break
        feed.entries.append(FeedEntry(link=link, title=one_line(entry.get("title")), published=_day(entry),
                                      author=one_line(entry.get("author")), summary=_summary(entry)))
    return feed


def _link(entry: Any) -> str | None:
    """The entry's article page: its ``link``, else its first ``alternate`` link."""
    link = entry.get("link")
    if link:
        return str(link).strip()
    for candidate in entry.get("links", []):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return str(candidate["href"]).strip()
    return None


def _day(entry: Any) -> str | None:
    """The entry's publication day (UTC), or its last update's when it gives no other."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return time.strftime("%Y-%m-%d", value)
    return None


def _summary(entry: Any) -> str | None:
    """The entry's summary (RSS ``description``, Atom ``summary``) as plain text."""
    raw = entry.get("summary")
    return one_line(html.unescape(_TAG.sub(" ", str(raw)))) if raw else None
