"""Incremental ingest: corpus folder → cleaned documents → chunks → vectors → index.

Unchanged files are carried over from the live index without being read again; changed
and new files are re-chunked; deleted files drop out. Vectors come from the embedding
cache when the same text was embedded before, so only new text costs model time.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .chunking import chunk_document, default_splitter
from .corpus import CorpusScan, load_document, scan_corpus
from .embedding import Embedder
from .errors import CorpusError, RagError
from .factory import auto_factory
from .index import (
    FORMAT_VERSION,
    EmbeddingCache,
    IndexStore,
    Manifest,
    check_compatible,
    read_manifest,
    write_generation,
)
from .lang.dates import format_date
from .settings import Settings
from .text import sentence_spans
from .types import Chunk, Document

log = logging.getLogger(__name__)

#: progress(done, total, what) — called while embedding; the CLI draws a bar with it
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
    chunks: int = 0
    embedded: int = 0          # chunk and sentence texts that needed the model (cache misses)
    wrote_index: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed",
                 f"{len(self.removed)} removed", f"{len(self.unchanged)} unchanged"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
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
           progress: Progress | None = None) -> IngestReport:
    """Bring ``settings.index_dir`` up to date with ``settings.corpus_dir``."""
    t0 = time.perf_counter()
    scan = scan_corpus(settings.corpus_dir, follow_links=settings.follow_links, max_bytes=settings.max_file_bytes)
    if not scan.files:
        raise CorpusError(f"The corpus folder {settings.corpus_dir} holds no .txt, .md or .html "
                          "article. Add articles, or point --corpus at another folder."
                          + "".join(f" Skipped: {reason}" for reason in scan.refused.values()))
    chunking = {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
                "min_chunk_chars": settings.min_chunk_chars, "embed_title": settings.embed_title,
                "splitter": "recursive-sentence-v2"}

    previous: IndexStore | None = None
    live = read_manifest(settings.index_dir)
    if live is not None and live.format != FORMAT_VERSION:
        log.warning("the index in %s has an older format; rebuilding it", settings.index_dir)
    elif live is not None and not rebuild:
        check_compatible(live, settings.index_dir, embedder.name, embedder.dim)
        previous = IndexStore.load(settings.index_dir)
        if previous.manifest.chunking != chunking:
            log.info("chunking settings changed: every file is re-chunked")

    try:
        return _update(settings, embedder, scan, previous, chunking, progress, t0)
    finally:
        if previous is not None:
            previous.close()


def _update(settings: Settings, embedder: Embedder, scan: CorpusScan, previous: IndexStore | None,
            chunking: dict, progress: Progress | None, t0: float) -> IngestReport:
    old_files = previous.manifest.files if previous else {}
    old_skipped = {s: Skipped.parse(v) for s, v in previous.manifest.skipped.items()} if previous else {}
    reusable = previous is not None and previous.manifest.chunking == chunking
    report = IngestReport()
    for source, reason in scan.refused.items():  # links out of the corpus, files over the size limit
        report.skipped[source] = Skipped("", reason)
    documents: list[Document] = []
    chunks: list[Chunk] = []
    splitter = default_splitter(settings.chunk_size, settings.chunk_overlap)
    by_source = {d.source: d for d in previous.documents()} if previous else {}
    for source, sha in scan.hashes.items():
        if reusable and old_files.get(source) == sha and source in by_source:
            doc = by_source[source]
            report.unchanged.append(source)
            assert previous is not None  # by_source is empty without it
            doc_chunks = previous.chunks_of(doc.doc_id)
        elif source in old_skipped and old_skipped[source].sha256 == sha:
            report.skipped[source] = old_skipped[source]  # same bad file as last time
            continue
        else:
            try:
                doc = load_document(scan.files[source], source, sha, max_bytes=settings.max_file_bytes)
            except CorpusError as exc:
                log.warning("%s", exc)
                report.skipped[source] = Skipped(sha, str(exc))
                continue
            except OSError as exc:
                log.warning("%s: cannot be read (%s); skipped.", source, exc)
                report.skipped[source] = Skipped(sha, f"{source}: cannot be read ({exc})")
                continue
            (report.changed if source in old_files else report.added).append(source)
            doc_chunks = chunk_document(doc, splitter, settings.min_chunk_chars)
        documents.append(doc)
        chunks.extend(doc_chunks)
    report.removed = sorted(set(old_files) - set(scan.hashes))
    report.chunks = len(chunks)

    if not documents:
        raise CorpusError(f"No readable article in {settings.corpus_dir}: "
                          + "; ".join(s.reason for s in report.skipped.values()))
    factory = (auto_factory(len(chunks), embedder.dim) if settings.faiss_factory == "auto"
               else settings.faiss_factory)
    nothing_new = (previous is not None and reusable and not report.added and not report.changed
                   and not report.removed and previous.manifest.faiss_factory == factory
                   and previous.manifest.skipped == {s: str(v) for s, v in report.skipped.items()})
    if nothing_new:
        report.seconds = time.perf_counter() - t0
        return report

    docs_by_id = {d.doc_id: d for d in documents}
    texts = [embedding_text(c, docs_by_id[c.doc_id], settings.embed_title) for c in chunks]
    spans = [list(sentence_spans(docs_by_id[c.doc_id].text, c.start, c.end)) for c in chunks]
    sentence_texts = [docs_by_id[c.doc_id].text[a:b] for c, sp in zip(chunks, spans) for a, b in sp]
    vectors, sentence_vectors, report.embedded = embed_with_cache(
        texts, sentence_texts, embedder, settings, progress)
    sentences, pos = [], 0
    for sp in spans:
        sentences.append((sp, sentence_vectors[pos:pos + len(sp)]))
        pos += len(sp)
    manifest = Manifest(
        embedding_model=embedder.name, dim=embedder.dim, faiss_factory=factory,
        chunking=chunking, files={d.source: d.sha256 for d in documents},
        skipped={s: str(v) for s, v in report.skipped.items()},
        documents=len(documents), chunks=len(chunks),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    write_generation(settings.index_dir, manifest, documents, chunks, vectors, sentences)
    report.wrote_index = True
    report.seconds = time.perf_counter() - t0
    return report


def embed_with_cache(texts: list[str], sentence_texts: list[str], embedder: Embedder,
                     settings: Settings, progress: Progress | None = None
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectors for chunk texts and sentence texts, in order; only cache misses go through
    the model, committed batch by batch so a crash loses none of the work done."""
    cache = EmbeddingCache(settings.index_dir / "embeddings.sqlite")
    try:
        all_texts = texts + sentence_texts
        keys = [hashlib.sha256(f"{embedder.name}\0{t}".encode()).hexdigest() for t in all_texts]
        found = cache.get_many(keys)
        missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
        batch = max(1, settings.embed_batch_size)
        if progress:
            progress(0, len(missing), "embedding")
        for i in range(0, len(missing), batch):
            idx = missing[i:i + batch]
            vecs = embedder.embed_passages([all_texts[j] for j in idx])
            fresh = {keys[j]: v for j, v in zip(idx, vecs)}
            cache.put_many(fresh)
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
