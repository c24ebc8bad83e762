"""The reader interface: retrieved passages in, cited claims out.

A reader turns the passages the retriever found into the claims of the answer: each
claim is a sentence of the answer and the exact span of a passage that supports it
(:class:`rag.answer.citations.Claim`). Yielding nothing means "the passages do not answer".
Every reader gets the same inputs — a :class:`Query` (the raw question, the standalone
query condensed from a follow-up, the question's language) and the passages — so
readers can be swapped, compared (``rag eval --readers``) and added without touching
the pipeline: one class, plus one line in :mod:`rag.answer.readers.registry`.

>>> q = Query(question="And until when?", text="And until when? (New START)", language="en")
>>> q.text
'And until when? (New START)'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rag.answer.citations import MARKER, Claim, cited, defuse
from rag.lang import detect_language, get, phrase
from rag.lang.dates import format_date
from rag.types import Passage, Sentence

if TYPE_CHECKING:
    from rag.store.index_store import IndexStore


@dataclass(frozen=True)
class Query:
    """What a reader is asked: ``question`` as typed, ``text`` the standalone query
    (the question itself, or a follow-up completed from the conversation), and the
    ``language`` the answer must be written in."""

    question: str
    text: str
    language: str


@dataclass
class Trace:
    """What a reader reports beside its claims, for one answer: who wrote them (a
    generative reader's fallback, say) and how many sentences were dropped unsupported.
    A new one per answer, so one reader serves many users at once."""

    answered_by: str = ""
    dropped: int = 0


@runtime_checkable
class Reader(Protocol):
    """Writes the cited claims of an answer from retrieved passages.

    ``streams`` tells the pipeline that claims arrive one by one over seconds (a
    language model), rather than all at once in milliseconds. A reader may also have
    ``reads``, the passages it wants (a reranking reader reads more than the retriever's
    usual ``top_k``): see :func:`passages_to_read`.
    """

    name: str
    streams: bool

    def answer(self, query: Query, passages: list[Passage], trace: Trace | None = None) -> Iterator[Claim]:
        ...


@runtime_checkable
class Condenser(Protocol):
    """A reader that can also rewrite a follow-up into a standalone question (a model)."""

    def condense(self, question: str, history: Sequence[str]) -> str:
        ...


def passages_to_read(reader: Reader, top_k: int) -> int:
    """How many passages to retrieve for ``reader``: ``top_k``, or more if it asks for more."""
    return max(top_k, int(getattr(reader, "reads", 0) or 0))


def reader_for_store(reader: Reader, store: IndexStore) -> Reader:
    """``reader`` reading from index generation ``store``. Readers that keep no index (the
    offline ones) are returned as they are; one that does (a generative reader's
    verifier) has a ``for_store`` giving a copy bound to the new store — never changed
    in place, so a question in flight keeps its own."""
    bind = getattr(reader, "for_store", None)
    return bind(store) if bind is not None else reader


def passage_language(p: Passage, default: str) -> str:
    return detect_language(p.chunk.text, default=default)


def claim_for(p: Passage, s: Sentence, language: str, first: bool, translation: str | None = None) -> Claim:
    """Quote sentence ``s`` of passage ``p`` verbatim. In the article's language the
    quote is the claim; in another language it is framed in the question's language:
    ``According to RT France (January 2021) [1]: «…»``, or, given a checked
    ``translation``, the translation leads and the quote follows as its source:
    ``… [1] (translated from RT France (January 2021): «…»)``."""
    doc = p.document
    quote = defuse(doc.text[s.start:s.end])
    if passage_language(p, language) == language:
        template = cited(quote)
        translation = None
    else:
        source = doc.outlet or phrase(language, "an_article")
        date = format_date(doc.date, language)
        key = "translated" if translation else "according" if first else "also"
        template = phrase(language, key).format(source=source, date=f" ({date})" if date else "", marker=MARKER,
                                                quote=quoted(quote, language), translation=translation)
    return Claim(template=template, passage=p, quote_start=s.start, quote_end=s.end, translation=translation)


def is_foreign_quote(claim: Claim, language: str) -> bool:
    """A claim that quotes (not restates) a passage in another language than ``language``."""
    quote = defuse(claim.passage.document.text[claim.quote_start:claim.quote_end])
    return quote in claim.template and passage_language(claim.passage, language) != language


def quoted(quote: str, language: str) -> str:
    """Wrap a quote in guillemets, unless it already opens with a quotation mark.

    >>> quoted("Il pleut.", "fr"), quoted("«Non»", "en")
    ('« Il pleut. »', '«Non»')
    """
    if quote[:1] in "«\"“":
        return quote
    opening, closing = get(language).quote_marks
    return f"{opening}{quote}{closing}"
