"""A fetched page's article: its main text and metadata, read by
:func:`rag.ingest.webpage.read_page` (trafilatura, htmldate for the date: the same reader
as an ``.html`` file of the corpus), and its canonical address; or a fetched PDF's or
DOCX's, through the corpus folder's own readers (:func:`extract_document`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from rag.errors import CorpusError, FetchError
from rag.ingest.webpage import UnreadablePage, read_page
from rag.lang.dates import parse_date
from rag.sources.fetch import Fetched
from rag.text import one_line
from rag.urls import canonical_url, web_url

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
    try:
        article = read_page(page.body, url=page.final_url)
    except UnreadablePage as exc:
        raise FetchError(page.url, f"the page cannot be read as an article ({exc}); skipped.", "no-text") from None
    if article is None:
        raise FetchError(page.url, "no article text found on the page (a list of links, a paywall, a page "
                                   "built by scripts?); skipped.", "no-text")
    return Extracted(url=page_url(page, article.url), text=article.text, title=article.title, date=article.date,
                     author=article.author, outlet=article.outlet)


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
    return Extracted(url=url, text="\n\n".join(paragraphs), title=one_line(meta.get("title")),
                     date=parse_date(stated) if (stated := meta.get("date")) else None, outlet=host.removeprefix("www.") or None, headline=headline)


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
