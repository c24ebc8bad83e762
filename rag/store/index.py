"""The on-disk index: FAISS vectors, a SQLite chunk store and a JSON manifest.

Layout of ``index/``::

    CURRENT              name of the live generation, replaced atomically
    gen-<n>/manifest.json  embedding model, dimension, FAISS factory, vector store, hash of
                           every article, size and checksum of the files below
    gen-<n>/store.sqlite   documents and chunks (row i = FAISS id i); no pickle anywhere
    gen-<n>/vectors.faiss  (FAISS only: with Milvus the vectors are in its collection,
                           see rag.store.vectors.base)
    gen-<n>/bm25.npz       BM25's term counts, plain arrays (see rag.store.bm25)
    embeddings.sqlite    cache of vectors by content hash, so unchanged text is never
                         embedded twice (and a crashed ingest resumes where it stopped)
    .ingest.lock         held (flock) by the one process writing the index

A new generation is written beside the live one and only then made current, so a crash
at any point leaves the previous index loadable. A damaged file (truncated, corrupt,
missing) is detected when the generation is loaded, and reported by name with the
command that repairs it: ``rag ingest --rebuild``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np

from rag.errors import (
    REBUILD,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexNotWritableError,
    RagError,
)
from rag.errors import short as _short
from rag.lang import content_terms
from rag.store.bm25 import BM25_FILE, TOKENIZER, BM25Builder, BM25Index, TermCounts
from rag.store.vectors.base import VectorFile, VectorStore, VectorWriter
from rag.store.vectors.faiss import FaissWriter
from rag.store.vectors.registry import generation_files, open_vectors
from rag.types import Chunk, Document, Filters

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
CURRENT = "CURRENT"
CACHE = "embeddings.sqlite"
LOCK = ".ingest.lock"
#: What an ingest's article spool (:class:`rag.ingest.spool.ArticleSpool`) is named from: a
#: leftover of a killed ingest that :func:`remove_stale` deletes.
SPOOL_PREFIX = ".tmp-plan-"
#: What a generation folder is called; anything else in CURRENT is damage, never a path.
GENERATION_RE = re.compile(r"gen-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
#: Files a generation written by an older version lacks; checked like the others when
#: its manifest records them (a generation without BM25 file builds BM25 in memory).
OPTIONAL_FILES = (BM25_FILE,)
#: Files up to this size are hashed whole when a generation is loaded; bigger ones by
#: sampled blocks (their size is always checked). SHA-256 ran at 1.3 GB/s here
#: (2026-11-26), so the whole check of a 512 MiB file costs about 0.4 s at load.
VERIFY_FULL_BYTES = 512 << 20
_SAMPLE_BLOCKS, _BLOCK = 64, 1 << 20


class EmbeddingCache:
    """Vectors keyed by a hash of (model, embedded text); SQLite, committed per batch.

    Each row also records the last ingest that used it (``used``), so that the rows no
    live text uses can be pruned without holding every key in memory. The cache is only
    ever a shortcut: when it cannot be read (a damaged file), it is dropped with a
    warning and started afresh (see :meth:`open`), so an ingest never fails because of it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL never corrupts the file; a power cut may lose the last
        # batches, which the next ingest embeds again. FULL made a commit per batch wait on
        # the disk (a fast model's ingest spent most of its time there).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB, "
                         "used INTEGER DEFAULT 0)")
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(vectors)")}
        if "used" not in columns:  # a cache written before pruning existed
            self._db.execute("ALTER TABLE vectors ADD COLUMN used INTEGER DEFAULT 0")
        self._db.execute("SELECT count(*) FROM (SELECT key FROM vectors LIMIT 1)").fetchone()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> EmbeddingCache:
        """The cache at ``path``, or a new empty one when the file there is damaged."""
        try:
            return cls(path)
        except sqlite3.DatabaseError as exc:
            cls.drop(path, exc)
            return cls(path)

    @staticmethod
    def drop(path: Path, why: BaseException) -> None:
        """Delete a damaged cache (its WAL and shared-memory files too)."""
        log.warning("the embedding cache %s cannot be read (%s); starting a new one "
                    "(texts are embedded again)", path, why)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()

    def get_many(self, keys: Sequence[str], mark: int | None = None) -> dict[str, np.ndarray]:
        """The cached vectors of ``keys`` (those there are); ``mark`` records them as used
        by that ingest."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = list(keys[i:i + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
                if mark is not None:
                    with self._db:
                        self._db.execute(f"UPDATE vectors SET used = ? WHERE key IN ({marks})", [mark, *part])
        return found

    def put_many(self, items: dict[str, np.ndarray], mark: int = 0) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                                 [(k, int(v.shape[0]), np.asarray(v, np.float32).tobytes(), mark)
                                  for k, v in items.items()])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def prune(self, mark: int) -> int:
        """Delete every vector the ingest ``mark`` did not use (removed or edited articles,
        other models); returns how many went. The file is compacted when at least half
        of it went."""
        with self._lock:
            before = int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])
            with self._db:
                gone = self._db.execute("DELETE FROM vectors WHERE used IS NOT ?", (mark,)).rowcount
            if gone and gone * 2 >= before:
                self._db.execute("VACUUM")
        return int(gone)

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
    # file of the generation -> {"bytes": size, "sha256": checksum}; see verify_generation
    checksums: dict[str, dict] = field(default_factory=dict)
    # source -> "sha256:source it repeats" (same cleaned text; indexed once, as the other)
    duplicates: dict[str, str] = field(default_factory=dict)
    # where the chunk vectors are (RAG_VECTOR_STORE, absolute: see rag.store.vectors.base.VectorStoreSpec)
    # and, for Milvus, the collection holding them
    vector_store: str = "faiss"
    collection: str = ""
    # the tokeniser of the generation's BM25 file (rag.store.bm25.TOKENIZER); "" before it had one
    bm25_tokenizer: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a generation's manifest; a damaged one is an :class:`IndexCorruptError`."""
        try:
            manifest = cls.from_json(path.read_text(encoding="utf-8"))
            if not isinstance(manifest.files, dict) or not isinstance(manifest.chunks, int):
                raise TypeError("unexpected field types")
            return manifest
        except FileNotFoundError:
            raise IndexCorruptError(f"The index manifest {path} is missing. {REBUILD}") from None
        except (ValueError, TypeError, AttributeError, OSError) as exc:
            raise IndexCorruptError(f"The index manifest {path} is damaged ({_short(exc)}). {REBUILD}") from None


