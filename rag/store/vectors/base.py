"""Where the chunk vectors live: the :class:`VectorStore` interface, picked by
``RAG_VECTOR_STORE``, and FAISS, its default implementation (Milvus: :mod:`rag.store.vectors.milvus`).

Design. A generation's SQLite store (``store.sqlite``) stays the one home of the
documents, the chunk texts and their offsets, the sentences and their vectors and the
vocabulary, whichever store holds the chunk vectors. A vector store only *ranks* chunks:
its searches return rows of that SQLite store, and every passage, offset and quote is
read from it. So the exact character offsets, the generation model (a new generation
written beside the live one, ``CURRENT`` switched atomically, a question in flight
finishing on the generation it started with) and the repair of a damaged index work as
before, for both stores; only the vectors move.

* **FAISS** (``faiss``, the default, embedded): ``vectors.faiss`` in the generation
  folder, row ``i`` = FAISS id ``i``; every ingest that changes anything builds it anew
  from the generation's vectors file (unchanged text comes from the embedding cache).
* **Milvus** (``milvus:PATH.db`` for Milvus Lite, ``milvus://HOST:19530`` for a server or
  cluster, one code path through ``pymilvus``): one collection outside the generations,
  keyed by chunk id, updated in place by each ingest — see :mod:`rag.store.vectors.milvus`.

Filters (a date range, a choice of articles) reach a store in two equivalent forms:
``rows``, the rows the SQLite store resolves for them (what FAISS filters on, with an
``IDSelector``), and the :class:`~rag.types.Filters` themselves, which Milvus evaluates
on its own copy of the metadata (a filter expression). Both describe the same chunks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import faiss
import numpy as np

from rag.errors import REBUILD, IndexCorruptError, RagError
from rag.errors import short as _short
from rag.store.vectors.faiss_factory import search_parameters
from rag.types import Filters

if TYPE_CHECKING:
    from rag.store.index import Manifest
    from rag.store.vectors.milvus import ChunkKeys

#: Vectors an IVF index is trained on, per list (an even sample of the corpus's): FAISS
#: warns below 39 per list and gains little above 64; other trained indexes get at most
#: MAX_TRAIN_VECTORS.
TRAIN_PER_LIST = 64
MAX_TRAIN_VECTORS = 100_000
#: Residuals the scalar quantizer of an ``IVF…,SQ8`` index is trained on, an even share of
#: the training sample: it learns each dimension's range, which 16k vectors give as well as
#: more. FAISS's own ``train`` would take up to 100k (146 MiB of 384-d float32) beside the
#: sample: training on 190k vectors (555k chunks' sample) peaked at 645 MiB that way, 402 here.
SQ_TRAIN_VECTORS = 16384
#: Vectors added to FAISS at a time when building from the vectors file on disk (24 MiB
#: of 384-d float32: what the build holds beside the index).
ADD_BATCH = 16384


class VectorStore(Protocol):
    """The chunk vectors of one loaded generation, searched by inner product."""

    def search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None,
               filters: Filters | None = None) -> list[tuple[int, float]]:
        """``(row, inner product)`` of the ``k`` nearest chunks, best first. ``rows`` and
        ``filters``, when given, restrict the search to the same chunks (see the module)."""
        ...

    def vector(self, row: int) -> np.ndarray | None:
        """The stored vector of a row, or None when the store cannot give it back."""
        ...

    def close(self) -> None: ...


class VectorWriter(Protocol):
    """Writes the vectors of a generation being committed (:class:`rag.store.index.GenerationWriter`)."""

    #: Files it writes into the generation folder (their checksums go in the manifest).
    files: tuple[str, ...]
    #: Vectors :meth:`build` wrote (FAISS: all of them; Milvus: the new and changed ones).
    written: int

    def build(self, folder: Path, vectors: VectorFile, manifest: Manifest) -> None:
        """Before the switch: ``vectors[i]`` is the vector of row ``i`` of
        ``folder / "store.sqlite"``."""
        ...

    def switched(self) -> None:
        """After ``CURRENT`` names the new generation."""
        ...


@dataclass(frozen=True)
class VectorStoreSpec:
    """``RAG_VECTOR_STORE``, parsed: ``faiss``, ``milvus:PATH.db`` or ``milvus://HOST[:PORT]``.

    >>> str(VectorStoreSpec.parse("faiss"))
    'faiss'
    >>> VectorStoreSpec.parse("milvus://db.example.org").uri
    'http://db.example.org:19530'
    >>> VectorStoreSpec.parse("milvus:/data/news.db").lite
    True
    """

    kind: str       # "faiss" or "milvus"
    uri: str = ""   # Milvus: an absolute Lite database path, or http://HOST:PORT

    @property
    def lite(self) -> bool:
        return self.kind == "milvus" and not self.uri.startswith("http://")

    def __str__(self) -> str:
        if self.kind == "faiss":
            return "faiss"
        return f"milvus:{self.uri}" if self.lite else "milvus://" + self.uri.removeprefix("http://")

    @classmethod
    def parse(cls, text: str) -> VectorStoreSpec:
        value = text.strip()
        if value == "faiss":
            return cls("faiss")
        server = re.fullmatch(r"milvus://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?/?", value)
        if server:
            port = int(server.group(2) or 19530)
            if not 0 < port < 65536:
                raise RagError(f"RAG_VECTOR_STORE={text!r}: {port} is not a port number.")
            return cls("milvus", f"http://{server.group(1)}:{port}")
        if value.startswith("milvus:") and not value.startswith("milvus://"):
            path = Path(value.removeprefix("milvus:")).expanduser()
            if path.suffix != ".db" or path.name == ".db":
                raise RagError(f"RAG_VECTOR_STORE={text!r}: a Milvus Lite database is a path ending "
                               "in .db, e.g. milvus:index/milvus.db.")
            return cls("milvus", str(path.absolute()))
        raise RagError(f"RAG_VECTOR_STORE={text!r} is not a vector store: use faiss (the default), "
                       "milvus:PATH.db (Milvus Lite, a local file) or milvus://HOST:19530 (a Milvus "
                       "server).")


def open_vectors(generation: Path, manifest: Manifest, keys: ChunkKeys) -> VectorStore:
    """The vectors of a generation, from the store its manifest names (``keys``: its
    chunk store, which maps chunk ids to rows)."""
    spec = VectorStoreSpec.parse(manifest.vector_store)
    if spec.kind == "faiss":
        return FaissVectors.load(generation, manifest)
    from rag.store.vectors.milvus import MilvusVectors

    return MilvusVectors.open(spec, manifest.collection, keys)


def vector_writer(spec: VectorStoreSpec, index_dir: Path, dim: int, fresh: bool = False) -> VectorWriter:
    """What writes a new generation's vectors into the store ``spec`` names; ``fresh``
    (``rag ingest --rebuild``) starts that store's copy afresh."""
    if spec.kind == "faiss":
        return FaissWriter()
    from rag.store.vectors.milvus import MilvusWriter

    return MilvusWriter(spec, index_dir, dim, fresh=fresh)


