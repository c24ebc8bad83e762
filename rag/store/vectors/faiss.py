"""FAISS, the default vector store (``RAG_VECTOR_STORE=faiss``): ``vectors.faiss`` in the
generation folder, row ``i`` = FAISS id ``i``, built anew by every ingest that changes
anything from the generation's vectors file (unchanged text comes from the embedding
cache). Which index type for how many vectors: :mod:`rag.store.vectors.faiss_factory`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np

from rag.errors import REBUILD, IndexCorruptError, RagError
from rag.errors import short as _short
from rag.store.vectors.base import VectorFile
from rag.store.vectors.faiss_factory import search_parameters
from rag.types import Filters

if TYPE_CHECKING:
    from rag.store.manifest import Manifest

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
