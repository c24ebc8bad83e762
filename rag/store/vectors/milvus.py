"""Milvus as the vector store: ``RAG_VECTOR_STORE=milvus:PATH.db`` (Milvus Lite, a local
database run inside this process) or ``milvus://HOST:19530`` (a Milvus server or cluster).
Both go through the same ``pymilvus`` ``MilvusClient`` calls; ``pip install
'newsrag[scale]'`` installs both packages.

Design (see :mod:`rag.store.vectors.base` for what stays in the generation's SQLite store):

* **One collection per index folder**, named from the folder's path
  (:func:`collection_name`) and recorded in every manifest. Its entities are the live
  chunks, keyed by chunk id, with the chunk's metadata — document id, start and end
  offsets, title, date, outlet, the first and last day the date covers (what a date filter
  compares) — a fingerprint of all that and of the vector, and the vector (inner product;
  vectors are unit length, so it is the cosine).
* **Incremental.** Unlike FAISS, nothing is rebuilt: when a generation is committed,
  :class:`MilvusWriter` lists the collection's chunk ids and fingerprints, upserts the
  chunks that are new or whose fingerprint differs (a changed article: new text, moved
  offsets, a new title), *then* the generation is switched, *then* the chunks no article
  holds any more are deleted. It compares with the collection itself rather than with the
  previous generation, so a crash at any point (or a collection edited by hand) leaves
  at worst extra entities, which the next ingest deletes; ``rag ingest --rebuild`` drops
  the collection and fills it again (from the embedding cache: no text is embedded twice).
* **Generations.** Between the upsert and the delete the collection holds the chunks of
  both generations. A search keeps only the hits whose chunk id the generation's own
  SQLite store holds (and reads their text and offsets from it), asking Milvus for more
  when that leaves fewer than ``k``: a question in flight on the old generation quotes the
  old text, as with FAISS. Its scores may come from the new vectors of a chunk whose title
  changed, and once the delete ran, an old generation no longer finds the chunks that went.
* **Filters** are pushed down: the articles as ``doc_id in [...]``, a date range as
  string comparisons on the covered days, with :meth:`rag.types.Filters.admits`'s
  semantics (an article dated ``2021-01`` counts as all of January; undated articles are
  left out of any date range).
* **Index type**: ``FLAT`` (exact, like FAISS's default) for a collection created with
  fewer than :data:`rag.store.vectors.faiss_factory.FLAT_BELOW` chunks, else ``AUTOINDEX`` (Milvus picks an
  approximate index: HNSW in Milvus Lite). An ingest that takes the collection across
  that size makes its vector index again (:meth:`MilvusWriter._reindex`).
* **Milvus Lite serves one process at a time** (it locks its database folder): ``rag
  serve`` over a Lite database answers and ingests uploads itself, but a ``rag ingest``
  run from another shell meanwhile is refused with a message saying so. A server has no
  such limit, and a running ``rag serve`` follows another process's ingest there as it
  does with FAISS.
* **BM25.** Each entity also holds its chunk's BM25 terms (``terms``: newsrag's own
  tokens, :func:`rag.store.bm25.tokenize`, accent-folded five-letter prefixes, so "Genève" and
  "Geneva" match, joined by spaces) and the sparse vector Milvus's ``BM25`` function
  computes from them (``sparse``, an inverted index). By default the retriever still
  scores BM25 from the generation's ``bm25.npz`` (to the bit ``rank_bm25``'s scores);
  ``RAG_BM25_BACKEND=milvus`` has Milvus score it instead (:meth:`MilvusVectors.text_search`,
  Milvus's own k1/b), so that a server holds the only copy a cluster of ``rag serve``
  searches. Tokenising here rather than with a Milvus analyser keeps the terms the same
  whatever the server's analysers (Milvus Lite 3.2 ignores an ``asciifolding`` filter).
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
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import REBUILD, IndexCorruptError, RagError
from rag.errors import short as _short
from rag.store.bm25 import tokenize
from rag.store.vectors.base import ChunkKeys, VectorFile, VectorStoreSpec
from rag.store.vectors.faiss_factory import FLAT_BELOW
from rag.types import Filters, period

if TYPE_CHECKING:
    from rag.store.manifest import Manifest

log = logging.getLogger(__name__)

#: Entities upserted per call: 1,024 vectors of 384 floats are 1.5 MB, far under gRPC's
#: 64 MB message limit.
UPSERT_BATCH = 1024
DELETE_BATCH = 1000
#: Chunk ids listed per round trip when comparing the collection with a new generation.
LIST_BATCH = 4096
#: Milvus's largest ``limit`` (topk) of one search.
MAX_LIMIT = 16384
#: Bytes kept of a title or an outlet in the collection (a copy for filters and for other
#: tools reading the collection: newsrag shows the SQLite store's text).
TEXT_BYTES = 2048
#: Bytes of a document id (a path inside the corpus folder; Milvus's largest VARCHAR).
ID_BYTES = 65535
#: A chunk's BM25 terms, in UTF-8 bytes (a 700-character chunk has ~120 terms, ~700 bytes).
TERMS_BYTES = 65535

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def parse_spec(text: str) -> VectorStoreSpec:
    """``milvus:PATH.db`` (Milvus Lite, a local file: the path made absolute) or
    ``milvus://HOST[:PORT]`` (a server; port 19530 by default).

    >>> parse_spec("milvus:/data/news.db").uri
    '/data/news.db'
    >>> str(parse_spec("milvus://[::1]"))
    'milvus://[::1]:19530'
    """
    server = re.fullmatch(r"milvus://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?/?", text)
    if server:
        port = int(server.group(2) or 19530)
        if not 0 < port < 65536:
            raise RagError(f"RAG_VECTOR_STORE={text!r}: {port} is not a port number.")
        return VectorStoreSpec("milvus", f"http://{server.group(1)}:{port}", f"milvus://{server.group(1)}:{port}")
    if text.startswith("milvus:") and not text.startswith("milvus://"):
        path = Path(text.removeprefix("milvus:")).expanduser()
        if path.suffix != ".db" or path.name == ".db":
            raise RagError(f"RAG_VECTOR_STORE={text!r}: a Milvus Lite database is a path ending "
                           "in .db, e.g. milvus:index/milvus.db.")
        return VectorStoreSpec("milvus", str(path.absolute()), f"milvus:{path.absolute()}")
    raise RagError(f"RAG_VECTOR_STORE={text!r} is not a Milvus store: use milvus:PATH.db (Milvus Lite, "
                   "a local file) or milvus://HOST:19530 (a Milvus server).")


def is_lite(spec: VectorStoreSpec) -> bool:
    """Whether the spec names a Milvus Lite database file rather than a server."""
    return not spec.uri.startswith("http://")


def collection_name(index_dir: Path) -> str:
    """The collection of an index folder: ``newsrag_`` and a hash of its absolute path
    (one Milvus server can hold the indexes of many folders)."""
    return "newsrag_" + hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:16]


def connect(spec: VectorStoreSpec) -> Any:
    """The process's one ``MilvusClient`` for ``spec`` (Milvus Lite starts its database
    on the first one), shared by every generation and ingest."""
    with _clients_lock:
        if spec.uri in _clients:
            return _clients[spec.uri]
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise RagError(f"RAG_VECTOR_STORE={spec} needs pymilvus (and milvus-lite for a .db "
                           "database): pip install 'newsrag[scale]', or set RAG_VECTOR_STORE=faiss.") from None
        if is_lite(spec):
            _check_lite_free(Path(spec.uri))
        try:
            client = MilvusClient(uri=spec.uri)
        except Exception as exc:  # pymilvus raises MilvusException and subclasses, some without a message
            if is_lite(spec):
                raise RagError(f"Milvus Lite cannot open {spec.uri} ({_short(exc)}). Check that the folder "
                               "is writable and that no other process has it open.") from None
            raise RagError(f"Cannot reach the Milvus server at {spec} ({_short(exc)}). Start it, check "
                           "RAG_VECTOR_STORE, or set RAG_VECTOR_STORE=faiss.") from None
        _clients[spec.uri] = client
        return client


def _check_lite_free(path: Path) -> None:
    """Refuse, with a message, a Milvus Lite database another process holds (Milvus Lite
    locks ``LOCK`` in its folder; opening it anyway fails with "Open local milvus failed"
    and a traceback in the log)."""
    lock = path / "LOCK"
    if not lock.is_file():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise RagError(f"The Milvus Lite database {path} is open in another process (a running rag serve "
                       "or rag ingest?). Milvus Lite serves one process at a time: stop the other one, "
                       "ingest from the web page's Corpus tab, or use a Milvus server "
                       "(RAG_VECTOR_STORE=milvus://HOST:19530).") from None
    finally:
        os.close(fd)


def _call(spec: VectorStoreSpec, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A client call whose failure is a :class:`RagError` naming the store."""
    try:
        return fn(*args, **kwargs)
    except RagError:
        raise
    except Exception as exc:
        raise RagError(f"Milvus ({spec}) failed to {what}: {_short(exc)}") from None


