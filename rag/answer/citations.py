"""Number the passages an answer relies on and build its :class:`Citation` s.

Readers return :class:`Claim` s — a sentence of the answer and the exact span of a
passage that supports it. This module turns them into the answer text with ``[n]``
markers and the citation list, so that every marker always points at a real citation
and every citation's quote is a verbatim span of its passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import ENDS_SENTENCE
from rag.types import Citation, Passage

MARKER = "{marker}"
# A citation marker in an answer text: "[2]".
MARKER_RE = re.compile(r"\[(\d+)\]")
#: A bracketed number of an article quoted in an answer, escaped (see :func:`defuse`).
LITERAL_RE = re.compile(r"\\\[(\d+)\\\]")


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer. ``template`` holds ``{marker}`` where ``[n]`` goes;
    ``quote_start``/``quote_end`` are offsets into the passage's document text."""

    template: str
    passage: Passage
    quote_start: int
    quote_end: int
    # the quote translated into the question's language (facts checked both ways)
    translation: str | None = None


def cited(sentence: str) -> str:
    """A claim's template: the sentence, a full stop when it has no final punctuation,
    then its marker.

    >>> cited("Il pleut."), cited("Titre")
    ('Il pleut. {marker}', 'Titre. {marker}')
    """
    return f"{sentence} {MARKER}" if ENDS_SENTENCE.search(sentence) else f"{sentence}. {MARKER}"


def assemble(claims: list[Claim]) -> tuple[str, list[Citation]]:
    """Answer text and citations; passages are numbered in order of first use."""
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    sentences: list[str] = []
    for claim in claims:
        p = claim.passage
        if not (p.chunk.start <= claim.quote_start < claim.quote_end <= p.chunk.end):
            raise ValueError("a claim's quote must lie inside its passage")
        key = f"{p.chunk.chunk_id}:{claim.quote_start}:{claim.quote_end}"
        if key not in numbers:
            numbers[key] = len(citations) + 1
            doc = p.document
            citations.append(Citation(
                n=numbers[key], doc_id=doc.doc_id, source=doc.source, title=doc.title,
                date=doc.date, outlet=doc.outlet, passage=p.chunk.text, start=p.chunk.start,
                end=p.chunk.end, quote=doc.text[claim.quote_start:claim.quote_end],
                quote_start=claim.quote_start, quote_end=claim.quote_end, score=p.score,
                translation=claim.translation, url=doc.url, author=doc.author))
        sentences.append(claim.template.replace(MARKER, f"[{numbers[key]}]"))
    return " ".join(sentences), citations


def markers(answer: str) -> list[int]:
    """The citation numbers used in an answer text."""
    return [int(m) for m in MARKER_RE.findall(answer)]


def defuse(text: str) -> str:
    r"""Article text quoted inside an answer, its bracketed numbers ("[1987]", a footnote
    call "[7]") escaped as ``\[7\]``, so that they never read as citation markers yet stay
    the article's text (the page and the terminal show them as "[7]": :func:`literal`).
    The citation's ``quote`` keeps the exact text.

    >>> defuse("signé en 2022 [7].")
    'signé en 2022 \\[7\\].'
    >>> markers(defuse("signé en 2022 [7].")), literal(defuse("signé en 2022 [7]."))
    ([], 'signé en 2022 [7].')
    """
    return MARKER_RE.sub(r"\\[\1\\]", text)


def literal(answer: str) -> str:
    """An answer's text for a reader who does not follow markers: the bracketed numbers
    quoted from articles (:func:`defuse`) shown as written."""
    return LITERAL_RE.sub(r"[\1]", answer)


def check(answer: str, citations: list[Citation]) -> list[str]:
    """Problems with an answer's citations (empty list when all is well)."""
    problems = []
    known = {c.n for c in citations}
    for n in markers(answer):
        if n not in known:
            problems.append(f"marker [{n}] has no citation")
    for c in citations:
        if c.quote not in c.passage:
            problems.append(f"citation [{c.n}]: quote is not in the passage")
        if c.n not in markers(answer):
            problems.append(f"citation [{c.n}] is not used in the answer")
    return problems
