"""Articles in from the web: pages and feeds fetched, read and stored in the corpus folder.

One pass of ``rag add`` (or of the feeds of the sources file, before ``rag ingest``):
each feed's entries, those its filter keeps, become pages to fetch; each page (an HTML page,
a PDF or a DOCX) is fetched (:mod:`~rag.sources.fetch`), its article read
(:mod:`~rag.sources.extract`) and stored (:mod:`~rag.sources.store`). A page that fails (down,
slow, too big, neither HTML nor a PDF or DOCX, unreadable, refused) is skipped with a message
naming it; nothing stored before is touched. Indexing is the
caller's (:meth:`rag.library.Library.add_urls`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.errors import CorpusError, FetchError
from rag.ingest.corpus import parse_document
from rag.ingest.frontmatter import FrontMatter, format_front_matter
from rag.ingest.uploads import check_upload
from rag.settings import Settings
from rag.sources.extract import extract_article, extract_document
from rag.sources.feeds import FeedEntry, FeedSource, read_feed
from rag.sources.fetch import Fetcher
from rag.sources.store import ArticleStore, Saved
from rag.urls import canonical_url, web_url

if TYPE_CHECKING:
    from rag.ingest.report import IngestReport

log = logging.getLogger(__name__)

#: notify(message): a line of progress for a person (``rag add`` prints it); by default logged.
Notify = Callable[[str], None]


@dataclass
class AddReport:
    """What a ``rag add`` did: the articles stored (``added``, ``updated``), those found as
    they were (``unchanged``), those whose text another URL holds (``duplicates``), the pages
    and feeds that failed (each error names its URL and why), notes (feed entries left
    out), the feeds read or tried, the entries their filters left out, the names of the
    named feeds (by address, for messages), the pages tried and the seconds the pass took
    (feeds included), and the ingest that followed, if any."""

    added: list[Saved] = field(default_factory=list)
    updated: list[Saved] = field(default_factory=list)
    unchanged: list[Saved] = field(default_factory=list)
    duplicates: list[Saved] = field(default_factory=list)
    failed: list[FetchError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    feeds: int = 0
    left_out: int = 0
    names: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    seconds: float = 0.0
    ingest: IngestReport | None = None

    @property
    def stored(self) -> list[Saved]:
        """The articles written to the corpus folder by this run."""
        return self.added + self.updated

    @property
    def rate(self) -> float:
        """Pages fetched, read and stored (or failed) per second, feeds' time included."""
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Something was stored, or nothing failed (``rag add``'s exit code 0)."""
        return bool(self.stored) or not self.failed

    def summary(self) -> str:
        """``2 added, 1 updated, 3 unchanged, 1 same text as another URL, 2 failed`` (and
        ``, 9 left out by filters`` when a feed's filter left entries out), then the pages
        tried and how fast: ``; 9 pages in 3.1 s (2.9/s)``.

        >>> AddReport(failed=[FetchError("https://a.example/", "down", "down")], pages=4, seconds=2.0).summary()
        '0 added, 0 updated, 0 unchanged, 1 failed; 4 pages in 2.0 s (2.0/s)'
        """
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged"]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} same text as another URL")
        parts.append(f"{len(self.failed)} failed")
        if self.left_out:
            parts.append(f"{self.left_out} left out by filters")
        timing = ""
        if self.pages:
            timing = f"; {self.pages} page{'s' if self.pages > 1 else ''} in {self.seconds:.1f} s ({self.rate:.1f}/s)"
        return ", ".join(parts) + timing

    def failures(self) -> list[str]:
        """One line per page or feed that failed, a named feed called by its name too, so
        that the person who wrote the sources file knows which entry to look at."""
        return [(f"feed {self.names[e.url]}: " if e.url in self.names else "") + f"{e.url}: {e.reason}"
                for e in self.failed]


