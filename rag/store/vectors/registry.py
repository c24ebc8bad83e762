"""Vector stores by kind: the ``RAG_VECTOR_STORE`` spec picks one.

A spec is ``KIND`` or ``KIND:ARGUMENT`` — ``faiss``, ``milvus:PATH.db``, ``milvus://HOST:19530``.
Adding a store is one module with a :class:`~rag.store.vectors.base.VectorStore` and a
:class:`~rag.store.vectors.base.VectorWriter`, and one :func:`register_vector_store` call::

    register_vector_store("mine", VectorStoreKind(parse=..., open=..., writer=...))

>>> str(parse_vector_store("faiss"))
'faiss'
>>> parse_vector_store("milvus://db.example.org").uri
'http://db.example.org:19530'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.store.vectors.base import ChunkKeys, VectorStore, VectorStoreSpec, VectorWriter

if TYPE_CHECKING:
    from rag.store.manifest import Manifest


@dataclass(frozen=True)
class VectorStoreKind:
    """One kind of vector store.

    ``parse`` reads a whole spec of this kind (raising :class:`~rag.errors.RagError`
    with the expected form when it is wrong); ``open`` gives a generation's vectors
    (``keys``: its chunk store); ``writer`` what writes a new generation's (``fresh``:
    ``rag ingest --rebuild``); ``files`` the files that writer puts in the generation
    folder (checked against the manifest); ``usage`` the forms a user may write."""

    parse: Callable[[str], VectorStoreSpec]
    open: Callable[[VectorStoreSpec, Path, Manifest, ChunkKeys], VectorStore]
    writer: Callable[[VectorStoreSpec, Path, int, bool], VectorWriter]
    files: tuple[str, ...] = ()
    usage: str = ""


def _faiss() -> VectorStoreKind:
    def parse(text: str) -> VectorStoreSpec:
        if text != "faiss":
            raise RagError(f"RAG_VECTOR_STORE={text!r}: FAISS takes no argument; write faiss.")
        return VectorStoreSpec("faiss", text="faiss")

    def open_(spec: VectorStoreSpec, generation: Path, manifest: Manifest, keys: ChunkKeys) -> VectorStore:
        from rag.store.vectors.faiss import FaissVectors

        return FaissVectors.load(generation, manifest)

    def writer(spec: VectorStoreSpec, index_dir: Path, dim: int, fresh: bool) -> VectorWriter:
        from rag.store.vectors.faiss import FaissWriter

        return FaissWriter()

    return VectorStoreKind(parse, open_, writer, files=("vectors.faiss",), usage="faiss (the default)")


def _milvus() -> VectorStoreKind:
    def parse(text: str) -> VectorStoreSpec:
        from rag.store.vectors.milvus import parse_spec

        return parse_spec(text)

    def open_(spec: VectorStoreSpec, generation: Path, manifest: Manifest, keys: ChunkKeys) -> VectorStore:
        from rag.store.vectors.milvus import MilvusVectors

        return MilvusVectors.open(spec, manifest.collection, keys)

    def writer(spec: VectorStoreSpec, index_dir: Path, dim: int, fresh: bool) -> VectorWriter:
        from rag.store.vectors.milvus import MilvusWriter

        return MilvusWriter(spec, index_dir, dim, fresh=fresh)

    return VectorStoreKind(parse, open_, writer,
                           usage="milvus:PATH.db (Milvus Lite, a local file) or milvus://HOST:19530 (a Milvus server)")


VECTOR_STORES: dict[str, VectorStoreKind] = {"faiss": _faiss(), "milvus": _milvus()}


def register_vector_store(kind: str, store: VectorStoreKind) -> None:
    """Make ``kind[:argument]`` a ``RAG_VECTOR_STORE`` spec (plug-ins, tests)."""
    VECTOR_STORES[kind] = store


def parse_vector_store(text: str) -> VectorStoreSpec:
    """The store a ``RAG_VECTOR_STORE`` spec names; a clear error for anything else."""
    value = text.strip()
    store = VECTOR_STORES.get(value.partition(":")[0])
    if store is None:
        forms = ", ".join(s.usage for s in VECTOR_STORES.values() if s.usage)
        raise RagError(f"RAG_VECTOR_STORE={text!r} is not a vector store: use {forms}.")
    return store.parse(value)


def open_vectors(generation: Path, manifest: Manifest, keys: ChunkKeys) -> VectorStore:
    """The vectors of a generation, from the store its manifest names (``keys``: its
    chunk store, which maps chunk ids to rows)."""
    spec = parse_vector_store(manifest.vector_store)
    return VECTOR_STORES[spec.kind].open(spec, generation, manifest, keys)


def vector_writer(spec: VectorStoreSpec, index_dir: Path, dim: int, fresh: bool = False) -> VectorWriter:
    """What writes a new generation's vectors into the store ``spec`` names; ``fresh``
    (``rag ingest --rebuild``) starts that store's copy afresh."""
    return VECTOR_STORES[spec.kind].writer(spec, index_dir, dim, fresh)


def generation_files(manifest: Manifest) -> tuple[str, ...]:
    """The files of a generation whose size and checksum its manifest records."""
    return ("store.sqlite", *VECTOR_STORES[parse_vector_store(manifest.vector_store).kind].files)
