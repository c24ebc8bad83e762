"""Plain data that crosses module borders.

Every piece of text keeps character offsets into its article's cleaned text, so a
citation can always be traced back to (and highlighted in) the exact source span.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One cleaned article.

    ``text`` is the cleaned text; all offsets elsewhere point into it.
    ``sha256`` is the hash of the raw file, used to skip unchanged files on ingest.
    """

    doc_id: str
    source: str
    text: str
    title: str | None = None
    date: str | None = None
    outlet: str | None = None
    sha256: str = ""


@dataclass(frozen=True)
class Chunk:
    """A span ``text == document.text[start:end]`` of one document."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage: offsets into the document and similarity to the query."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its article's metadata, its retrieval score and its sentences."""

    chunk: Chunk
    document: Document
    score: float
    rank: int = 0
    sentences: tuple[Sentence, ...] = ()

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True)
class Citation:
    """What a ``[n]`` marker points at: a passage and the exact quote supporting the claim.

    ``quote_start``/``quote_end`` are offsets into the article's cleaned text, like
    ``start``/``end`` for the whole passage.
    """

    n: int
    doc_id: str
    source: str
    title: str | None
    date: str | None
    outlet: str | None
    passage: str
    start: int
    end: int
    quote: str
    quote_start: int
    quote_end: int
    score: float


@dataclass
class Answer:
    """One answer, serialisable to the ``answer.schema.json`` contract via :meth:`to_dict`."""

    question: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        for c in data["citations"]:
            c["score"] = round(float(c["score"]), 4)
        return data
