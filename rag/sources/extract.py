"""A fetched page's article: its main text and metadata, through trafilatura; or a fetched
PDF's or DOCX's, through the corpus folder's own readers (:func:`extract_document`).

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
from urllib.parse import urlsplit

from rag.errors import CorpusError, FetchError
from rag.lang.dates import parse_date
from rag.sources.fetch import Fetched
from rag.urls import canonical_url, web_url

log = logging.getLogger(__name__)

#: A document's first line longer than this is a paragraph, not its headline.
HEADLINE_CHARS = 200


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
    #: A document's first line when it reads as a headline: its title when neither the file
    #: nor the feed gives one.
    headline: str | None = None


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


def extract_document(page: Fetched) -> Extracted:
    """The article of a fetched PDF or DOCX (``page.format``), read by
    :func:`rag.ingest.formats.read_binary`, the reader of such files in the corpus folder
    (one home: the same text whether a file was fetched or dropped there). Its title and
    date are the file's own (PDF /Title and /CreationDate, DOCX properties or first
    heading); its outlet the host that served it (what trafilatura says of a page that names
    no site). An encrypted, scanned (no text layer) or damaged file is a :class:`FetchError`
    (``unreadable``) naming the URL and saying why.

    The article is stored as text in a ``.md`` file with front matter, like a page, not as
    the original file: front matter is where the corpus folder keeps an article's address,
    outlet and author (a PDF has no place for them), so the folder alone rebuilds the index
    with every citation's link, and the store's checks (each article once by address and by
    text) hold for documents too.
    """
    from rag.ingest.formats import read_binary

    name = f"document.{page.format}"  # the reader goes by the suffix; its messages start with the name
    try:
        text, meta = read_binary(page.body, name)
    except CorpusError as exc:
        reason = str(exc).removeprefix(f"{name}: ")
        raise FetchError(page.url, reason, "unreadable") from None
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        raise FetchError(page.url, "no text in the document; skipped.", "unreadable")
    first = paragraphs[0]
    headline = first if len(first) <= HEADLINE_CHARS and not first.endswith((".", "!", "?", "…", ":")) else None
    url = page_url(page, None)
    host = urlsplit(url).hostname or ""
    return Extracted(url=url, text="\n\n".join(paragraphs), title=_plain(meta.get("title")),
                     date=_date(meta.get("date")), outlet=host.removeprefix("www.") or None, headline=headline)


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
