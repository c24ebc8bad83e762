"""Embedding an ingest's texts through the embedding cache, here or on an engine: only
text the cache does not hold goes through the model, committed batch by batch."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from rag.errors import RagError
from rag.ingest.engine import ENGINE_ROUND_TEXTS, Engine
from rag.ingest.plan import Planned, materialise
from rag.ingest.report import Progress
from rag.ingest.spool import ArticleSpool
from rag.lang.dates import format_date
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.embedding_cache import CACHE, EmbeddingCache
from rag.store.index_store import IndexStore
from rag.text import sentence_spans
from rag.types import Chunk, Document

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def embedding_text(chunk: Chunk, doc: Document, with_title: bool) -> str:
    """What the model sees for a chunk: title, outlet and date give a chunk its context
    (a question about "April 2021" or "RT" can then find it)."""
    if not with_title:
        return chunk.text
    header = [x for x in (doc.outlet, format_date(doc.date, "fr")) if x]
    if doc.title and not chunk.text.startswith(doc.title):
        header.append(doc.title)
    return " — ".join(header) + "\n" + chunk.text if header else chunk.text


def batch_texts(batch: Sequence[tuple[Document, list[Chunk]]], settings: Settings
                 ) -> tuple[list[Chunk], list[str], list[list[tuple[int, int]]], list[str]]:
    """A batch's chunks, the texts embedded for them, their sentences' offsets and texts."""
    docs = {d.doc_id: d for d, _ in batch}
    chunks = [c for _, cs in batch for c in cs]
    texts = [embedding_text(c, docs[c.doc_id], settings.embed_title) for c in chunks]
    spans = [list(sentence_spans(docs[c.doc_id].text, c.start, c.end)) for c in chunks]
    sentence_texts = [docs[c.doc_id].text[a:b] for c, sp in zip(chunks, spans) for a, b in sp]
    return chunks, texts, spans, sentence_texts


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


def embed_on_engine(plan: list[Planned], previous: IndexStore | None, spool: ArticleSpool,
                    settings: Settings, embedder: Embedder, engine: Engine, mark: int,
                    progress: Progress | None) -> int:
    """Embed, on the engine, the chunk and sentence texts of ``plan`` that the cache does not
    hold, and put their vectors in the cache as they come back (a crash keeps them);
    returns how many texts the engine embedded. The writing pass then finds every vector
    in the cache. A damaged cache is dropped and the work done again without it."""
    path = settings.index_dir / CACHE
    return _with_cache(path, lambda: _embed_on_engine(plan, previous, spool, settings, embedder,
                                                      engine, mark, progress, path))


def _embed_on_engine(plan: list[Planned], previous: IndexStore | None, spool: ArticleSpool,
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
            doc, chunks, _ = materialise(item, previous, spool)
            _, texts, _, sentence_texts = batch_texts([(doc, chunks)], settings)
            pending.update((cache_key(embedder, t), t) for t in texts + sentence_texts)
            if len(pending) >= ENGINE_ROUND_TEXTS:
                embedded += flush()
        if pending:
            embedded += flush()
        return embedded
    finally:
        cache.close()