def read_manifest(index_dir: Path) -> Manifest | None:
    """The live generation's manifest, or None when there is no index yet.

    Raises :class:`IndexCorruptError` when ``CURRENT`` or the manifest is damaged."""
    gen = current_generation(index_dir)
    return Manifest.load(gen / "manifest.json") if gen else None


def file_checksum(path: Path) -> dict[str, int | str]:
    """``{"bytes": size, "sha256": hex}`` of a file: of all of it up to
    :data:`VERIFY_FULL_BYTES`, else of :data:`_SAMPLE_BLOCKS` blocks spread over it."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= VERIFY_FULL_BYTES:
            for block in iter(lambda: fh.read(_BLOCK), b""):
                digest.update(block)
        else:
            for i in range(_SAMPLE_BLOCKS):
                fh.seek(i * (size - _BLOCK) // (_SAMPLE_BLOCKS - 1))
                digest.update(fh.read(_BLOCK))
    return {"bytes": size, "sha256": digest.hexdigest()}


def verify_generation(gen: Path, manifest: Manifest) -> None:
    """Check the generation's files against the sizes and checksums of its manifest, so
    that a torn or damaged file is reported at load, by name, not after a wrong answer."""
    for name in (*generation_files(manifest), *(f for f in OPTIONAL_FILES if f in manifest.checksums)):
        path = gen / name
        if not path.is_file():
            raise IndexCorruptError(f"The index file {path} is missing. {REBUILD}")
        expected = manifest.checksums.get(name)
        if not expected:  # a generation written before checksums were recorded
            continue
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexCorruptError(f"The index file {path} has {size:,} bytes instead of "
                                    f"{expected.get('bytes'):,} (truncated or damaged). {REBUILD}")
        if file_checksum(path)["sha256"] != expected.get("sha256"):
            raise IndexCorruptError(f"The index file {path} is damaged (its checksum does not match "
                                    f"the manifest's). {REBUILD}")


class IndexStore:
    """A loaded generation: search vectors (its :class:`~rag.store.vectors.base.VectorStore`), then
    fetch chunks and documents by row from its SQLite store."""

    def __init__(self, path: Path, manifest: Manifest, vectors: VectorStore | None = None) -> None:
        """``vectors``: the generation's vectors; by default opened from the store its
        manifest names (Milvus maps its hits to rows through this store)."""
        self.path = path
        self.manifest = manifest
        store = path / "store.sqlite"
        try:
            self._db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, check_same_thread=False)
            self._db.execute("SELECT count(*) FROM chunks").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"The index file {store} cannot be read ({_short(exc)}). {REBUILD}") from None
        self._lock = threading.Lock()
        self.document = lru_cache(maxsize=4096)(self._document)
        self._bm25: BM25Index | None = None
        # BM25 is read on first use: one thread reads it while the others asking wait
        self._bm25_lock = threading.Lock()
        try:
            self.vectors = vectors if vectors is not None else open_vectors(path, manifest, self)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def load(cls, index_dir: Path, embedding_model: str | None = None, dim: int | None = None) -> IndexStore:
        """Open the current generation, refusing one built with another model or dimension,
        and one whose files do not match their manifest (:class:`IndexCorruptError`)."""
        gen = current_generation(index_dir)
        if gen is None:
            raise IndexMissingError(f"No index in {index_dir}. Build it with: rag ingest")
        manifest = Manifest.load(gen / "manifest.json")
        check_compatible(manifest, index_dir, embedding_model, dim)
        verify_generation(gen, manifest)
        return cls(gen, manifest)

    def __len__(self) -> int:
        return self.manifest.chunks  # FAISS's count is checked against it at load

    @property
    def index(self) -> faiss.Index:
        """The FAISS index of a FAISS generation (tests and benchmarks read vectors back)."""
        index = getattr(self.vectors, "index", None)
        if index is None:
            raise AttributeError(f"the vectors of {self.path} are not in FAISS ({self.manifest.vector_store})")
        return index

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Rows of a query on the chunk store; a damaged store is an :class:`IndexCorruptError`."""
        try:
            with self._lock:
                return self._db.execute(sql, list(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"The index file {self.path / 'store.sqlite'} cannot be read "
                                    f"({_short(exc)}). {REBUILD}") from None

    def search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None,
               filters: Filters | None = None) -> list[tuple[int, float]]:
        """``(row, inner product)`` of the ``k`` nearest chunks, best first; only among
        ``rows`` when given, the rows ``filters`` admits (see :meth:`VectorStore.search`)."""
        if len(self) == 0:
            return []
        return self.vectors.search(query, k, rows=rows, filters=filters)

    def text_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """``(row, score)`` of the ``k`` chunks the vector store's own BM25 ranks best (Milvus:
        ``RAG_BM25_BACKEND=milvus``); FAISS has none."""
        search = getattr(self.vectors, "text_search", None)
        if search is None:
            raise RagError("RAG_BM25_BACKEND=milvus needs the index's vectors in Milvus "
                           "(RAG_VECTOR_STORE=milvus:PATH.db or milvus://HOST:19530); with FAISS, "
                           "set RAG_BM25_BACKEND=newsrag.")
        result: list[tuple[int, float]] = search(query, k)
        return result

    def vector(self, row: int) -> np.ndarray | None:
        """The stored vector of a chunk row (None when the store cannot give it back)."""
        return self.vectors.vector(row)

    def rows_of_chunks(self, chunk_ids: Sequence[str]) -> dict[str, int]:
        """The rows of those chunk ids this generation holds."""
        found: dict[str, int] = {}
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i:i + 500])
            found.update(self._fetch(f"SELECT chunk_id, row FROM chunks WHERE chunk_id IN "
                                     f"({','.join('?' * len(part))})", part))
        return found

    def chunk_ids_of(self, rows: Sequence[int]) -> list[str]:
        """The chunk ids of ``rows``, in order."""
        return [c.chunk_id for c in self.chunks(rows)]

    def rows_of(self, doc_ids: Iterable[str]) -> list[int]:
        """FAISS rows of the chunks of these documents."""
        doc_ids = list(doc_ids)
        if not doc_ids:
            return []
        found = self._fetch(f"SELECT row FROM chunks WHERE doc_id IN ({','.join('?' * len(doc_ids))})", doc_ids)
        return [r[0] for r in found]

    def articles(self) -> list[tuple[Document, int]]:
        """Every document with its number of chunks, by source path (without the text)."""
        rows = self._fetch(
            "SELECT d.doc_id, d.source, '', d.title, d.date, d.outlet, d.sha256, COUNT(c.row) "
            "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id "
            "ORDER BY d.source")
        return [(Document(*r[:7]), r[7]) for r in rows]

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        if not rows:
            return []
        got = {r[0]: Chunk(*r[1:]) for r in self._fetch(
            f"SELECT row, chunk_id, doc_id, start, end, text FROM chunks WHERE row IN "
            f"({','.join('?' * len(rows))})", rows)}
        missing = [r for r in rows if r not in got]
        if missing:
            raise IndexCorruptError(f"The index in {self.path} has vectors without chunks (rows "
                                    f"{missing[:3]}). {REBUILD}")
        return [got[r] for r in rows]

    def sentences(self, rows: Sequence[int]) -> dict[int, tuple[list[tuple[int, int]], np.ndarray]]:
        """Sentence offsets (into the document) and unit vectors of each chunk in ``rows``."""
        if not rows:
            return {}
        found = self._fetch(f"SELECT row, spans, vecs FROM sentences WHERE row IN ({','.join('?' * len(rows))})",
                            rows)
        dim = self.manifest.dim
        return {row: ([tuple(s) for s in json.loads(spans)],
                      np.frombuffer(blob, dtype=np.float16).reshape(-1, dim).astype(np.float32))
                for row, spans, blob in found}

    def known_terms(self, terms: Iterable[str]) -> set[str]:
        """Which of ``terms`` (see :func:`rag.lang.content_terms`) occur in the corpus."""
        terms = list(terms)
        if not terms:
            return set()
        rows = self._fetch(f"SELECT term FROM vocabulary WHERE term IN ({','.join('?' * len(terms))})", terms)
        return {r[0] for r in rows}

    def _document(self, doc_id: str) -> Document:
        rows = self._fetch("SELECT doc_id, source, text, title, date, outlet, sha256 "
                           "FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return Document(*rows[0])

    def documents(self) -> list[Document]:
        rows = self._fetch("SELECT doc_id, source, text, title, date, outlet, sha256 FROM documents ORDER BY source")
        return [Document(*r) for r in rows]

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        rows = self._fetch("SELECT row, chunk_id, doc_id, start, end, text FROM chunks ORDER BY row")
        for r in rows:
            yield r[0], Chunk(*r[1:])

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._fetch("SELECT chunk_id, doc_id, start, end, text FROM chunks "
                           "WHERE doc_id = ? ORDER BY start", (doc_id,))
        return [Chunk(*r) for r in rows]

    def chunk_rows_of(self, doc_id: str) -> list[int]:
        """The rows of a document's chunks, in the order of :meth:`chunks_of`."""
        return [r[0] for r in self._fetch("SELECT row FROM chunks WHERE doc_id = ? ORDER BY start", (doc_id,))]

    @property
    def has_bm25_file(self) -> bool:
        """Whether this generation saved its BM25 index (generations written before it was
        saved did not)."""
        return BM25_FILE in self.manifest.checksums and self.manifest.bm25_tokenizer == TOKENIZER

    def bm25(self) -> BM25Index:
        """The generation's BM25 index, read from its file on first use; built in memory
        from the chunks (with a one-line warning) when the generation has none."""
        with self._bm25_lock:
            if self._bm25 is None:
                self._bm25 = self._load_bm25()
            return self._bm25

    def _load_bm25(self) -> BM25Index:
        path = self.path / BM25_FILE
        why = f"{self.path.name} has no BM25 file of this version (it was written by an older one)"
        if self.has_bm25_file:
            try:
                index = BM25Index.load(path)
            except (ValueError, OSError) as exc:
                raise IndexCorruptError(f"The index file {path} cannot be read ({_short(exc)}). {REBUILD}") from None
            if index.n != len(self):
                raise IndexCorruptError(f"The index file {path} holds {index.n} chunks for {len(self)}. {REBUILD}")
            if index.tokenizer == TOKENIZER:
                return index
            why = f"the BM25 file of {self.path.name} was made with another tokeniser ({index.tokenizer})"
        t0 = time.perf_counter()
        index = BM25Index.of_texts(chunk.text for _, chunk in self.iter_chunks())
        log.warning("%s: BM25 built in memory for this process (%d chunks, %.1f s); run `rag ingest` "
                    "once to save it with the index.", why, index.n, time.perf_counter() - t0)
        return index

    def close(self) -> None:
        self._db.close()
        self.vectors.close()


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
    """The live generation's folder; None when there is no index yet (no ``CURRENT``).

    ``CURRENT`` holds a generation's name and nothing else: anything else in it (a path,
    garbage), or a name whose folder is gone, is an :class:`IndexCorruptError`."""
    name = current_name(index_dir)
    if name is None:
        return None
    gen = Path(index_dir) / name
    if not (gen / "manifest.json").is_file():
        raise IndexCorruptError(f"The index manifest {gen / 'manifest.json'} is missing (the generation "
                                f"{Path(index_dir) / CURRENT} names is gone or incomplete). {REBUILD}")
    return gen


def current_name(index_dir: Path) -> str | None:
    """The name ``CURRENT`` holds (one small read: cheap enough to check at every question)."""
    pointer = Path(index_dir) / CURRENT
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorruptError(f"{pointer} cannot be read ({_short(exc)}). {REBUILD}") from None
    name = raw.decode("utf-8", "replace").strip()
    if not GENERATION_RE.fullmatch(name):
        raise IndexCorruptError(f"{pointer} is damaged (it should name an index generation, "
                                f"like gen-20260101-120000-abcdef). {REBUILD}")
    return name


class GenerationWriter:
    """Writes a new generation beside the live one, batch by batch, then switches
    ``CURRENT`` to it (:meth:`commit`) — or leaves no trace (:meth:`abort`).

    Documents, chunks and sentence vectors go to SQLite as they come; chunk vectors are
    appended to a raw float32 file in the temporary folder, from which the vector store is
    written at the end (``vectors``: FAISS, built into the generation, by default; Milvus
    upserts into its collection). Memory stays that of one batch, whatever the corpus's
    size, until FAISS itself is built. Row ``i`` of the chunks table is FAISS id ``i``.

    >>> writer = GenerationWriter(index_dir, dim=384)          # doctest: +SKIP
    >>> writer.add(documents, chunks, vectors, sentences)      # doctest: +SKIP
    >>> writer.commit(manifest)                                # doctest: +SKIP
    """

    def __init__(self, index_dir: Path, dim: int, vectors: VectorWriter | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.vectors = vectors or FaissWriter()
        self.name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.tmp = self.index_dir / f".tmp-{self.name}"
        self.tmp.mkdir()
        self.rows = 0
        self._df: Counter[str] = Counter()
        self._bm25 = BM25Builder(self.tmp)
        self._vectors = open(self.tmp / "vectors.f32", "wb")  # noqa: SIM115 - closed in commit/abort
        self._db = sqlite3.connect(self.tmp / "store.sqlite")
        # a generation is durable once committed (its files are fsynced then); until then a
        # crash discards it whole, so its batches need no journal and no sync
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        with self._db:
            self._db.execute("CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT, text TEXT, "
                             "title TEXT, date TEXT, outlet TEXT, sha256 TEXT)")
            self._db.execute("CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, "
                             "doc_id TEXT, start INTEGER, end INTEGER, text TEXT)")
            self._db.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
            self._db.execute("CREATE TABLE sentences (row INTEGER PRIMARY KEY, spans TEXT, vecs BLOB)")
            self._db.execute("CREATE TABLE vocabulary (term TEXT PRIMARY KEY, df INTEGER)")

    def add(self, documents: Iterable[Document], chunks: Sequence[Chunk], vectors: np.ndarray,
            sentences: Sequence[tuple[list[tuple[int, int]], np.ndarray]],
            terms: TermCounts | None = None) -> None:
        """Append documents and their chunks; ``vectors[i]`` and ``sentences[i]`` (sentence
        offsets into the document, and their vectors, stored as float16) are chunk ``i``'s,
        and so are the BM25 term counts ``terms`` (the chunks are tokenised when not given)."""
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        if terms is None:
            terms = TermCounts.of_texts(c.text for c in chunks)
        if not len(vectors) == len(chunks) == len(sentences) == len(terms):
            raise ValueError("one vector, one sentence list and one set of term counts per chunk")
        first = self.rows
        with self._db:
            self._db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(d.doc_id, d.source, d.text, d.title, d.date, d.outlet, d.sha256)
                                  for d in documents])
            self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
                                 [(first + i, c.chunk_id, c.doc_id, c.start, c.end, c.text)
                                  for i, c in enumerate(chunks)])
            self._db.executemany("INSERT INTO sentences VALUES (?, ?, ?)",
                                 [(first + i, json.dumps(spans), np.asarray(vecs, np.float16).tobytes())
                                  for i, (spans, vecs) in enumerate(sentences)])
        for c in chunks:
            self._df.update(content_terms(c.text))
        self._bm25.add(terms)
        self._vectors.write(vectors.tobytes())
        self.rows += len(chunks)

    def commit(self, manifest: Manifest) -> Path:
        """Write the vectors (build FAISS, or update Milvus), record the checksums in
        ``manifest``, make the generation live and sweep the old ones; returns its folder.
        On any error before the switch no generation is left behind."""
        try:
            with self._db:
                self._db.executemany("INSERT INTO vocabulary VALUES (?, ?)", self._df.items())
            self._db.close()
            self._vectors.close()
            raw = self.tmp / "vectors.f32"
            self.vectors.build(self.tmp, VectorFile(raw, self.rows, self.dim), manifest)
            raw.unlink()
            self._bm25.build().save(self.tmp / BM25_FILE)  # after the vectors: the two never in memory at once
            manifest.bm25_tokenizer = TOKENIZER
            files = ("store.sqlite", *self.vectors.files, BM25_FILE)
            manifest.checksums = {f: file_checksum(self.tmp / f) for f in files}
            (self.tmp / "manifest.json").write_text(manifest.to_json())
            for f in (*files, "manifest.json"):
                _fsync_file(self.tmp / f)
            _fsync_dir(self.tmp)
            final = self.index_dir / self.name
            os.replace(self.tmp, final)
            pointer_tmp = self.index_dir / f".{CURRENT}.{uuid.uuid4().hex[:6]}"
            pointer_tmp.write_text(self.name + "\n")
            _fsync_file(pointer_tmp)
            os.replace(pointer_tmp, self.index_dir / CURRENT)
            _fsync_dir(self.index_dir)
        except BaseException:
            self.abort()
            raise
        self.vectors.switched()
        remove_stale(self.index_dir, keep=self.name)
        return final

    def abort(self) -> None:
        """Drop the unfinished generation."""
        with contextlib.suppress(Exception):
            self._db.close()
        with contextlib.suppress(Exception):
            self._vectors.close()
        with contextlib.suppress(Exception):
            self._bm25.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_generation(index_dir: Path, manifest: Manifest, documents: Iterable[Document],
                     chunks: Sequence[Chunk], vectors: np.ndarray,
                     sentences: Sequence[tuple[list[tuple[int, int]], np.ndarray]]) -> Path:
    """Write a complete generation in one batch (see :class:`GenerationWriter`)."""
    writer = GenerationWriter(index_dir, manifest.dim)
    try:
        writer.add(documents, chunks, vectors, sentences)
    except BaseException:
        writer.abort()
        raise
    return writer.commit(manifest)


