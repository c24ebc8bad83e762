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
    ``url`` (always ``http``/``https``) and ``author`` come from the file's front matter
    (:mod:`rag.ingest.frontmatter`; ``rag add`` writes them) or an ``.html`` page's own
    (its canonical address and author, :mod:`rag.ingest.webpage`), so that a citation can
    lead back to the original page; None when the file does not say.
    """

    doc_id: str
    source: str
    text: str
    title: str | None = None
    date: str | None = None
    outlet: str | None = None
    sha256: str = ""
    url: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A span ``text == document.text[start:end]`` of one document; ``language`` its
    language as told once, at ingest ("" when its words do not say)."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    language: str = ""


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
    row: int = -1  # the chunk's FAISS id in the index it came from

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
    # the answer sentence citing this was checked against the passage (unverified ones are dropped)
    verified: bool = True
    # the quote in the question's language (machine translation whose dates, numbers and
    # names match the quote's both ways); None when not translated
    translation: str | None = None
    # the article's original page (http/https only) and author, from its front matter;
    # JSON: "url"/"author", absent when None
    url: str | None = None
    author: str | None = None


@dataclass
class Answer:
    """One answer, serialisable to the ``answer.schema.json`` contract via :meth:`to_dict`."""

    question: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # sentences a language-model reader wrote that no passage supported (never shown)
    dropped_sentences: int = 0
    # the reader that wrote the answer: "learned", a model spec, or "learned (fallback)"
    reader: str = "extractive"
    # what the user should know about how it was written, e.g. that the language model's
    # server did not answer and the offline reader did (JSON: "notice", absent when None)
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's fields; the reader under ``generator`` (the contract's name, read
        by other programs) and under ``reader``, the same value. Optional fields without a
        value (``notice``, a citation's ``url`` and ``author``) are left out."""
        data = asdict(self)
        data["generator"] = data["reader"] = data.pop("reader")
        if data["notice"] is None:
            del data["notice"]
        data["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        for c in data["citations"]:
            c["score"] = round(float(c["score"]), 4)
            for optional in ("url", "author"):
                if c[optional] is None:
                    del c[optional]
        return data


@dataclass(frozen=True)
class Filters:
    """Restricts retrieval to some articles and/or a date range.

    Dates are ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; an article dated ``2021-01``
    counts as all of January 2021. With a date range, undated articles are left out.
    """

    doc_ids: frozenset[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    @property
    def active(self) -> bool:
        return self.doc_ids is not None or bool(self.date_from or self.date_to)

    def admits(self, doc: Document) -> bool:
        if self.doc_ids is not None and doc.doc_id not in self.doc_ids:
            return False
        if self.date_from or self.date_to:
            if not doc.date:
                return False
            first, last = period(doc.date)
            if self.date_from and last < period(self.date_from)[0]:
                return False
            if self.date_to and first > period(self.date_to)[1]:
                return False
        return True


def period(iso: str) -> tuple[str, str]:
    """First and last day of a ``YYYY[-MM[-DD]]`` date, as comparable strings."""
    parts = iso.strip()[:10].split("-")
    if len(parts) == 1:
        return f"{parts[0]}-01-01", f"{parts[0]}-12-31"
    if len(parts) == 2:
        return f"{parts[0]}-{parts[1]}-01", f"{parts[0]}-{parts[1]}-31"
    return iso[:10], iso[:10]