def literal(text: str) -> str:
    """A string literal of a Milvus filter expression.

    >>> print(literal('a "b" \\\\ c'))
    "a \\"b\\" \\\\ c"
    """
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return f'"{text}"'


def filter_expression(filters: Filters) -> str:
    """The Milvus filter expression of :class:`~rag.types.Filters` (same semantics as
    :meth:`~rag.types.Filters.admits`).

    >>> filter_expression(Filters(doc_ids=frozenset({"b.txt", "a.txt"}), date_from="2021-02"))
    'doc_id in ["a.txt", "b.txt"] and date_last >= "2021-02-01"'
    >>> filter_expression(Filters(date_to="2021"))
    'date_first != "" and date_first <= "2021-12-31"'
    """
    parts = []
    if filters.doc_ids is not None:
        parts.append(f"doc_id in [{', '.join(literal(d) for d in sorted(filters.doc_ids))}]")
    if filters.date_from:
        parts.append(f"date_last >= {literal(period(filters.date_from)[0])}")
    if filters.date_to:
        parts.append(f'date_first != "" and date_first <= {literal(period(filters.date_to)[1])}')
    return " and ".join(parts)


def _cut(text: str | None, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes (whole characters)."""
    data = (text or "").encode("utf-8")
    return data[:limit].decode("utf-8", "ignore") if len(data) > limit else (text or "")


class MilvusVectors:
    """The vectors of one loaded generation, in its index's Milvus collection."""

    def __init__(self, spec: VectorStoreSpec, client: Any, collection: str, keys: ChunkKeys) -> None:
        self.spec = spec
        self.client = client
        self.collection = collection
        self.keys = keys

    @classmethod
    def open(cls, spec: VectorStoreSpec, collection: str, keys: ChunkKeys) -> MilvusVectors:
        client = connect(spec)
        if not collection or not _call(spec, "look up the collection", client.has_collection, collection):
            raise IndexCorruptError(f"The Milvus collection {collection or '(none named)'} that holds this "
                                    f"index's vectors is missing from {spec}. {REBUILD}")
        _load(spec, client, collection)
        return cls(spec, client, collection, keys)

    def search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None,
               filters: Filters | None = None) -> list[tuple[int, float]]:
        """Searched with the filters as a Milvus expression (else the chunk ids of ``rows``);
        hits of chunks this generation does not hold (an ingest under way) are skipped."""
        if k <= 0 or (rows is not None and len(rows) == 0):
            return []
        if filters is not None and filters.active:
            if filters.doc_ids is not None and not filters.doc_ids:
                return []
            expression = filter_expression(filters)
        elif rows is not None:
            expression = f"chunk_id in [{', '.join(literal(c) for c in self.keys.chunk_ids_of(rows))}]"
        else:
            expression = ""
        vector = np.asarray(query, np.float32).reshape(-1).tolist()

        def fetch(limit: int) -> list[tuple[str, float]]:
            hits = _call(self.spec, "search", self.client.search, self.collection, data=[vector], limit=limit,
                         filter=expression, output_fields=["chunk_id"],
                         search_params={"metric_type": "IP"})[0]
            return [(str(h["chunk_id"]), float(h["distance"])) for h in hits]

        return self._rows(fetch, k)

    def text_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """``(row, score)`` of the ``k`` chunks Milvus's BM25 function ranks best for
        ``query``'s terms (:func:`rag.store.bm25.tokenize`), best first; as :meth:`search`, hits
        of chunks this generation does not hold are skipped."""
        terms = " ".join(tokenize(query))
        if k <= 0 or not terms:
            return []

        def fetch(limit: int) -> list[tuple[str, float]]:
            try:
                hits = self.client.search(self.collection, data=[terms], anns_field="sparse", limit=limit,
                                          output_fields=["chunk_id"], search_params={"metric_type": "BM25"})[0]
            except Exception as exc:  # pymilvus raises MilvusException and gRPC errors alike
                raise IndexCorruptError(f"The Milvus collection {self.collection} at {self.spec} cannot be searched "
                                        f"by BM25 ({_short(exc)}). Check that the server is up; a collection made "
                                        f"by a newsrag older than RAG_BM25_BACKEND has no BM25 terms: run `rag "
                                        f"ingest --rebuild`, or set RAG_BM25_BACKEND=newsrag.") from None
            # best first, as Milvus returns them (Milvus Lite reports BM25 scores negated)
            return [(str(h["chunk_id"]), abs(float(h["distance"]))) for h in hits]

        return self._rows(fetch, k)

    def _rows(self, fetch: Callable[[int], list[tuple[str, float]]], k: int) -> list[tuple[int, float]]:
        """The ``k`` best hits ``fetch(limit)`` gives as (chunk id, score), as (row, score) of
        this generation: hits of chunks it does not hold (an ingest under way) are skipped,
        and Milvus is asked for more (up to :data:`MAX_LIMIT`) while that leaves fewer than ``k``."""
        limit = min(k, MAX_LIMIT)
        while True:
            found = fetch(limit)
            rows_of = self.keys.rows_of_chunks([c for c, _ in found])
            out = [(rows_of[c], score) for c, score in found if c in rows_of]
            if len(out) >= k or len(found) < limit or limit >= MAX_LIMIT:
                return out[:k]
            limit = min(limit * 4, MAX_LIMIT)

    def vector(self, row: int) -> np.ndarray | None:
        (chunk_id,) = self.keys.chunk_ids_of([row])
        got = _call(self.spec, "read a vector", self.client.get, self.collection, ids=[chunk_id],
                    output_fields=["vector"])
        return np.asarray(got[0]["vector"], np.float32) if got else None

    def close(self) -> None:
        pass  # the client is the process's, shared (see connect)


