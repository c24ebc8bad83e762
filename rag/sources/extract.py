"""A fetched page's article: its main text and metadata, read by
:func:`rag.ingest.webpage.read_page` (trafilatura, htmldate for the date: the same reader
as an ``.html`` file of the corpus), and its canonical address.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.errors import FetchError
from rag.ingest.webpage import UnreadablePage, read_page
from rag.sources.fetch import Fetched
from rag.urls import canonical_url, web_url


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
    try:
        article = read_page(page.body, url=page.final_url)
    except UnreadablePage as exc:
        raise FetchError(page.url, f"the page cannot be read as an article ({exc}); skipped.", "no-text") from None
    if article is None:
        raise FetchError(page.url, "no article text found on the page (a list of links, a paywall, a page "
                                   "built by scripts?); skipped.", "no-text")
    return Extracted(url=page_url(page, article.url), text=article.text, title=article.title, date=article.date,
                     author=article.author, outlet=article.outlet)


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
