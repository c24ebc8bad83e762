"""The articles behind an index: listed, added, removed, re-ingested.

A :class:`Library` changes the corpus folder and brings the index up to date with it;
the pipelines over the same :class:`~rag.store.live.LiveIndex` answer from the new
generation from their next question on.

>>> library = Pipeline.from_settings().library                # doctest: +SKIP
>>> library.add_articles(["story.txt"]).summary()             # doctest: +SKIP
'1 added, 0 changed, 0 removed, 5 unchanged; …'
>>> library.add_urls(feeds=["https://news.example.org/rss"]).summary()   # doctest: +SKIP
'12 added, 0 updated, 0 unchanged, 0 failed'
>>> library.poll_sources().summary()                          # doctest: +SKIP
'3 added, 0 updated, 9 unchanged, 0 failed, 20 left out by filters'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexCorruptError
from rag.ingest.corpus import add_files, remove_file
from rag.ingest.drift import Drift, corpus_drift
from rag.ingest.report import IngestReport, Progress
from rag.ingest.run import ingest
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.generations import read_manifest
from rag.store.live import LiveIndex
from rag.types import Document

if TYPE_CHECKING:
    from rag.sources.collect import AddReport, Notify
    from rag.sources.feeds import FeedSource
    from rag.sources.fetch import Fetcher


class Library:
    """The corpus folder of ``settings`` and the live index built from it."""

    def __init__(self, settings: Settings, embedder: Embedder, live: LiveIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.live = live

    def articles(self) -> list[tuple[Document, int]]:
        """The indexed articles (without their text) and their chunk counts."""
        return self.live.latest().articles()

    def drift(self) -> Drift:
        """The corpus folder's files the live index does not hold, and its articles whose
        file is gone (names only: see :func:`rag.ingest.drift.corpus_drift`)."""
        return corpus_drift(self.settings, self.live.latest().manifest)

    def ingest(self, *, rebuild: bool = False, progress: Progress | None = None,
               wait: bool = True) -> IngestReport:
        """Re-ingest the corpus and switch to the new index (see :func:`rag.ingest.run.ingest`);
        while another ingest holds the index, ``progress`` is told so."""
        on_wait = (lambda message: progress(0, 0, message)) if progress else None
        report = ingest(self.settings, self.embedder, rebuild=rebuild, progress=progress, wait=wait,
                        on_wait=on_wait)
        self.live.latest(wait=True)
        return report

    def add_articles(self, files: Sequence[str | Path], names: Sequence[str] | None = None,
                     progress: Progress | None = None) -> IngestReport:
        """Copy article files into the corpus folder and ingest them (incrementally)."""
        add_files(self.settings.corpus_dir, [Path(f) for f in files], names, max_bytes=self.settings.max_file_bytes)
        return self.ingest(progress=progress)

    def add_urls(self, urls: Sequence[str] = (), *, feeds: Sequence[str | FeedSource] = (),
                 allow_private: bool = False,
                 notify: Notify | None = None, progress: Progress | None = None,
                 fetcher: Fetcher | None = None, max_entries: int | None = None,
                 bounded: bool = False) -> AddReport:
        """Fetch article pages (``urls``) and the pages a feed lists (``feeds``) into the
        corpus folder, then ingest them (see :func:`add_urls`). ``allow_private`` stays
        False for anything a user on the network asked for (the page passes its operator's
        ``Settings.allow_private_urls``). ``max_entries``: each feed's articles read at most,
        fewer than ``Settings.max_feed_entries`` (a request from the page is held to a few);
        ``bounded``: an article costlier to index than an upload may be is not stored (the page's)."""
        settings = self.settings
        if max_entries is not None:
            settings = settings.replace(max_feed_entries=min(max_entries, settings.max_feed_entries))
        return add_urls(settings, urls, feeds=feeds, allow_private=allow_private, notify=notify,
                        fetcher=fetcher, reindex=lambda: self.ingest(progress=progress), bounded=bounded)

    def poll_sources(self, *, allow_private: bool = False, notify: Notify | None = None,
                     progress: Progress | None = None, fetcher: Fetcher | None = None) -> AddReport:
        """Read the feeds of the sources file again and fetch their new and changed articles
        into the corpus folder, then ingest them (see :func:`poll_sources`)."""
        return poll_sources(self.settings, allow_private=allow_private, notify=notify, fetcher=fetcher,
                            reindex=lambda: self.ingest(progress=progress))

    def remove_article(self, source: str, progress: Progress | None = None) -> IngestReport:
        """Take an article out of the corpus (moved to ``.removed/``, which keeps the latest
        ``max_removed_files``) and of the index."""
        remove_file(self.settings.corpus_dir, source, keep=self.settings.max_removed_files)
        return self.ingest(progress=progress)


def add_urls(settings: Settings, urls: Sequence[str] = (), *, feeds: Sequence[str | FeedSource] = (),
             allow_private: bool = False, notify: Notify | None = None, progress: Progress | None = None,
             fetcher: Fetcher | None = None, reindex: Callable[[], IngestReport] | None = None,
             index: bool = True, bounded: bool = False) -> AddReport:
    """Fetch article pages and feeds (addresses, or :class:`~rag.sources.feeds.FeedSource`
    with a name and a filter) into ``settings.corpus_dir`` (:func:`rag.sources.collect.collect`),
    then bring the index up to date: ``reindex``, by default an incremental ingest with the
    settings' embedding model (loaded only then). The ingest runs when an article was
    stored, or when the index lacks one found stored already (an earlier run stopped before
    its ingest); a run that changes nothing loads no model. ``index=False`` leaves the
    index to the caller (``rag ingest`` ingests once, after its feeds).

    ``allow_private``: fetch from loopback and private addresses too (the operator's own
    ``rag add``; never for a request from the network unless the operator allowed it,
    ``settings.allow_private_urls``). ``fetcher``: one of the caller's (kept open), else one
    made from ``settings``. ``bounded``: as :func:`rag.sources.collect.collect` says (an
    article costlier to index than an upload may be is not stored).
    """
    from rag.sources.collect import AddReport, collect
    from rag.sources.fetch import Fetcher

    if not urls and not feeds:
        return AddReport()
    with contextlib.ExitStack() as stack:
        if fetcher is None:
            fetcher = stack.enter_context(Fetcher.from_settings(settings, allow_private=allow_private))
        report = collect(settings, urls, feeds, fetcher=fetcher, notify=notify, bounded=bounded)
    if not index:
        return report
    try:
        indexed = read_manifest(settings.index_dir)
    except IndexCorruptError:  # the ingest rebuilds it, saying so
        indexed = None
    known = set(indexed.files) if indexed is not None else set()
    if report.stored or any(s.source not in known for s in report.unchanged):
        if reindex is None:
            from rag.models.embedding import embedder_from_settings

            report.ingest = ingest(settings, embedder_from_settings(settings), progress=progress)
        else:
            report.ingest = reindex()
    return report


def poll_sources(settings: Settings, *, allow_private: bool = False, notify: Notify | None = None,
                 progress: Progress | None = None, fetcher: Fetcher | None = None,
                 reindex: Callable[[], IngestReport] | None = None, index: bool = True) -> AddReport:
    """Read every feed of the sources file (``settings.sources``, :mod:`rag.sources.config`)
    again and fetch the articles its filter keeps into ``settings.corpus_dir``: only new
    and changed ones are written (the store's one article per address and per text), so a
    second poll with nothing new writes nothing. A feed that is down is skipped, named
    (``report.failures()``); the others are read. Then the index as :func:`add_urls` brings
    it up to date (``index=False``: not at all, the caller ingests). No sources file: no
    feeds, an empty report. A file that is not as documented raises
    :class:`~rag.errors.SourcesFileError` before anything is fetched.
    """
    from rag.sources.config import read_sources

    feeds = read_sources(settings.sources)
    return add_urls(settings, feeds=feeds, allow_private=allow_private, notify=notify, progress=progress,
                    fetcher=fetcher, reindex=reindex, index=index)