def _load(spec: VectorStoreSpec, client: Any, collection: str) -> None:
    """Load the collection for search unless it is (a server keeps it loaded; Milvus Lite
    loads it again in each process)."""
    state = str(_call(spec, "read the collection's state", client.get_load_state, collection).get("state"))
    if not state.endswith("Loaded") or "NotLoad" in state:
        _call(spec, "load the collection", client.load_collection, collection)


class MilvusWriter:
    """Brings an index's collection to a generation being committed (see the module)."""

    files: tuple[str, ...] = ()

    def __init__(self, spec: VectorStoreSpec, index_dir: Path, dim: int, fresh: bool = False) -> None:
        self.spec = spec
        self.collection = collection_name(index_dir)
        self.dim = dim
        self.fresh = fresh
        self.written = 0
        self.deleted = 0
        self._stale: list[str] = []
        self._created = False  # the collection was made by this ingest

    def build(self, folder: Path, vectors: VectorFile, manifest: Manifest) -> None:
        """Upsert the chunks of ``folder``'s store that are new or changed; remember the
        collection's chunks it does not hold, deleted by :meth:`switched`."""
        client = connect(self.spec)
        self._create(client, manifest.chunks)
        present = self._fingerprints(client)
        db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT c.row, c.chunk_id, c.doc_id, c.start, c.end, d.title, d.date, d.outlet, "
                              "c.text FROM chunks c JOIN documents d USING (doc_id) ORDER BY c.row")
            while batch := rows.fetchmany(UPSERT_BATCH):
                vecs = vectors[batch[0][0]:batch[-1][0] + 1]
                changed = []
                for (_row, chunk_id, doc_id, start, end, title, date, outlet, text), vec in zip(batch, vecs):
                    entity = {"chunk_id": chunk_id, "doc_id": _cut(doc_id, ID_BYTES), "start": int(start),
                              "end": int(end), "title": _cut(title, TEXT_BYTES), "date": _cut(date, 64),
                              "outlet": _cut(outlet, TEXT_BYTES),
                              "date_first": period(date)[0] if date else "",
                              "date_last": period(date)[1] if date else "",
                              "terms": _cut(" ".join(tokenize(text)), TERMS_BYTES)}
                    entity["fingerprint"] = _fingerprint(entity, vec)
                    if present.pop(chunk_id, None) != entity["fingerprint"]:
                        changed.append(entity | {"vector": np.asarray(vec, np.float32).tolist()})
                if changed:
                    _call(self.spec, "upsert chunks", client.upsert, self.collection, changed)
                    self.written += len(changed)
        finally:
            db.close()
        if self.written:
            # Seal what was written into indexed segments: left growing, a segment is searched
            # by brute force (measured with Milvus Lite at 100k chunks: search p50 410 ms
            # unflushed, 38 ms flushed; benchmarks/milvus_scale.py)
            _call(self.spec, "flush the collection", client.flush, self.collection)
            if self._created and vector_index_type(manifest.chunks) != "FLAT":
                # an approximate index made while the rows came in batches is slower than one
                # made over the whole collection (Milvus Lite, 100k chunks: search p50 147 ms
                # against 51 ms made again); a new collection has no reader yet
                self._reindex(client, manifest.chunks, always=True)
        self._stale = list(present)
        manifest.collection = self.collection

    def switched(self) -> None:
        """Delete the chunks no article of the new generation holds. A failure here only
        leaves them for the next ingest (searches skip them meanwhile): logged, not raised."""
        try:
            client = connect(self.spec)
            for i in range(0, len(self._stale), DELETE_BATCH):
                client.delete(self.collection, ids=self._stale[i:i + DELETE_BATCH])
                self.deleted += len(self._stale[i:i + DELETE_BATCH])
        except Exception as exc:
            log.warning("could not delete %d chunks that went from the Milvus collection %s (%s); the next "
                        "rag ingest deletes them", len(self._stale) - self.deleted, self.collection, _short(exc))

    def _create(self, client: Any, chunks: int) -> None:
        """The collection, created when missing (or, ``fresh``, dropped first), and dropped
        and created again when it was made for another dimension or schema."""
        exists = _call(self.spec, "look up the collection", client.has_collection, self.collection)
        if exists and not self.fresh:
            fields = _call(self.spec, "describe the collection", client.describe_collection,
                           self.collection)["fields"]
            dims = {f["name"]: f.get("params", {}).get("dim") for f in fields}
            if set(dims) == set(_FIELDS) and int(dims["vector"] or 0) == self.dim:
                self._reindex(client, chunks)
                _load(self.spec, client, self.collection)
                return
            log.warning("the Milvus collection %s was made for another schema or dimension; making it again",
                        self.collection)
        if exists:
            _call(self.spec, "drop the collection", client.drop_collection, self.collection)
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=ID_BYTES)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("title", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("date", DataType.VARCHAR, max_length=64)
        schema.add_field("outlet", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("date_first", DataType.VARCHAR, max_length=16)
        schema.add_field("date_last", DataType.VARCHAR, max_length=16)
        schema.add_field("fingerprint", DataType.VARCHAR, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        # newsrag's BM25 tokens, split again on spaces by Milvus; its BM25 function keeps the
        # sparse vector (see the module)
        schema.add_field("terms", DataType.VARCHAR, max_length=TERMS_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                     output_field_names=["sparse"]))
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type=vector_index_type(chunks), metric_type="IP")
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        _call(self.spec, "create the collection", client.create_collection, self.collection, schema=schema,
              index_params=index)
        self._created = True
        _load(self.spec, client, self.collection)

    def _reindex(self, client: Any, chunks: int, always: bool = False) -> None:
        """The vector index made again when the collection has grown past (or shrunk below)
        :data:`~rag.store.vectors.faiss_factory.FLAT_BELOW` chunks since it was made (``always``: in any case):
        exact ``FLAT`` for a small corpus, ``AUTOINDEX`` for a big one. The collection is
        released meanwhile: a server searching it then gets an error until it is loaded."""
        wanted = vector_index_type(chunks)
        if not always:
            described = _call(self.spec, "describe the vector index", client.describe_index, self.collection,
                              "vector")
            if str(described.get("index_type", "")).upper() == wanted:
                return
            log.warning("the Milvus collection %s now holds %d chunks: its vector index is made again as %s",
                        self.collection, chunks, wanted)
        _call(self.spec, "release the collection", client.release_collection, self.collection)
        _call(self.spec, "drop the vector index", client.drop_index, self.collection, "vector")
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type=wanted, metric_type="IP")
        try:
            client.create_index(self.collection, index)
        except Exception as exc:
            # pymilvus retries a call whose connection dropped: at 1M chunks Milvus Lite took
            # ~280 s to make the index, and the retry was told it already exists. Then it does.
            described = _call(self.spec, "describe the vector index", client.describe_index,
                              self.collection, "vector")
            if str(described.get("index_type", "")).upper() != wanted:
                raise RagError(f"Milvus could not make the vector index of {self.collection} "
                               f"({_short(exc)}). {REBUILD}") from None
        _load(self.spec, client, self.collection)

    def _fingerprints(self, client: Any) -> dict[str, str]:
        """Every chunk id of the collection with its fingerprint."""
        found: dict[str, str] = {}
        with _quiet_iterator():
            it = _call(self.spec, "list the collection", client.query_iterator, self.collection,
                       batch_size=LIST_BATCH, filter='chunk_id != ""', output_fields=["fingerprint"])
        try:
            while batch := _call(self.spec, "list the collection", it.next):
                found.update((str(e["chunk_id"]), str(e["fingerprint"])) for e in batch)
        finally:
            it.close()
        return found


