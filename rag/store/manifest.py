"""A generation's manifest: what it was built with and from, and the size and checksum of
every file, checked when it loads so that a damaged file is reported by name."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import REBUILD, IndexCorruptError, IndexMismatchError
from rag.errors import short as _short
from rag.store.bm25 import BM25_FILE

FORMAT_VERSION = 2
#: Files a generation written by an older version lacks; checked like the others when
#: its manifest records them (a generation without BM25 file builds BM25 in memory).
OPTIONAL_FILES = (BM25_FILE,)
#: Files up to this size are hashed whole when a generation is loaded (about 0.4 s for
#: 512 MiB), bigger ones by sampled blocks, their size always checked
#: (benchmarks/README.md#index-checksum-at-load).
VERIFY_FULL_BYTES = 512 << 20
_SAMPLE_BLOCKS, _BLOCK = 64, 1 << 20


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
    # what read the generation's .html articles (rag.ingest.webpage.HTML_READER); "" when
    # BeautifulSoup did: those are read again once
    html_reader: str = ""

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
