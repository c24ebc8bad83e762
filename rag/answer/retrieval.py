"""Find the passages most likely to answer a question.

Dense retrieval (the index's vector store — FAISS, or Milvus: :mod:`rag.store.vectors.base` — over
multilingual embeddings) matches an English question to a
French passage; passages are then reranked by their best sentence and by the share of
the question's words one sentence holds. BM25 is fused in by weighted reciprocal rank
fusion (``bm25_weight``) when the question is in the passages' language, where words
can match (see benchmarks/README.md#retrieval-variants for the measurements behind each choice).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.answer.framing import chunk_language
from rag.lang import DEFAULT, content_terms, detect_language
from rag.models.embedding import Embedder
from rag.store.bm25 import tokenize as tokenize  # BM25's tokens, at home in rag.store.bm25
from rag.store.index_store import IndexStore
from rag.types import Chunk, Filters, Passage, Sentence

if TYPE_CHECKING:
    from rag.settings import Settings

RRF_K = 60


class Retriever:
    """Dense (optionally hybrid) retrieval over an :class:`IndexStore`."""

    def __init__(self, store: IndexStore, embedder: Embedder, candidates: int = 20,
                 bm25_weight: float = 0.0, sentence_weight: float = 0.5,
                 lexical_weight: float = 0.0, dense: bool = True,
                 bm25_same_language_only: bool = True, bm25_backend: str = "newsrag") -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.bm25_weight = bm25_weight
        self.sentence_weight = sentence_weight
        self.lexical_weight = lexical_weight
        # dense=False: BM25 alone ranks (a baseline for `rag eval --compare`)
        self.dense = dense
        self.bm25_same_language_only = bm25_same_language_only
        # who scores BM25: "newsrag" (the generation's bm25.npz) or "milvus" (the collection's
        # BM25 function; RAG_VECTOR_STORE=milvus…)
        self.bm25_backend = bm25_backend

    @classmethod
    def from_settings(cls, settings: Settings, store: IndexStore, embedder: Embedder,
                      **overrides: Any) -> Retriever:
        """The retriever the settings describe (``overrides`` for variants, e.g. ``dense=False``)."""
        options: dict[str, Any] = {"candidates": settings.candidates, "bm25_weight": settings.bm25_weight,
                                   "sentence_weight": settings.sentence_weight,
                                   "lexical_weight": settings.lexical_weight,
                                   "bm25_backend": settings.bm25_backend}
        return cls(store, embedder, **(options | overrides))

    def for_store(self, store: IndexStore) -> Retriever:
        """This retriever over another index generation (after an ingest): a copy, so a
        question in flight keeps the store it started with."""
        twin = copy.copy(self)
        twin.store = store
        return twin

    def retrieve(self, query: str, k: int = 3, query_vector: np.ndarray | None = None,
                 filters: Filters | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first, with their scores; only from
        the articles ``filters`` admits, when given."""
        if k <= 0:
            return []
        rows = self._allowed_rows(filters)
        if rows is not None and not rows:
            return []
        qvec = self.embedder.embed_query(query) if query_vector is None else query_vector
        n = max(k, self.candidates)
        dense = self.store.search(qvec, n, rows=rows, filters=filters) if self.dense else []
        cosine = dict(dense)
        sparse = self._bm25_search(query, n) if (not self.dense or self._use_bm25(query, dense)) else []
        if rows is not None:
            allowed = set(rows)
            sparse = [(row, score) for row, score in sparse if row in allowed]
        for row, _ in sparse:
            if row not in cosine:  # found by BM25 only: score it like the others
                cosine[row] = self._cosine(row, qvec)
        scored = self._rerank_by_sentences(cosine, qvec, content_terms(query))
        if sparse:
            order = self._fuse([t[0] for t in scored] if self.dense else [], [row for row, _ in sparse])
            by_row = {t[0]: t for t in scored}
            scored = [by_row[row] for row in order]
        ranked = scored[:k]
        return [Passage(chunk=c, document=self.store.document(c.doc_id), score=score, rank=i,
                        sentences=sents, row=row)
                for i, (row, score, sents, c) in enumerate(ranked)]

    def _rerank_by_sentences(self, cosine: dict[int, float], qvec: np.ndarray, terms: set[str]
                             ) -> list[tuple[int, float, tuple[Sentence, ...], Chunk]]:
        """Score = mix of the passage's cosine and its best sentence's, plus a bonus for
        the best share of the question's words (names, numbers, cognates) one sentence
        holds: a passage with one sentence that answers beats one loosely on topic."""
        rows = list(cosine)
        sentences = self.store.sentences(rows)
        chunks = dict(zip(rows, self.store.chunks(rows)))
        out = []
        for row, cos in cosine.items():
            spans, vecs = sentences.get(row, ([], np.zeros((0, len(qvec)), np.float32)))
            sims = vecs @ qvec if len(spans) else np.zeros(0, np.float32)
            best = float(sims.max()) if len(sims) else cos
            score = (1 - self.sentence_weight) * cos + self.sentence_weight * best
            chunk = chunks[row]
            if terms and self.lexical_weight and spans:
                text = chunk.text
                cover = max(len(terms & content_terms(text[a - chunk.start:b - chunk.start]))
                            for a, b in spans) / len(terms)
                score += self.lexical_weight * cover
            out.append((row, score, tuple(Sentence(a, b, float(x)) for (a, b), x in zip(spans, sims)), chunk))
        out.sort(key=lambda t: t[1], reverse=True)
        return out

    def _allowed_rows(self, filters: Filters | None) -> list[int] | None:
        if filters is None or not filters.active:
            return None
        return self.store.rows_of(d.doc_id for d, _ in self.store.articles() if filters.admits(d))

    def _use_bm25(self, query: str, dense: list[tuple[int, float]]) -> bool:
        """BM25 only where words can match: the question in the language of the passages
        dense retrieval found (measured: it helps French questions over French articles
        and hurts English ones)."""
        if self.bm25_weight <= 0 or not dense:
            return False
        if not self.bm25_same_language_only:
            return True
        top = self.store.chunks([dense[0][0]])[0]
        return detect_language(query) == chunk_language(top, DEFAULT)

    def _fuse(self, dense: list[int], sparse: list[int]) -> list[int]:
        """Weighted reciprocal-rank fusion of two rankings of rows."""
        fused: dict[int, float] = {}
        for weight, ranking in ((1.0, dense), (self.bm25_weight or 1.0, sparse)):
            for rank, row in enumerate(ranking):
                fused[row] = fused.get(row, 0.0) + weight / (RRF_K + rank + 1)
        return sorted(fused, key=lambda r: fused[r], reverse=True)

    def _cosine(self, row: int, qvec: np.ndarray) -> float:
        vector = self.store.vector(row)
        return 0.0 if vector is None else float(vector @ qvec)

    def _bm25_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """``(row, BM25 score)`` of the ``k`` best chunks: from the generation's BM25 index,
        read from its file on first use (:mod:`rag.store.bm25`), or scored by Milvus."""
        if self.bm25_backend == "milvus":
            return self.store.text_search(query, k)
        return self.store.bm25().search(query, k)


class NewsRetriever(BaseRetriever):
    """LangChain adapter: drops the newsrag retriever into any LangChain chain.

    Each returned ``Document`` carries ``chunk_id``, ``doc_id``, ``source``, ``start``,
    ``end``, ``title``, ``date``, ``outlet`` and ``score`` in its metadata.

    >>> from rag.answer.pipeline import Pipeline                              # doctest: +SKIP
    >>> NewsRetriever(retriever=Pipeline.from_index("index").retriever, k=3).invoke("New START")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 3
    filters: Filters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None) -> list[LCDocument]:
        passages = self.retriever.retrieve(query, k=self.k if k is None else k, filters=self.filters)
        return [to_langchain(p) for p in passages]


def to_langchain(p: Passage) -> LCDocument:
    return LCDocument(
        page_content=p.chunk.text,
        id=p.chunk.chunk_id,
        metadata={"chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "source": p.document.source,
                  "start": p.chunk.start, "end": p.chunk.end, "title": p.document.title,
                  "date": p.document.date, "outlet": p.document.outlet, "score": p.score,
                  "rank": p.rank},
    )
