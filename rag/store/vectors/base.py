"""Where the chunk vectors live: the :class:`VectorStore` interface every store implements,
picked by ``RAG_VECTOR_STORE`` through :mod:`rag.store.vectors.registry`.

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.types import Filters

if TYPE_CHECKING:
    from rag.store.manifest import Manifest


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
    """Writes the vectors of a generation being committed (:class:`rag.store.generations.GenerationWriter`)."""

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
    """``RAG_VECTOR_STORE``, parsed by its kind (:func:`rag.store.vectors.registry.parse_vector_store`):
    ``faiss``, ``milvus:PATH.db``, ``milvus://HOST[:PORT]``…

    ``kind`` names the store in the registry, ``uri`` is where it is (a store's own form:
    an absolute path, ``http://HOST:PORT``; empty for an embedded one), ``text`` the spec
    written back in its canonical form (what a manifest records).
    """

    kind: str
    uri: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.kind


class ChunkKeys(Protocol):
    """What maps a store's chunk ids to a generation's rows (:class:`rag.store.index_store.IndexStore`)."""

    def rows_of_chunks(self, chunk_ids: Sequence[str]) -> dict[str, int]: ...

    def chunk_ids_of(self, rows: Sequence[int]) -> list[str]: ...


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
