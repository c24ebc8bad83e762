"""Planning an ingest: which articles are carried over unchanged, which are new or changed
(read, cleaned and chunked once), which are skipped or repeat another one."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.errors import CorpusError
from rag.ingest.chunking import chunk_document
from rag.ingest.corpus import CorpusScan, is_html, load_document
from rag.ingest.engine import Engine, Parsed, parse_on_engine
from rag.ingest.report import IngestReport, Progress, Skipped, unreadable
from rag.ingest.spool import READ_AHEAD_CHARS, ArticleSpool
from rag.ingest.webpage import HTML_READER
from rag.settings import Settings
from rag.store.index_store import IndexStore
from rag.types import Chunk, Document

log = logging.getLogger(__name__)


@dataclass
class Planned:
    """An article to index: where it comes from and, while it fits, its cleaned text and
    (for a new or changed article) its chunks; past the read-ahead, a new or changed
    article's are in the ingest's spool, a carried one's in the live index."""

    source: str
    sha256: str
    carried: bool                 # unchanged: its document and chunks come from the live index
    chunks: int
    document: Document | None = None
    chunked: list[Chunk] | None = None


def plan_ingest(settings: Settings, scan: CorpusScan, previous: IndexStore | None, chunking: dict,
                splitter: Any, report: IngestReport, progress: Progress | None, spool: ArticleSpool,
                engine: Engine | None = None) -> list[Planned]:
    """The articles to index, in path order; fills ``report``'s added, changed, unchanged,
    skipped and duplicates. Reads (and chunks, to count) only new and changed files: here,
    or, with an ``engine``, read here and cleaned and chunked by the engine first; those
    past the read-ahead go to ``spool``."""
    return _Planner(settings, scan, previous, chunking, splitter, report, spool).plan(progress, engine)