def remove_stale(index_dir: Path, keep: str) -> None:
    """Delete old generations and leftovers of crashed builds (half-written generations,
    pointer files never switched, article spools). Only the process holding :func:`index_lock` calls it;
    a server still answering from a deleted generation keeps its open files."""
    for path in Path(index_dir).iterdir():
        if path.name == keep:
            continue
        if path.is_dir() and (path.name.startswith("gen-") or path.name.startswith(".tmp-gen-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and (path.name.startswith(f".{CURRENT}.") or path.name.startswith(SPOOL_PREFIX)):
            with contextlib.suppress(OSError):
                path.unlink()


def not_writable(index_dir: Path, exc: OSError) -> IndexNotWritableError:
    """The error for an index folder that cannot be written (the first write of an
    ingest is its lock file, so this is said before any work)."""
    why = "a read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
    return IndexNotWritableError(
        f"The index folder {index_dir} is not writable ({why}): an ingest writes the index there. "
        "Make it writable, or point --index (or RAG_INDEX_DIR) at a folder you can write.")


@contextlib.contextmanager
def index_lock(index_dir: Path, wait: bool = True,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index's writer lock (an ``flock`` on ``.ingest.lock``) for the block: one
    ingest at a time per index, whichever process or page runs it.

    When another process holds it: wait (``on_wait`` gets a message saying so first), or
    with ``wait=False`` raise :class:`IndexBusyError` at once. The lock goes with the
    process, so a killed ingest never leaves the index locked.
    """
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise not_writable(index_dir, exc) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            message = (f"Another ingest ({holder or 'another process'}) is writing the index in "
                       f"{index_dir}.")
            if not wait:
                raise IndexBusyError(f"{message} Try again when it has finished, or leave out "
                                     "--no-wait to wait for it.") from None
            (on_wait or log.warning)(f"{message} Waiting for it to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}, started {time.strftime('%H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


class LiveIndex:
    """The generation to answer from, following ``CURRENT``.

    :meth:`latest` reads ``CURRENT`` (one small file: cheap at every question); when
    an ingest has switched it, the new generation is loaded once, by the first thread to
    see it (the others go on with the loaded one meanwhile), and shared by every pipeline
    over this index. A question in flight keeps the
    store it started with: stores are never closed under it (the old one is freed when
    the last question holding it is done). While ``CURRENT`` is damaged, or the new
    generation does not load, the loaded one keeps answering (and the log says why, once).
    """

    def __init__(self, store: IndexStore, index_dir: Path, embedding_model: str | None = None,
                 dim: int | None = None) -> None:
        self.store = store
        self.index_dir = Path(index_dir)
        self._model = (embedding_model, dim)
        self._lock = threading.Lock()
        self._failed: str | None = None

    def latest(self, wait: bool = False) -> IndexStore:
        """The generation to answer from; ``wait``: the one ``CURRENT`` names now, waiting
        for another thread that is loading it (what an ingest wants after its switch)."""
        try:
            name = current_name(self.index_dir)
        except RagError:
            name = None
        if name is None or name == self.store.path.name or name == self._failed:
            return self.store
        # One thread loads the new generation; the questions arriving meanwhile are answered
        # from the loaded one rather than wait for it (the switch itself is one assignment).
        if not self._lock.acquire(blocking=wait):
            return self.store
        try:
            if name != self.store.path.name:
                try:
                    self.store = IndexStore.load(self.index_dir, *self._model)
                    log.info("switched to the new index generation %s", name)
                except RagError as exc:
                    self._failed = name
                    log.warning("the new index generation %s does not load (%s); still answering "
                                "from %s", name, exc, self.store.path.name)
        finally:
            self._lock.release()
        return self.store

    def close(self) -> None:
        self.store.close()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