def vector_index_type(chunks: int) -> str:
    """The Milvus vector index for a collection of ``chunks``: ``FLAT`` (exact) below
    :data:`~rag.store.vectors.faiss_factory.FLAT_BELOW`, as FAISS's choice, else ``AUTOINDEX``."""
    return "FLAT" if chunks < FLAT_BELOW else "AUTOINDEX"


_FIELDS = ("chunk_id", "doc_id", "start", "end", "title", "date", "outlet", "date_first", "date_last",
           "fingerprint", "vector", "terms", "sparse")


def _fingerprint(entity: dict[str, Any], vector: np.ndarray) -> str:
    """What an entity holds, hashed: equal fingerprints, nothing to upsert."""
    digest = hashlib.sha256(np.asarray(vector, np.float32).tobytes())
    digest.update(json.dumps(entity, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:32]


class _DropNoTimestamp(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


@contextlib.contextmanager
def _quiet_iterator() -> Any:
    """pymilvus warns, when an iterator starts on Milvus Lite, that the server gave it no
    session timestamp and it uses its own: true, harmless here (the writer holds the
    index's lock, nothing else writes), and confusing in ``rag ingest``'s output."""
    logger = logging.getLogger("pymilvus.client.iterator.query_iterator")
    quiet = _DropNoTimestamp()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
