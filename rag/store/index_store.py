"""A loaded generation (:class:`IndexStore`): its vectors searched, its chunks, documents,
sentences and vocabulary read by row from its SQLite store."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np

from rag.errors import REBUILD, IndexCorruptError, IndexMissingError, RagError
from rag.errors import short as _short
from rag.store.bm25 import BM25_FILE, TOKENIZER, BM25Index
from rag.store.generations import current_generation
from rag.store.manifest import OPTIONAL_FILES, Manifest, check_compatible, file_checksum
from rag.store.vectors.base import VectorStore
from rag.store.vectors.registry import generation_files, open_vectors
from rag.types import Chunk, Document, Filters

log = logging.getLogger(__name__)

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
        # a generation written before chunks kept their language (told from their words when used)
        self._has_language = "language" in {r[1] for r in self._db.execute("PRAGMA table_info(chunks)")}
        # a generation written before documents kept their url and author (read as None)
        self.has_links = {"url", "author"} <= {r[1] for r in self._db.execute("PRAGMA table_info(documents)")}
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
        links = "d.url, d.author" if self.has_links else "NULL, NULL"
        rows = self._fetch(
            f"SELECT d.doc_id, d.source, '', d.title, d.date, d.outlet, d.sha256, {links}, COUNT(c.row) "
            "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.doc_id GROUP BY d.doc_id "
            "ORDER BY d.source")
        return [(Document(*r[:9]), r[9]) for r in rows]

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        if not rows:
            return []
        got = {r[0]: Chunk(*r[1:]) for r in self._fetch(
            f"SELECT row, {self._chunk_columns} FROM chunks WHERE row IN ({','.join('?' * len(rows))})", rows)}
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
        rows = self._fetch(f"SELECT {self._document_columns} FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return Document(*rows[0])

    def documents(self) -> list[Document]:
        rows = self._fetch(f"SELECT {self._document_columns} FROM documents ORDER BY source")
        return [Document(*r) for r in rows]

    @property
    def _document_columns(self) -> str:
        return "doc_id, source, text, title, date, outlet, sha256" + (", url, author" if self.has_links else "")

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        rows = self._fetch(f"SELECT row, {self._chunk_columns} FROM chunks ORDER BY row")
        for r in rows:
            yield r[0], Chunk(*r[1:])

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._fetch(f"SELECT {self._chunk_columns} FROM chunks WHERE doc_id = ? ORDER BY start", (doc_id,))
        return [Chunk(*r) for r in rows]

    @property
    def _chunk_columns(self) -> str:
        return "chunk_id, doc_id, start, end, text" + (", language" if self._has_language else "")


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
