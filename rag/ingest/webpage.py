"""An HTML page's article: its main text and metadata, through trafilatura.

A news page is mostly not the article: menus, cookie banners, "read also" links, share
buttons, comments. trafilatura is the field's tool for finding the main text (tested on
thousands of real sites, where a hand-written "take every <p>" keeps the furniture) and
reads the metadata a page states: title, date (through htmldate), author, site name and
canonical address. When trafilatura finds no date, htmldate is asked on its own (its
wider search: the URL, the page's text).

The one home of the trafilatura call: an ``.html`` file of the corpus
(:func:`rag.ingest.corpus.parse_document`) and a page fetched by ``rag add``
(:func:`rag.sources.extract.extract_article`) are both read by :func:`read_page`. It
replaced BeautifulSoup for corpus files: on the tests' pages and the shipped articles in
five news-site layouts it kept the article's words and left the furniture out where
BeautifulSoup kept menus, banners and newsletter boxes, or lost the article of a page
without ``<article>`` (benchmarks/README.md#html-article-extraction).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from rag.lang.dates import parse_date
from rag.text import one_line

log = logging.getLogger(__name__)

#: What reads ``.html`` articles, recorded in an index's manifest: an index whose ``.html``
#: articles another reader read (BeautifulSoup, before) reads them again once.
HTML_READER = "trafilatura"
_PAGE_TAG = re.compile(r"<(?:html|head|body)[\s>/]", re.I)


class UnreadablePage(Exception):
    """trafilatura's parsers failed on the page (they raise whatever lxml raises on a
    broken page); the message names the exception."""


@dataclass(frozen=True)
class PageArticle:
    """An article read from its page: ``text`` its paragraphs, separated by blank lines;
    ``url`` the address the page states for itself (``<link rel="canonical">``,
    ``og:url``), as written there (None when it states none)."""

    text: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    outlet: str | None = None
    url: str | None = None


def read_page(html: str | bytes, url: str | None = None, *, favor_precision: bool = True) -> PageArticle | None:
    """The article of the page ``html`` (bytes: their encoding guessed; ``url``: the
    address it was fetched from, if any); None when trafilatura finds no main text in it (a
    list of links, a page built by scripts). Raises :class:`UnreadablePage`.

    ``favor_precision`` (trafilatura's option: when unsure, leave a block out) left out
    most furniture of a page without ``<article>`` (related links, comments, "most read")
    at no cost in the article's words (benchmarks/README.md#html-article-extraction). A
    fragment (no ``<html>``, ``<head>`` nor ``<body>`` tag: a saved ``<p>…</p>``) is read
    inside ``<html><body>``: trafilatura refuses a bare fragment as not HTML.
    The outlet is the page's ``og:site_name`` as written (trafilatura capitalises a name
    that starts in lower case: ``franceinfo``), else trafilatura's guess.

    >>> read_page("<p>Le sommet s'est tenu à Genève le 16 juin 2021.</p>").text
    "Le sommet s'est tenu à Genève le 16 juin 2021."
    """
    import trafilatura
    from trafilatura.utils import decode_file, load_html

    doc: Any
    try:
        html = decode_file(html)
        if not _PAGE_TAG.search(html):  # a fragment
            html = f"<html><body>{html}</body></html>"
        tree = load_html(html)
        if tree is None:
            return None
        doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, include_comments=False,
                                          include_tables=True, include_images=False,
                                          favor_precision=favor_precision)
    except Exception as exc:  # trafilatura's parsers raise whatever lxml raises on a broken page
        log.debug("trafilatura failed on %s", url or "a page", exc_info=True)
        raise UnreadablePage(type(exc).__name__) from None
    text = "\n\n".join(line.strip() for line in (getattr(doc, "text", None) or "").splitlines() if line.strip())
    if doc is None or not text:
        return None
    outlet = _stated_site(tree) or one_line(doc.sitename)
    return PageArticle(text=text, title=one_line(doc.title), date=_date(doc.date) or _htmldate(tree, url),
                       author=one_line(doc.author), outlet=outlet, url=one_line(doc.url))


def _stated_site(tree: Any) -> str | None:
    for value in tree.xpath('//meta[@property="og:site_name" or @name="og:site_name"]/@content'):
        if plain := one_line(str(value)):
            return plain
    return None


def _date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` (or ``YYYY-MM``) from what a page or htmldate says, None when it is not a date."""
    return parse_date(value) if value else None


def _htmldate(tree: Any, url: str | None) -> str | None:
    """htmldate's own search (the URL, the page's text), when trafilatura found no date."""
    try:
        from htmldate import find_date

        return _date(find_date(tree, url=url, original_date=True, extensive_search=True))
    except Exception:  # htmldate on a page it cannot parse: no date, not a failure
        log.debug("htmldate failed on %s", url or "a page", exc_info=True)
        return None
