"""The on-disk index: FAISS vectors, a SQLite chunk store and a JSON manifest.

Layout of ``index/``::

    CURRENT              name of the live generation, replaced atomically
    gen-<n>/manifest.json  embedding model, dimension, FAISS factory, hash of every file
    gen-<n>/store.sqlite   documents and chunks (row i = FAISS id i); no pickle anywhere
    gen-<n>/vectors.faiss
    embeddings.sqlite    cache of vectors by content hash, so unchanged text is never
                         embedded twice (and a crashed ingest resumes where it stopped)

A new generation is written beside the live one and only then made current, so a crash
at any point leaves the previous index loadable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np

from .errors import IndexMismatchError, IndexMissingError, RagError
from .factory import search_parameters
from .lang import content_terms
from .types import Chunk, Document

FORMAT_VERSION = 2
CURRENT = "CURRENT"


class EmbeddingCache:
    """Vectors keyed by a hash of (model, embedded text); SQLite, committed per batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = list(keys[i:i + 500])
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                 [(k, int(v.shape[0]), np.asarray(v, np.float32).tobytes())
                                  for k, v in items.items()])

    def close(self) -> None:
        self._db.close()


@dataclass
class Manifest:
    embedding_model: str
    dim: int
    faiss_factory: str
    chunking: dict
    files: dict[str, str]            # source -> sha256 of the file
    skipped: dict[str, str]          # source -> why it was not indexed
    documents: int
    chunks: int
    created: str
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_manifest(index_dir: Path) -> Manifest | None:
    """The live generation's manifest, or None when there is no index yet."""
    gen = current_generation(index_dir)
    return Manifest.from_json((gen / "manifest.json").read_text()) if gen else None


