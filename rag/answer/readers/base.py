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

from rag.answer.citations import Claim
from rag.types import Passage

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
    # what the user should know about how the answer was written (a model server that did
    # not answer, so the fallback reader did); empty: nothing
    notice: str = ""


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