def generation_files(manifest: Manifest) -> tuple[str, ...]:
    """The files of a generation whose size and checksum its manifest records."""
    return ("store.sqlite", *(FaissWriter.files if VectorStoreSpec.parse(manifest.vector_store).kind == "faiss"
                              else ()))


# --------------------------------------------------------------------------- FAISS


class FaissVectors:
    """FAISS over a generation's ``vectors.faiss``: row ``i`` is FAISS id ``i``."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def load(cls, generation: Path, manifest: Manifest) -> FaissVectors:
        path = generation / "vectors.faiss"
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"The index file {path} cannot be read ({_short(exc)}). {REBUILD}") from None
        if index.ntotal != manifest.chunks:
            raise IndexCorruptError(f"The index file {path} holds {index.ntotal} vectors "
                                    f"for {manifest.chunks} chunks. {REBUILD}")
        params = search_parameters(manifest.faiss_factory, index.ntotal)
        if params:  # e.g. IVF's nprobe, which a factory string cannot carry
            faiss.ParameterSpace().set_index_parameters(index, params)  # type: ignore[arg-type]  # faiss takes 'nprobe=8'
        return cls(index)

    def search(self, query: np.ndarray, k: int, rows: Sequence[int] | None = None,
               filters: Filters | None = None) -> list[tuple[int, float]]:
        """Only among ``rows`` when given (FAISS filters during the search, so a narrow
        filter still gets its ``k`` results); ``filters`` is what ``rows`` came from."""
        if self.index.ntotal == 0 or k <= 0 or (rows is not None and len(rows) == 0):
            return []
        params = None
        if rows is not None:
            selector = faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG keyword, not in the stubs
        scores, ids = self.index.search(np.asarray(query, np.float32).reshape(1, -1),
                                        min(k, self.index.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vector(self, row: int) -> np.ndarray | None:
        try:
            return np.asarray(self.index.reconstruct(row), np.float32)
        except RuntimeError:  # index types that cannot give vectors back
            return None

    def close(self) -> None:
        pass


class FaissWriter:
    """Builds ``vectors.faiss`` from the generation's vectors file."""

    files: tuple[str, ...] = ("vectors.faiss",)
    written = 0

    def build(self, folder: Path, vectors: VectorFile, manifest: Manifest) -> None:
        faiss.write_index(build_faiss(vectors, manifest.faiss_factory), str(folder / "vectors.faiss"))
        self.written = len(vectors)

    def switched(self) -> None:
        pass


