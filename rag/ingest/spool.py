"""Cleaned articles kept on disk between an ingest's passes.

An ingest needs each new or changed article three times: to plan (find duplicates, count
chunks), to list its texts for an engine's embedding, and to write it. The ones that fit
in the read-ahead (:data:`READ_AHEAD_CHARS`) stay in memory; the others wait
here, so that every article is cleaned and chunked once, whatever the corpus's size,
while the ingesting process holds one article of them at a time.

The spool is a SQLite file in the index's folder (a ``.tmp-plan-…`` name that
:func:`rag.store.generations.remove_stale` clears if a killed ingest left one), written without a
journal (it lives only as long as its ingest), holding each article as zlib-compressed
JSON (:func:`rag.ingest.chunking.chunked_payload`): never pickle.

>>> import tempfile
>>> from rag.ingest.chunking import chunk_document
>>> from rag.types import Document
>>> doc = Document("d", "d.txt", "Une phrase. " * 100)
>>> with tempfile.TemporaryDirectory() as folder, ArticleSpool(Path(folder)) as spool:
...     spool.put(doc, chunk_document(doc))
...     spool.get("d.txt") == (doc, chunk_document(doc)), len(spool)
(True, 1)
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
import zlib
from pathlib import Path
from types import TracebackType

from rag.ingest.chunking import chunked_payload, from_chunked_payload
from rag.store.generations import SPOOL_PREFIX
from rag.types import Chunk, Document

#: zlib's fastest level: almost the default level's compression, faster, and a small share
#: of what cleaning an article again costs (benchmarks/README.md#spool-compression-level).
LEVEL = 1


#: Cleaned articles (with their chunks, about as much text again) kept in memory from the
#: planning pass for the writing pass, up to this many characters of article text in all;
#: the others wait on disk (:class:`rag.ingest.spool.ArticleSpool`). Either way an article is
#: cleaned and chunked once.
READ_AHEAD_CHARS = 16 << 20


class ArticleSpool:
    """Articles (a document and its chunks) by source, on disk until :meth:`close`; the file
    is made at the first :meth:`put`, so an ingest that keeps everything in memory writes
    none."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / f"{SPOOL_PREFIX}{uuid.uuid4().hex[:12]}.sqlite"
        self._db: sqlite3.Connection | None = None

    def put(self, doc: Document, chunks: list[Chunk]) -> None:
        """Keep ``doc`` and its ``chunks`` under ``doc.source`` (replacing any before)."""
        if self._db is None:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE articles (source TEXT PRIMARY KEY, payload BLOB)")
        data = zlib.compress(json.dumps(chunked_payload(doc, chunks)).encode("utf-8"), LEVEL)
        self._db.execute("INSERT OR REPLACE INTO articles VALUES (?, ?)", (doc.source, data))

    def get(self, source: str) -> tuple[Document, list[Chunk]]:
        """The document and chunks :meth:`put` kept for ``source`` (``KeyError`` if none)."""
        row = None if self._db is None else self._db.execute(
            "SELECT payload FROM articles WHERE source = ?", (source,)).fetchone()
        if row is None:
            raise KeyError(source)
        return from_chunked_payload(json.loads(zlib.decompress(row[0])))

    def __len__(self) -> int:
        return 0 if self._db is None else int(self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    def close(self) -> None:
        """Delete the spool's file."""
        if self._db is not None:
            self._db.close()
            self._db = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> ArticleSpool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
