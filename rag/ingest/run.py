"""Incremental ingest: corpus folder → cleaned documents → chunks → vectors → index.

Unchanged files are carried over from the live index without being read again; changed
and new files are re-chunked; deleted files drop out. Vectors come from the embedding
cache when the same text was embedded before, so only new text costs model time.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable

from rag.errors import REBUILD, CorpusError, IndexCorruptError
from rag.ingest.chunking import default_splitter
from rag.ingest.corpus import ARTICLE_FORMATS, CorpusScan, is_html, scan_corpus
from rag.ingest.embed import batch_texts, embed_on_engine, embed_with_cache, prune_cache
from rag.ingest.engine import Engine
from rag.ingest.plan import materialise, plan_ingest
from rag.ingest.report import IngestReport, Progress
from rag.ingest.spool import ArticleSpool
from rag.ingest.webpage import HTML_READER
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.bm25 import TermCounts
from rag.store.generations import GenerationWriter, read_manifest, remove_stale
from rag.store.index_store import IndexStore
from rag.store.lock import index_lock
from rag.store.manifest import FORMAT_VERSION, Manifest, check_compatible
from rag.store.vectors.faiss_factory import auto_factory
from rag.store.vectors.registry import parse_vector_store, vector_writer
from rag.types import Chunk, Document

log = logging.getLogger(__name__)


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
        raise CorpusError(f"The corpus folder {settings.corpus_dir} holds no {ARTICLE_FORMATS} "
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
        elif previous is not None and not previous.has_links:
            log.info("the index was written before articles kept their url and author: every file is read again")
        elif previous is not None and previous.manifest.html_reader != HTML_READER and any(map(is_html, scan.files)):
            log.info("the index's .html articles were read by BeautifulSoup: they are read again, by trafilatura")

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
def _update(settings: Settings, embedder: Embedder, scan: CorpusScan, previous: IndexStore | None,
            chunking: dict, progress: Progress | None, t0: float, spool: ArticleSpool, fresh: bool = False,
            engine: Engine | None = None) -> IngestReport:
    """Plan (what to index, what is skipped or repeats another article), then — unless
    nothing changed — write the new generation batch by batch (``fresh``: the vector
    store's copy too, from scratch). The articles the planning cleans past the
    read-ahead wait in ``spool``."""
    report = IngestReport()
    splitter = default_splitter(settings.chunk_size, settings.chunk_overlap)
    plan = plan_ingest(settings, scan, previous, chunking, splitter, report, progress, spool, engine)
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
            and (previous.manifest.html_reader == HTML_READER or not any(map(is_html, scan.files)))
            and previous.has_bm25_file):  # else written again, with it
        remove_stale(settings.index_dir, keep=previous.path.name)  # leftovers of a killed ingest
        report.seconds = time.perf_counter() - t0
        return report

    manifest = Manifest(
        embedding_model=embedder.name, dim=embedder.dim, faiss_factory=factory,
        chunking=chunking, files={p.source: p.sha256 for p in plan},
        skipped={s: str(v) for s, v in report.skipped.items()}, duplicates=duplicates,
        documents=len(plan), chunks=report.chunks, vector_store=str(store), html_reader=HTML_READER,
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
            batch.append(materialise(item, previous, spool))
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


def _write_batch(batch: list[tuple[Document, list[Chunk], list[int] | None]], writer: GenerationWriter,
                 embedder: Embedder, settings: Settings, report: IngestReport, mark: int,
                 progress: Progress | None, done: int, previous: IndexStore | None) -> int:
    """Embed one batch of articles' chunks and sentences (cache first) and append them to
    the new generation; returns the chunks written so far."""
    chunks, texts, spans, sentence_texts = batch_texts([(d, cs) for d, cs, _ in batch], settings)

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
