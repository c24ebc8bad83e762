"""Index generations: a new one is written beside the live one (:class:`GenerationWriter`),
then ``CURRENT`` is switched to it atomically; a crash at any point leaves the previous
one loadable. What ``CURRENT`` names, and the sweep of old generations."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rag.errors import REBUILD, IndexCorruptError
from rag.errors import short as _short
from rag.lang import content_terms
from rag.store.bm25 import BM25_FILE, TOKENIZER, BM25Builder, TermCounts
from rag.store.manifest import Manifest, file_checksum
from rag.store.vectors.base import VectorFile, VectorWriter
from rag.store.vectors.faiss import FaissWriter
from rag.types import Chunk, Document

CURRENT = "CURRENT"
#: What an ingest's article spool (:class:`rag.ingest.spool.ArticleSpool`) is named from: a
#: leftover of a killed ingest that :func:`remove_stale` deletes.
SPOOL_PREFIX = ".tmp-plan-"
#: What a generation folder is called; anything else in CURRENT is damage, never a path.
GENERATION_RE = re.compile(r"gen-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


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


def read_manifest(index_dir: Path) -> Manifest | None:
    """The live generation's manifest, or None when there is no index yet.

    Raises :class:`IndexCorruptError` when ``CURRENT`` or the manifest is damaged."""
    gen = current_generation(index_dir)
    return Manifest.load(gen / "manifest.json") if gen else None


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
                             "title TEXT, date TEXT, outlet TEXT, sha256 TEXT, url TEXT, author TEXT)")
            self._db.execute("CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, "
                             "doc_id TEXT, start INTEGER, end INTEGER, text TEXT, language TEXT)")
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
            self._db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(d.doc_id, d.source, d.text, d.title, d.date, d.outlet, d.sha256,
                                   d.url, d.author) for d in documents])
            self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(first + i, c.chunk_id, c.doc_id, c.start, c.end, c.text, c.language)
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
