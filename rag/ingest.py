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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import TermCounts
from .chunking import chunk_document, default_splitter
from .corpus import CorpusScan, load_document, scan_corpus
from .embedding import Embedder
from .errors import CorpusError, IndexCorruptError, RagError
from .factory import auto_factory
from .index import (
    CACHE,
    FORMAT_VERSION,
    REBUILD,
    EmbeddingCache,
    GenerationWriter,
    IndexStore,
    Manifest,
    check_compatible,
    index_lock,
    read_manifest,
    remove_stale,
)
from .lang.dates import format_date
from .settings import Settings
from .text import sentence_spans
from .types import Chunk, Document
from .vectors import VectorStoreSpec, vector_writer

log = logging.getLogger(__name__)

#: progress(done, total, what) — called while reading and embedding (total 0: a step of
#: unknown length); the CLI draws a bar with it. Warnings about one file carry its name
#: as the log record's ``source`` (the report lists them too).
Progress = Callable[[int, int, str], None]


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
           on_wait: Callable[[str], None] | None = None) -> IngestReport:
    """Bring ``settings.index_dir`` up to date with ``settings.corpus_dir``.

    One ingest at a time per index (:func:`rag.index.index_lock`): when another is running,
    wait for it (``on_wait`` is told first), or with ``wait=False`` raise
    :class:`~rag.errors.IndexBusyError`. A damaged live index is rebuilt (with a warning);
    ``rebuild=True`` never reads it at all.
    """
    with index_lock(settings.index_dir, wait=wait, on_wait=on_wait):
        return _ingest(settings, embedder, rebuild, progress)


def _ingest(settings: Settings, embedder: Embedder, rebuild: bool, progress: Progress | None) -> IngestReport:
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
        return _update(settings, embedder, scan, previous, chunking, progress, t0, fresh=rebuild)
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
#: Cleaned articles (with their chunks, about as much text again) kept from the planning
#: pass for the writing pass, up to this many characters of article text in all: a small
#: corpus is read and chunked once; a big one again, batch by batch.
READ_AHEAD_CHARS = 16 << 20


@dataclass
class _Planned:
    """An article to index: where it comes from and, while it fits, its cleaned text and
    (for a new or changed article) its chunks."""

    source: str
    sha256: str
    carried: bool                 # unchanged: its document and chunks come from the live index
    chunks: int
    document: Document | None = None
    chunked: list[Chunk] | None = None


def _update(settings: Settings, embedder: Embedder, scan: CorpusScan, previous: IndexStore | None,
            chunking: dict, progress: Progress | None, t0: float, fresh: bool = False) -> IngestReport:
    """Plan (what to index, what is skipped or repeats another article), then — unless
    nothing changed — write the new generation batch by batch (``fresh``: the vector
    store's copy too, from scratch)."""
    report = IngestReport()
    splitter = default_splitter(settings.chunk_size, settings.chunk_overlap)
    plan = _plan(settings, scan, previous, chunking, splitter, report, progress)
    report.removed = sorted(set(previous.manifest.files if previous else {}) - set(scan.hashes))
    report.chunks = sum(p.chunks for p in plan)
    duplicates = {s: f"{scan.hashes[s]}:{kept}" for s, kept in report.duplicates.items()}

    if not plan:
        raise CorpusError(f"No readable article in {settings.corpus_dir}: "
                          + "; ".join(s.reason for s in report.skipped.values()))
    store = VectorStoreSpec.parse(settings.vector_store)
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
    vectors = vector_writer(store, settings.index_dir, embedder.dim, fresh=fresh)
    writer = GenerationWriter(settings.index_dir, embedder.dim, vectors)
    try:
        batch: list[tuple[Document, list[Chunk], list[int] | None]] = []
        done = 0
        for item in plan:
            batch.append(_materialise(item, previous, scan, splitter, settings))
            if sum(len(c) for _, c, _ in batch) >= BATCH_CHUNKS:
                done = _write_batch(batch, writer, embedder, settings, report, mark, progress, done, previous)
                batch = []
        if batch:
            done = _write_batch(batch, writer, embedder, settings, report, mark, progress, done, previous)
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
          splitter: Any, report: IngestReport, progress: Progress | None) -> list[_Planned]:
    """The articles to index, in path order; fills ``report``'s added, changed, unchanged,
    skipped and duplicates. Reads (and chunks, to count) only new and changed files."""
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

    # Articles already indexed come first, so that a new copy of one is the duplicate
    # (not the other way round); the index itself is written in path order.
    for n, source in enumerate(sorted(scan.hashes, key=lambda s: (not carried(s), s))):
        sha = scan.hashes[source]
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
        else:
            try:
                doc = load_document(scan.files[source], source, sha, max_bytes=settings.max_file_bytes)
            except CorpusError as exc:
                log.warning("%s", exc, extra={"source": source})
                report.skipped[source] = Skipped(sha, str(exc))
                continue
            except OSError as exc:
                log.warning("%s: cannot be read (%s); skipped.", source, exc, extra={"source": source})
                report.skipped[source] = Skipped(sha, f"{source}: cannot be read ({exc})")
                continue
            count = -1
        text_key = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        if text_key in by_text:
            report.duplicates[source] = by_text[text_key]
            log.warning("%s holds the same article as %s; indexed once, as %s.",
                        source, by_text[text_key], by_text[text_key], extra={"source": source})
            continue
        by_text[text_key] = source
        doc_chunks = None
        if count < 0:
            (report.changed if source in old_files else report.added).append(source)
            doc_chunks = chunk_document(doc, splitter, settings.min_chunk_chars)
            count = len(doc_chunks)
        else:
            report.unchanged.append(source)
        keep = kept_chars + len(doc.text) <= READ_AHEAD_CHARS
        kept_chars += len(doc.text) if keep else 0
        planned[source] = _Planned(source, sha, carried(source), count, doc if keep else None,
                                   doc_chunks if keep else None)
    if progress:
        progress(len(scan.hashes), len(scan.hashes), "reading articles")
    for names in (report.added, report.changed, report.unchanged):
        names.sort()
    return [planned[s] for s in sorted(planned)]


