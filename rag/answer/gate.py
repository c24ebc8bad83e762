"""The off-topic gate: whether the corpus cannot hold the answer, whatever the reader.

Embeddings find *some* nearest sentence for anything, even "hello" or gibberish, so a
question is let through to a reader only when something ties it to the passages found.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from rag.answer.framing import passage_language
from rag.answer.readers.base import Query
from rag.lang import SMALL_TALK, content_terms, has_stop_words
from rag.lang.dates import months_in
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.index_store import IndexStore
from rag.types import Passage

# The small-talk embeddings of each embedder (small_talk_vectors), shared by every gate.
_SMALL_TALK_VECTORS: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
_SMALL_TALK_LOCK = threading.Lock()


def off_topic(query: Query, passages: list[Passage], *, settings: Settings, embedder: Embedder,
              store: IndexStore, query_vector: np.ndarray | None = None) -> bool:
    """True when the corpus cannot hold the answer, whatever the reader: no passage;
    the question shares no word (a name, a number, a cognate, a month) with the passages and
    none of their sentences is very close — across languages, where words rarely meet, close
    enough and nearer than small talk (:data:`rag.lang.SMALL_TALK`) is; or most of the
    question's words never occur in the corpus ``store`` indexes (only checked when the
    question is in the corpus's language, or when it holds no stop word of a language
    newsrag knows, whose language then cannot be told). ``query_vector`` is the embedding
    of ``query.text`` when the caller has it."""
    if not passages:
        return True
    anchors = content_terms(query.text)  # the standalone query: a follow-up's names count
    months = months_in(query.text)  # a month's name is a shared word across languages too
    same_language = passage_language(passages[0], query.language) == query.language
    best = max((s.score for p in passages for s in p.sentences), default=0.0)
    if best < settings.min_score_unanchored and not any(
            anchors & content_terms(p.text) or months & months_in(p.text) for p in passages):
        if same_language or best < settings.min_score_cross_language:
            return True
        qvec = embedder.embed_query(query.text) if query_vector is None else query_vector
        if float((small_talk_vectors(embedder) @ qvec).max()) >= best:
            return True
    terms = content_terms(query.question)
    # Across languages most words of a question are not the corpus's; but a question
    # with no stop word of a language newsrag knows (words written backwards) is not
    # across languages: its words must then be the corpus's.
    if not terms or not (same_language or not has_stop_words(query.question)):
        return False
    unknown = terms - store.known_terms(terms)
    return len(unknown) / len(terms) >= settings.max_unknown_terms


def small_talk_vectors(embedder: Embedder) -> np.ndarray:
    """The embeddings of every language's small talk, as passages (what the question's
    best sentence is compared with), computed once per embedder."""
    with _SMALL_TALK_LOCK:
        try:
            vectors = _SMALL_TALK_VECTORS.get(embedder)
        except TypeError:  # an embedder that cannot be a weak key (unhashable): not cached
            return embedder.embed_passages(list(SMALL_TALK))
        if vectors is None:
            vectors = _SMALL_TALK_VECTORS[embedder] = embedder.embed_passages(list(SMALL_TALK))
    return vectors