class IndexStore:
    """A loaded generation: search vectors, then fetch chunks and documents by row."""

    def __init__(self, path: Path, manifest: Manifest, index: faiss.Index) -> None:
        self.path = path
        self.manifest = manifest
        self.index = index
        self._db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro", uri=True,
                                   check_same_thread=False)
        self._lock = threading.Lock()
        self.document = lru_cache(maxsize=4096)(self._document)

    @classmethod
    def load(cls, index_dir: Path, embedding_model: str | None = None, dim: int | None = None) -> IndexStore:
        """Open the current generation, refusing one built with another model or dimension."""
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexMissingError(f"No index in {index_dir}. Build it with: rag ingest")
        manifest = Manifest.from_json((gen / "manifest.json").read_text())
        check_compatible(manifest, index_dir, embedding_model, dim)
        index = faiss.read_index(str(gen / "vectors.faiss"))
        params = search_parameters(manifest.faiss_factory, index.ntotal)
        if params:  # e.g. IVF's nprobe, which a factory string cannot carry
            faiss.ParameterSpace().set_index_parameters(index, params)  # type: ignore[arg-type]  # faiss takes 'nprobe=8'
        return cls(gen, manifest, index)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """``(row, inner product)`` of the ``k`` nearest chunks, best first; only among
        ``rows`` when given (FAISS filters during the search, so a narrow filter still
        gets its ``k`` results)."""
        if self.index.ntotal == 0 or k <= 0 or (rows is not None and len(rows) == 0):
            return []
        params = None
        if rows is not None:
            selector = faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG keyword, not in the stubs
        scores, ids = self.index.search(np.asarray(query, np.float32).reshape(1, -1),
                                        min(k, self.index.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def rows_of(self, doc_ids: Iterable[str]) -> list[int]:
        """FAISS rows of the chunks of these documents."""
        doc_ids = list(doc_ids)
        if not doc_ids:
            return []
        with self._lock:
            found = self._db.execute(f"SELECT row FROM chunks WHERE doc_id IN ({','.join('?' * len(doc_ids))})",
                                     doc_ids).fetchall()
        return [r[0] for r in found]

    def articles(self) -> list[tuple[Document, int]]:
        """Every document with its number of chunks, by source path (without the text)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.doc_id, d.source, '', d.title, d.date, d.outlet, d.sha256, COUNT(c.row) "
                "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id "
                "ORDER BY d.source").fetchall()
        return [(Document(*r[:7]), r[7]) for r in rows]

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        if not rows:
            return []
        with self._lock:
            got = {r[0]: Chunk(*r[1:]) for r in self._db.execute(
                f"SELECT row, chunk_id, doc_id, start, end, text FROM chunks WHERE row IN "
                f"({','.join('?' * len(rows))})", list(rows))}
        return [got[r] for r in rows]

    def sentences(self, rows: Sequence[int]) -> dict[int, tuple[list[tuple[int, int]], np.ndarray]]:
        """Sentence offsets (into the document) and unit vectors of each chunk in ``rows``."""
        if not rows:
            return {}
        with self._lock:
            found = self._db.execute(
                f"SELECT row, spans, vecs FROM sentences WHERE row IN ({','.join('?' * len(rows))})",
                list(rows)).fetchall()
        dim = self.manifest.dim
        return {row: ([tuple(s) for s in json.loads(spans)],
                      np.frombuffer(blob, dtype=np.float16).reshape(-1, dim).astype(np.float32))
                for row, spans, blob in found}

    def known_terms(self, terms: Iterable[str]) -> set[str]:
        """Which of ``terms`` (see :func:`rag.lang.content_terms`) occur in the corpus."""
        terms = list(terms)
        if not terms:
            return set()
        with self._lock:
            rows = self._db.execute(f"SELECT term FROM vocabulary WHERE term IN ({','.join('?' * len(terms))})",
                                    terms).fetchall()
        return {r[0] for r in rows}

    def _document(self, doc_id: str) -> Document:
        with self._lock:
            row = self._db.execute("SELECT doc_id, source, text, title, date, outlet, sha256 "
                                   "FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return Document(*row)

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._db.execute("SELECT doc_id, source, text, title, date, outlet, sha256 "
                                    "FROM documents ORDER BY source").fetchall()
        return [Document(*r) for r in rows]

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        with self._lock:
            rows = self._db.execute("SELECT row, chunk_id, doc_id, start, end, text FROM chunks ORDER BY row").fetchall()
        for r in rows:
            yield r[0], Chunk(*r[1:])

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        with self._lock:
            rows = self._db.execute("SELECT chunk_id, doc_id, start, end, text FROM chunks "
                                    "WHERE doc_id = ? ORDER BY start", (doc_id,)).fetchall()
        return [Chunk(*r) for r in rows]

    def close(self) -> None:
        self._db.close()


def check_compatible(manifest: Manifest, index_dir: Path, embedding_model: str | None,
                     dim: int | None) -> None:
    if manifest.format != FORMAT_VERSION:
        raise IndexMismatchError(f"The index in {index_dir} has format {manifest.format}; this "
                                 f"version reads {FORMAT_VERSION}. Rebuild it: rag ingest --rebuild")
    if (embedding_model and manifest.embedding_model != embedding_model) or (dim and manifest.dim != dim):
        raise IndexMismatchError(
            f"The index in {index_dir} was built with embedding model {manifest.embedding_model} "
            f"(dimension {manifest.dim}), but the current model is {embedding_model} (dimension {dim}). "
            f"Rebuild it with `rag ingest --rebuild`, or set RAG_EMBEDDING_MODEL back to the "
            f"index's model.")


def current_generation(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / CURRENT
    if not pointer.exists():
        return None
    gen = Path(index_dir) / pointer.read_text().strip()
    return gen if (gen / "manifest.json").exists() else None


def build_faiss(vectors: np.ndarray, factory: str) -> faiss.Index:
    """An inner-product FAISS index from a factory string (``Flat``, ``HNSW32``, ``IVF1024,PQ32``…)."""
    dim = vectors.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise RagError(f"Invalid FAISS factory string {factory!r}: {exc}") from exc
    if not index.is_trained:
        lists = re.match(r"IVF(\d+)", factory)
        if len(vectors) == 0 or (lists and len(vectors) < 39 * int(lists.group(1))):
            raise RagError(f"FAISS index {factory!r} needs at least {39 * int(lists.group(1)) if lists else 1} "
                           f"training vectors and the corpus has {len(vectors)} chunks: use "
                           f"RAG_FAISS_FACTORY=auto (or Flat, or fewer IVF lists).")
        index.train(vectors)
    if len(vectors):
        index.add(vectors)
    return index


def write_generation(index_dir: Path, manifest: Manifest, documents: Iterable[Document],
                     chunks: Sequence[Chunk], vectors: np.ndarray,
                     sentences: Sequence[tuple[list[tuple[int, int]], np.ndarray]]) -> Path:
    """Write a complete generation beside the live one, then switch ``CURRENT`` to it.

    ``sentences[i]`` holds the sentence offsets of chunk ``i`` and their vectors (stored
    as float16), used to rerank passages and to pick the sentences that answer.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    try:
        db = sqlite3.connect(tmp / "store.sqlite")
        with db:
            db.execute("CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT, text TEXT, "
                       "title TEXT, date TEXT, outlet TEXT, sha256 TEXT)")
            db.execute("CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, "
                       "doc_id TEXT, start INTEGER, end INTEGER, text TEXT)")
            db.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
            db.execute("CREATE TABLE sentences (row INTEGER PRIMARY KEY, spans TEXT, vecs BLOB)")
            db.execute("CREATE TABLE vocabulary (term TEXT PRIMARY KEY, df INTEGER)")
            db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(d.doc_id, d.source, d.text, d.title, d.date, d.outlet, d.sha256)
                            for d in documents])
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
                           [(i, c.chunk_id, c.doc_id, c.start, c.end, c.text) for i, c in enumerate(chunks)])
            db.executemany("INSERT INTO sentences VALUES (?, ?, ?)",
                           [(i, json.dumps(spans), np.asarray(vecs, np.float16).tobytes())
                            for i, (spans, vecs) in enumerate(sentences)])
            df: Counter[str] = Counter()
            for c in chunks:
                df.update(content_terms(c.text))
            db.executemany("INSERT INTO vocabulary VALUES (?, ?)", df.items())
        db.close()
        faiss.write_index(build_faiss(vectors, manifest.faiss_factory), str(tmp / "vectors.faiss"))
        (tmp / "manifest.json").write_text(manifest.to_json())
        _fsync_dir(tmp)
        final = index_dir / name
        os.replace(tmp, final)
        pointer_tmp = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:6]}"
        pointer_tmp.write_text(name + "\n")
        with open(pointer_tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale(index_dir, keep=name)
    return final


def remove_stale(index_dir: Path, keep: str) -> None:
    """Delete old generations and leftovers of crashed builds."""
    for path in Path(index_dir).iterdir():
        if path.is_dir() and (path.name.startswith("gen-") or path.name.startswith(".tmp-gen-")) \
                and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