def collect(settings: Settings, urls: Sequence[str] = (), feeds: Sequence[str | FeedSource] = (), *,
            fetcher: Fetcher, notify: Notify | None = None, bounded: bool = False) -> AddReport:
    """Fetch the pages ``urls`` and the entries of the feeds ``feeds`` (addresses, or
    :class:`FeedSource` with a name and a filter) into ``settings.corpus_dir`` (see the
    module); returns what happened to each. A feed that fails is skipped, named.
    ``bounded``: an article whose indexing would cost more than an upload may
    (``settings.max_upload_texts``, :func:`rag.ingest.uploads.check_upload`) is not stored,
    a failure of kind ``too-costly`` (what a request from the network asked for)."""
    started = time.perf_counter()
    say = notify or log.info
    report = AddReport()
    store = ArticleStore(settings.corpus_dir, max_bytes=settings.max_file_bytes)
    pages: list[tuple[str, FeedEntry | None]] = [(url, None) for url in urls]
    for source in (FeedSource(f) if isinstance(f, str) else f for f in feeds):
        report.feeds += 1
        if source.name:
            report.names[source.url] = source.name
        try:
            feed = read_feed(fetcher.feed(source.url), settings.max_feed_entries)
        except FetchError as exc:
            report.failed.append(exc)
            say(f"failed: feed {source.name}: {exc}" if source.name else f"failed: {exc}")
            continue
        kept = [entry for entry in feed.entries if source.keeps(entry)]
        left_out = len(feed.entries) - len(kept)
        report.left_out += left_out
        say(f"feed {source.label}: {len(feed.entries)} article(s)"
            + (f", {left_out} left out by its filter" if source.filter is not None else "")
            + (f" ({feed.title})" if feed.title and not source.name else ""))
        for note in feed.skipped:
            report.notes.append(note)
            say(f"note: {note}")
        pages += [(entry.link, entry) for entry in kept]

    seen: set[str] = set()
    for n, (url, entry) in enumerate(pages, 1):
        key = canonical_url(url) if web_url(url) else url
        if key in seen:
            continue
        seen.add(key)
        report.pages += 1
        try:
            page = fetcher.page(url)
            article = extract_document(page) if page.format in ("pdf", "docx") else extract_article(page)
        except FetchError as exc:
            report.failed.append(exc)
            say(f"[{n}/{len(pages)}] failed: {exc}")
            continue
        meta = FrontMatter(
            title=article.title or (entry.title if entry else None) or article.headline,
            # a feed's publication date is stated metadata; a page's may be a guess from its text
            date=(entry.published if entry else None) or article.date,
            outlet=article.outlet,
            author=article.author or (entry.author if entry else None),
            url=article.url)
        if bounded:
            try:
                check_cost(settings, meta, article.text)
            except FetchError as exc:
                report.failed.append(exc)
                say(f"[{n}/{len(pages)}] failed: {exc}")
                continue
        saved = store.save(meta, article.text)
        if saved.status == "duplicate":
            report.duplicates.append(saved)
            message = (f"{url} holds the same text as {saved.same_as} (stored as {saved.source}); "
                       "not stored again.")
            if notify is None:
                log.warning("%s", message)
            else:
                say(f"[{n}/{len(pages)}] warning: {message}")
            continue
        getattr(report, saved.status).append(saved)
        say(f"[{n}/{len(pages)}] {saved.status}: {url} -> {saved.source}")
    report.seconds = time.perf_counter() - started
    return report


def check_cost(settings: Settings, meta: FrontMatter, text: str) -> None:
    """Refuse (:class:`FetchError`, ``too-costly``) an article whose indexing would cost more
    than an upload may: the file as it would be stored, read as the ingest will read it (one
    it cannot read is left to the ingest, which says why)."""
    assert meta.url
    content = format_front_matter(meta) + "\n" + text.strip() + "\n"
    try:
        doc = parse_document(content.encode("utf-8"), "article.md")
    except CorpusError:
        return
    try:
        check_upload(doc, settings, what="an article added from the page",
                     instead="The server's operator can add it with rag add.")
    except CorpusError as exc:
        raise FetchError(meta.url, str(exc).removeprefix("article.md: "), "too-costly") from None