class _Planner:
    """One planning pass (see :func:`plan_ingest`): what the live index knew, and what
    this pass has found so far."""

    def __init__(self, settings: Settings, scan: CorpusScan, previous: IndexStore | None, chunking: dict,
                 splitter: Any, report: IngestReport, spool: ArticleSpool) -> None:
        self.settings, self.scan, self.previous = settings, scan, previous
        self.splitter, self.report, self.spool = splitter, report, spool
        self.old_files = previous.manifest.files if previous else {}
        self.old_skipped = {s: Skipped.parse(v) for s, v in previous.manifest.skipped.items()} if previous else {}
        self.old_duplicates = dict(previous.manifest.duplicates) if previous else {}
        # a generation written before documents kept their url and author (front matter) is
        # read again once: a file's front matter was then part of its text
        reusable = previous is not None and previous.manifest.chunking == chunking and previous.has_links
        self.live = set(self.old_files) if reusable else set()
        # .html articles another reader read (BeautifulSoup) are read again once, bad ones and copies too
        self.stale_html = previous is not None and previous.manifest.html_reader != HTML_READER
        self.by_text: dict[str, str] = {}  # sha256 of a cleaned text -> the source indexed with it
        self.planned: dict[str, Planned] = {}
        self.kept_chars = 0
        self.parsed: dict[str, Parsed | str] = {}

    def carried(self, source: str) -> bool:
        """Unchanged since the live index: not read again."""
        return (source in self.live and self.old_files[source] == self.scan.hashes[source]
                and not self._read_again(source))

    def known(self, source: str) -> bool:
        """The same bad file, or the same copy, as last time."""
        sha = self.scan.hashes[source]
        return not self._read_again(source) and (
            (source in self.old_skipped and self.old_skipped[source].sha256 == sha)
            or (source in self.old_duplicates and self.old_duplicates[source].partition(":")[0] == sha))

    def _read_again(self, source: str) -> bool:
        return self.stale_html and is_html(source)

    def plan(self, progress: Progress | None, engine: Engine | None) -> list[Planned]:
        scan, report = self.scan, self.report
        for source, reason in scan.refused.items():  # links out of the corpus, files over the size limit
            report.skipped[source] = Skipped("", reason)
        if engine is not None:
            self.parsed = parse_on_engine([s for s in sorted(scan.hashes) if not self.carried(s) and not self.known(s)],
                                          scan, self.settings, engine, progress, self.spool)
        # Articles already indexed come first, so that a new copy of one is the duplicate
        # (not the other way round); the index itself is written in path order.
        for n, source in enumerate(sorted(scan.hashes, key=lambda s: (not self.carried(s), s))):
            if progress:
                progress(n, len(scan.hashes), "reading articles")
            self._plan_one(source)
        if progress:
            progress(len(scan.hashes), len(scan.hashes), "reading articles")
        for names in (report.added, report.changed, report.unchanged):
            names.sort()
        return [self.planned[s] for s in sorted(self.planned)]

    def _plan_one(self, source: str) -> None:
        """Carry ``source`` over, or read it (here or from the engine's work), unless it is
        the same bad file or the same copy as last time; then admit it."""
        sha = self.scan.hashes[source]
        if self.carried(source):
            assert self.previous is not None  # live is empty without it
            doc = self.previous.document(source)
            self._admit(source, doc, None, len(self.previous.rows_of([doc.doc_id])))
        elif not self._read_again(source) and source in self.old_skipped and self.old_skipped[source].sha256 == sha:
            self.report.skipped[source] = self.old_skipped[source]  # same bad file as last time
        elif not self._read_again(source) and same_duplicate(self.old_duplicates.get(source), sha, self.old_files, self.scan.hashes, self.planned):
            self.report.duplicates[source] = self.old_duplicates[source].partition(":")[2]
        elif source in self.parsed:  # cleaned and chunked by the engine
            outcome = self.parsed.pop(source)
            if isinstance(outcome, str):
                log.warning("%s", outcome, extra={"source": source})
                self.report.skipped[source] = Skipped(sha, outcome)
            else:
                self._admit(source, outcome.document, outcome, -1)
        else:
            read = self._read(source, sha)
            if read is not None:
                self._admit(source, read, None, -1)

    def _read(self, source: str, sha: str) -> Document | None:
        """A new or changed file, read and cleaned here; None when it is skipped (said why)."""
        try:
            return load_document(self.scan.files[source], source, sha, max_bytes=self.settings.max_file_bytes)
        except CorpusError as exc:
            log.warning("%s", exc, extra={"source": source})
            self.report.skipped[source] = Skipped(sha, str(exc))
        except OSError as exc:
            log.warning("%s: cannot be read (%s); skipped.", source, exc, extra={"source": source})
            self.report.skipped[source] = Skipped(sha, unreadable(source, exc))
        return None

    def _admit(self, source: str, doc: Document | None, engine_item: Parsed | None, count: int) -> None:
        """Plan an article read (``count`` -1: new or changed, to chunk) unless its text
        repeats one planned already; keep it in memory while the read-ahead has room."""
        report = self.report
        if engine_item is not None:  # past the read-ahead it is in the spool: only its summary is here
            text_key, chars = engine_item.text_key, engine_item.chars
        else:
            assert doc is not None
            text_key, chars = hashlib.sha256(doc.text.encode("utf-8")).hexdigest(), len(doc.text)
        if text_key in self.by_text:
            kept = self.by_text[text_key]
            report.duplicates[source] = kept
            log.warning("%s holds the same article as %s; indexed once, as %s.", source, kept, kept,
                        extra={"source": source})
            return
        self.by_text[text_key] = source
        doc_chunks = None
        if count < 0:
            (report.changed if source in self.old_files else report.added).append(source)
            if engine_item is not None:
                doc_chunks, count = engine_item.chunked, engine_item.chunks
            else:
                assert doc is not None
                doc_chunks = chunk_document(doc, self.splitter, self.settings.min_chunk_chars)
                count = len(doc_chunks)
        else:
            report.unchanged.append(source)
        keep = doc is not None and self.kept_chars + chars <= READ_AHEAD_CHARS
        self.kept_chars += chars if keep else 0
        if not keep and doc is not None and doc_chunks is not None:
            self.spool.put(doc, doc_chunks)  # new or changed, past the read-ahead
        self.planned[source] = Planned(source, self.scan.hashes[source], self.carried(source), count,
                                       doc if keep else None, doc_chunks if keep else None)


def materialise(item: Planned, previous: IndexStore | None, spool: ArticleSpool
                 ) -> tuple[Document, list[Chunk], list[int] | None]:
    """A planned article's document and chunks: from the live index when it is carried
    over (with their rows there, whose BM25 term counts are then reused), else as the
    planning pass left them, in memory or, past the read-ahead, in ``spool``."""
    if item.carried:
        assert previous is not None
        doc = item.document or previous.document(item.source)
        return doc, previous.chunks_of(doc.doc_id), previous.chunk_rows_of(doc.doc_id)
    if item.document is not None and item.chunked is not None:
        return item.document, item.chunked, None
    doc, chunks = spool.get(item.source)
    return doc, chunks, None


def same_duplicate(stored: str | None, sha: str, old_files: dict[str, str], hashes: dict[str, str],
                    indexed: Mapping[str, object]) -> bool:
    """Whether a file found to repeat another article last time still does, without
    reading it: both files are unchanged and the other one is indexed (before it)."""
    if not stored:
        return False
    old_sha, _, kept = stored.partition(":")
    return old_sha == sha and kept in indexed and old_files.get(kept) == hashes.get(kept)