class VectorFile:
    """The raw float32 vectors of a generation being written, read slice by slice (not
    memory-mapped: mapped pages would count in the process's memory until it ends)."""

    def __init__(self, path: Path, rows: int, dim: int) -> None:
        self.path, self.rows, self.dim = path, rows, dim
        self.shape = (rows, dim)

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, part: slice) -> np.ndarray:
        start, stop, step = part.indices(self.rows)
        if step == 1:
            with open(self.path, "rb") as fh:
                fh.seek(start * self.dim * 4)
                return np.fromfile(fh, np.float32, (stop - start) * self.dim).reshape(-1, self.dim)
        picked = range(start, stop, step)  # an even sample, read row by row into its place
        out = np.empty((len(picked), self.dim), np.float32)
        with open(self.path, "rb") as fh:
            for j, i in enumerate(picked):
                fh.seek(i * self.dim * 4)
                fh.readinto(memoryview(out[j]).cast("B"))
        return out


def build_faiss(vectors: np.ndarray | VectorFile, factory: str) -> faiss.Index:
    """An inner-product FAISS index from a factory string (``Flat``, ``HNSW32``, ``IVF1024,PQ32``…).

    ``vectors`` may be the vectors file of a generation being written: an IVF index is
    trained on an even sample (:data:`TRAIN_PER_LIST` per list, see :func:`_train`), and
    vectors are added :data:`ADD_BATCH` at a time, so building holds the larger of the
    sample and the index, and little more."""
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
        wanted = TRAIN_PER_LIST * int(lists.group(1)) if lists else MAX_TRAIN_VECTORS
        _train(index, vectors, step=-(-len(vectors) // wanted))  # ceiling: at most ``wanted`` rows
    for i in range(0, len(vectors), ADD_BATCH):
        index.add(np.ascontiguousarray(vectors[i:i + ADD_BATCH], dtype=np.float32))
    return index


def _train(index: faiss.Index, vectors: np.ndarray | VectorFile, step: int) -> None:
    """Train ``index`` on every ``step``-th vector. An IVF index is trained as FAISS's
    ``IndexIVF::train`` does it — the coarse quantizer (k-means) on the whole sample, then
    the encoder on the residuals — but the sample is let go before the residuals are
    made, and a scalar quantizer gets only :data:`SQ_TRAIN_VECTORS` of them, so training
    holds the sample and little else."""
    sample = np.ascontiguousarray(vectors[::step], dtype=np.float32)
    if not isinstance(index, faiss.IndexIVF):  # other trained indexes: FAISS's own way
        index.train(sample)
        return
    ivf: Any = index  # faiss's type stubs lack the Level1Quantizer methods
    ivf.train_q1(len(sample), faiss.swig_ptr(sample), False, index.metric_type)
    if isinstance(index, faiss.IndexIVFFlat):  # no encoder to train
        index.is_trained = True
        return
    limit = int(index.train_encoder_num_vectors())
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        limit = min(limit, SQ_TRAIN_VECTORS) if limit > 0 else SQ_TRAIN_VECTORS
    if 0 < limit < len(sample):
        sample = np.ascontiguousarray(sample[::-(-len(sample) // limit)])  # the full sample is freed here
    assign = index.quantizer.assign(sample, 1).ravel()
    if index.by_residual:
        residuals = np.empty_like(sample)
        index.quantizer.compute_residual_n(len(sample), faiss.swig_ptr(sample), faiss.swig_ptr(residuals),
                                           faiss.swig_ptr(assign))
        sample = residuals
    index.train_encoder(len(sample), faiss.swig_ptr(sample), faiss.swig_ptr(assign))
    index.is_trained = True