def _materialise(item: _Planned, previous: IndexStore | None, scan: CorpusScan, splitter: Any,
                 settings: Settings) -> tuple[Document, list[Chunk], list[int] | None]:
    """A planned article's document and chunks: from the live index when it is carried
    over (with their rows there, whose BM25 term counts are then reused), else as the
    planning pass left it, or cleaned and chunked again when it did not fit in the
    read-ahead."""
    if item.carried:
        assert previous is not None
        doc = item.document or previous.document(item.source)
        return doc, previous.chunks_of(doc.doc_id), previous.chunk_rows_of(doc.doc_id)
    if item.document is not None and item.chunked is not None:
        return item.document, item.chunked, None
    doc = load_document(scan.files[item.source], item.source, item.sha256, max_bytes=settings.max_file_bytes)
    return doc, chunk_document(doc, splitter, settings.min_chunk_chars), None


def _write_batch(batch: list[tuple[Document, list[Chunk], list[int] | None]], writer: GenerationWriter,
                 embedder: Embedder, settings: Settings, report: IngestReport, mark: int,
                 progress: Progress | None, done: int, previous: IndexStore | None) -> int:
    """Embed one batch of articles' chunks and sentences (cache first) and append them to
    the new generation; returns the chunks written so far."""
    docs = {d.doc_id: d for d, _, _ in batch}
    chunks = [c for _, cs, _ in batch for c in cs]
    texts = [embedding_text(c, docs[c.doc_id], settings.embed_title) for c in chunks]
    spans = [list(sentence_spans(docs[c.doc_id].text, c.start, c.end)) for c in chunks]
    sentence_texts = [docs[c.doc_id].text[a:b] for c, sp in zip(chunks, spans) for a, b in sp]

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
    try:
        return _embed_with_cache(texts, sentence_texts, embedder, settings, progress, path, mark)
    except sqlite3.DatabaseError as exc:
        EmbeddingCache.drop(path, exc)
        return _embed_with_cache(texts, sentence_texts, embedder, settings, progress, path, mark)


def _embed_with_cache(texts: list[str], sentence_texts: list[str], embedder: Embedder,
                      settings: Settings, progress: Progress | None, path: Path, mark: int | None
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    cache = EmbeddingCache.open(path)
    try:
        all_texts = texts + sentence_texts
        keys = [hashlib.sha256(f"{embedder.name}\0{t}".encode()).hexdigest() for t in all_texts]
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
