"""A fetched page's article: its main text and metadata, through trafilatura.

A news page is mostly not the article: menus, cookie banners, "read also" links, share
buttons, comments. trafilatura is the field's tool for finding the main text (tested on
thousands of real sites, where a hand-written "take every <p>" keeps the furniture) and
reads the metadata a page states: title, date (through htmldate), author, site name and
canonical address. When trafilatura finds no date, htmldate is asked on its own (its
wider search: the URL, the page's text).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rag.errors import FetchError
from rag.lang.dates import parse_date
from rag.sources.fetch import Fetched
from rag.urls import canonical_url, web_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Extracted:
    """An article read from its page. ``url`` is its canonical address (:func:`page_url`);
    ``text`` its paragraphs, separated by blank lines."""

    url: str
    text: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    outlet: str | None = None


def extract_article(page: Fetched) -> Extracted:
    """The article of ``page``; a :class:`FetchError` (``no-text``) when trafilatura finds
    no main text (a list of links, a page behind a paywall or built by scripts)."""
    import trafilatura

    doc: Any
    try:
        doc = trafilatura.bare_extraction(page.body, url=page.final_url, with_metadata=True,
                                          include_comments=False, include_tables=True, include_images=False)
    except Exception as exc:  # trafilatura's parsers raise whatever lxml raises on a broken page
        log.debug("trafilatura failed on %s", page.url, exc_info=True)
        raise FetchError(page.url, f"the page cannot be read as an article ({type(exc).__name__}); skipped.",
                         "no-text") from None
    text = "\n\n".join(line.strip() for line in (getattr(doc, "text", None) or "").splitlines() if line.strip())
    if doc is None or not text:
        raise FetchError(page.url, "no article text found on the page (a list of links, a paywall, a page "
                                   "built by scripts?); skipped.", "no-text")
    date = _date(doc.date) or _htmldate(page)
    return Extracted(url=page_url(page, doc.url), text=text, title=_plain(doc.title), date=date,
                     author=_plain(doc.author), outlet=_plain(doc.sitename))


def page_url(page: Fetched, stated: str | None) -> str:
    """The page's canonical address: the one it states (``<link rel="canonical">``,
    ``og:url``) when it is on the same site as the address that answered (a page may not
    claim another site's article), else that address; spelt by :func:`canonical_url`.

    >>> f = Fetched("http://a.example/x?utm_source=rss", "http://a.example/x?utm_source=rss", "text/html", None, b"")
    >>> page_url(f, "https://www.a.example/story"), page_url(f, "https://other.example/story")
    ('https://www.a.example/story', 'http://a.example/x')
    """
    answered = canonical_url(page.final_url)
    stated = web_url(stated)
    if stated is None:
        return answered
    stated = canonical_url(stated)
    if _site(stated) != _site(answered):
        return answered
    return stated


def _site(url: str) -> str:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def _date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` (or ``YYYY-MM``) from what a page or htmldate says, None when it is not a date."""
    return parse_date(value) if value else None


def _htmldate(page: Fetched) -> str | None:
    """htmldate's own search (the URL, the page's text), when trafilatura found no date."""
    try:
        from htmldate import find_date

        return _date(find_date(page.body, url=page.final_url, original_date=True, extensive_search=True))
    except Exception:  # htmldate on a page it cannot parse: no date, not a failure
        log.debug("htmldate failed on %s", page.url, exc_info=True)
        return None


def _plain(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None
