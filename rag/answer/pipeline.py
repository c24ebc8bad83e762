"""The one entry point: question in, cited answer out.

>>> from rag.answer.pipeline import Pipeline                      # doctest: +SKIP
>>> rag = Pipeline.from_settings()                          # doctest: +SKIP
>>> print(rag.ask("When was New START extended?").answer)  # doctest: +SKIP
According to … [1]: «… prorogation du traité New Start pour cinq ans, soit jusqu’au 5 février 2026 …»
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.citations import Claim, assemble, check
from rag.answer.followup import condense
from rag.answer.framing import claim_for, is_foreign_quote, passage_language
from rag.answer.gate import off_topic
from rag.answer.readers import Parts, Query, Reader, Trace, load_reader
from rag.answer.readers.base import Condenser, passages_to_read, reader_for_store
from rag.answer.retrieval import NewsRetriever, Retriever
from rag.answer.timeline import dated, newest_first
from rag.answer.translation.base import Translator
from rag.answer.translation.registry import translator_from_spec
from rag.answer.validation import validate_history, validate_question
from rag.errors import IndexMismatchError, IndexMissingError, RagError
from rag.ingest.report import Progress
from rag.ingest.run import ingest
from rag.lang import LANGUAGES, phrase, question_language, unsupported
from rag.lang.patterns import asks_latest, question_parts
from rag.library import Library
from rag.models.embedding import Embedder, embedder_from_settings
from rag.settings import Settings
from rag.store.generations import read_manifest
from rag.store.index_store import IndexStore
from rag.store.live import LiveIndex
from rag.store.manifest import FORMAT_VERSION
from rag.store.vectors.registry import parse_vector_store
from rag.types import Answer, Document, Filters, Passage, Sentence


@dataclass(frozen=True)
class _View:
    """The parts that must change together when the index does (one assignment)."""

    store: IndexStore
    retriever: Retriever
    reader: Reader


class Pipeline:
    """Retriever + reader over one index, models loaded once.

    Build with :meth:`from_settings` (ingests first when there is no index yet) or
    :meth:`from_index`; parts may be passed in (``reader=``, ``retriever=``), and
    :meth:`with_reader` / :meth:`with_retriever` give a pipeline sharing the loaded
    models with one part swapped.

    A pipeline follows its index: when an ingest (this process's, or another's) switches
    the index folder's ``CURRENT``, the next question is answered from the new generation
    (:meth:`refresh`), while questions in flight finish on the one they started with.
    :meth:`pinned` gives a pipeline that stays on one generation (what a page needs to
    render an answer's sources from the very text its offsets point into). The articles
    behind the index — listed, added, removed — are its :attr:`library`'s.
    """

    def __init__(self, settings: Settings, embedder: Embedder, store: IndexStore,
                 reader: Reader | None = None, retriever: Retriever | None = None,
                 translator: Translator | None | str = "settings", *,
                 live: LiveIndex | None = None, follow: bool = True) -> None:
        self.settings = settings
        self.embedder = embedder
        self._view = _View(store, retriever or Retriever.from_settings(settings, store, embedder),
                           reader or load_reader(settings.reader, Parts(settings, embedder, store)))
        if translator == "settings":  # the one RAG_TRANSLATOR names, if any (auto: opus-mt if installed)
            translator = translator_from_spec(settings.translator)
        self.translator: Translator | None = translator  # type: ignore[assignment]
        # readers built from a spec by with_reader, shared by every pipeline derived from this
        # one; the lock makes two users picking a new reader at once build it once (a model)
        self._readers: dict[str, Reader] = {}
        self._readers_lock = threading.Lock()
        # the generation CURRENT names, shared by the pipelines derived from this one
        self._live = live or LiveIndex(store, store.path.parent, embedder.name, embedder.dim)
        self._follow = follow
        #: the corpus behind the index: listing, adding and removing articles
        self.library = Library(settings, embedder, self._live)

    @property
    def store(self) -> IndexStore:
        return self._view.store

    @property
    def retriever(self) -> Retriever:
        return self._view.retriever

    @property
    def reader(self) -> Reader:
        return self._view.reader

    @property
    def parts(self) -> Parts:
        """What a reader is built from (see :mod:`rag.answer.readers.registry`)."""
        return Parts(self.settings, self.embedder, self.store)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, ingest_if_missing: bool = True,
                      progress: Progress | None = None, embedder: Embedder | None = None) -> Pipeline:
        settings = settings or Settings.from_env()
        embedder = embedder or embedder_from_settings(settings)
        live = read_manifest(settings.index_dir)
        wanted = str(parse_vector_store(settings.vector_store))
        if live is None or live.format != FORMAT_VERSION or live.vector_store != wanted:
            if not ingest_if_missing:
                if live is not None and live.format == FORMAT_VERSION:
                    raise IndexMismatchError(
                        f"The index in {settings.index_dir} keeps its vectors in {live.vector_store}, but "
                        f"RAG_VECTOR_STORE is {wanted}. Move them with: rag ingest (no text is embedded "
                        "again), or set RAG_VECTOR_STORE back.")
                raise IndexMissingError(f"No index (of this version) in {settings.index_dir}. "
                                        "Build it with: rag ingest")
            ingest(settings, embedder, progress=progress)
        store = IndexStore.load(settings.index_dir, embedder.name, embedder.dim)
        return cls(settings, embedder, store)

    @classmethod
    def from_index(cls, index_dir: str | Path, **overrides: Any) -> Pipeline:
        """Open an existing index (settings from ``RAG_*`` variables and ``overrides``)."""
        return cls.from_settings(Settings.from_env(index_dir=index_dir, **overrides), ingest_if_missing=False)

    def refresh(self, wait: bool = False) -> bool:
        """Answer from the generation ``CURRENT`` names now, when another ingest has
        switched it (cheap to call before every question); returns whether it switched.
        While another thread loads the new generation, the loaded one is kept unless ``wait``."""
        if not self._follow:
            return False
        store = self._live.latest(wait)
        view = self._view
        if store is view.store:
            return False
        self._view = _View(store, view.retriever.for_store(store), reader_for_store(view.reader, store))
        return True

    def pinned(self) -> Pipeline:
        """This pipeline on the live generation, staying on it whatever ingests happen."""
        self.refresh()
        return self._derive(self.reader, self.retriever, self.translator, follow=False)

    def with_reader(self, reader: Reader | str) -> Pipeline:
        """The same index and models, answering with another reader (an instance or a spec).

        A reader named by spec is built once and kept for every pipeline derived from this
        one (the page switches readers per question); it follows this pipeline's index."""
        if isinstance(reader, str):
            with self._readers_lock:
                if reader not in self._readers:
                    self._readers[reader] = load_reader(reader, self.parts)
                # kept bound to the live store, so an old generation is not held for it
                self._readers[reader] = reader_for_store(self._readers[reader], self.store)
                reader = self._readers[reader]
        return self._derive(reader, self.retriever, self.translator)

    def with_retriever(self, retriever: Retriever) -> Pipeline:
        """The same index, models and reader, retrieving with another retriever."""
        return self._derive(self.reader, retriever, self.translator)

    def with_translator(self, translator: Translator | None) -> Pipeline:
        """The same parts, translating foreign quotes with ``translator`` (None: never)."""
        return self._derive(self.reader, self.retriever, translator)

    def _derive(self, reader: Reader, retriever: Retriever, translator: Translator | None,
                follow: bool | None = None) -> Pipeline:
        derived = Pipeline(self.settings, self.embedder, self.store, reader, retriever, translator,
                           live=self._live, follow=self._follow if follow is None else follow)
        derived._readers, derived._readers_lock = self._readers, self._readers_lock
        return derived

    def as_langchain_retriever(self, k: int | None = None) -> NewsRetriever:
        return NewsRetriever(retriever=self.retriever, k=k or self.settings.top_k)

    def query(self, question: str, history: Sequence[str] | None = None) -> Query:
        """What the reader is asked: the question, the standalone query retrieval uses
        (condensed by the reader's model when it has one), and the question's language."""
        question = validate_question(question, self.settings.max_question_chars)
        history = validate_history(history, self.settings.max_history_items, self.settings.max_question_chars)
        if history and isinstance(self.reader, Condenser):
            text = self.reader.condense(question, list(history))
        else:
            text = condense(question, history)
        return Query(question=question, text=text, language=question_language(question))

    def retrieve(self, question: str, history: Sequence[str] | None = None,
                 k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        question = validate_question(question, self.settings.max_question_chars)
        history = validate_history(history, self.settings.max_history_items, self.settings.max_question_chars)
        self.refresh()
        return self.retriever.retrieve(condense(question, history), k=k or self.settings.top_k,
                                       filters=filters)

    def ask(self, question: str, history: Sequence[str] | None = None, k: int | None = None,
            filters: Filters | None = None) -> Answer:
        """Answer ``question`` (a follow-up of ``history``) from the corpus, with citations;
        only from the articles ``filters`` admits, when given."""
        answer = None
        for answer in self.stream(question, history, k, filters):  # noqa: B007 - the last is the whole answer
            pass
        assert answer is not None
        return answer

    def stream(self, question: str, history: Sequence[str] | None = None, k: int | None = None,
               filters: Filters | None = None) -> Iterator[Answer]:
        """Partial answers as the text grows, then the final :class:`Answer` (the last item).

        Retrieve → off-topic gate → reader → assemble (→ translate). A partial answer
        carries the citations its text already refers to. A streaming reader's claims (a
        language model's verified sentences) come as they are written; a fast reader's answer
        is composed at once (in milliseconds) and comes whole (the page shows it growing,
        :func:`rag.web.chatview.growing`). With a
        translator, a quote in another language than the question's is shown at once, then
        replaced by its checked translation (the quote kept as its source) when the facts
        of both match.
        """
        if self._follow:  # one generation for the whole answer, the live one when it starts
            yield from self.pinned().stream(question, history, k, filters)
            return
        t0 = time.perf_counter()
        query = self.query(question, history)
        if query.language not in LANGUAGES:  # said so, rather than a guess in a language it does not read
            yield Answer(question=query.question, answer=unsupported(query.language), abstained=True,
                         language=query.language, citations=[],
                         timings_ms={"retrieve": 0.0, "generate": 0.0, "total": (time.perf_counter() - t0) * 1000},
                         reader=self.reader.name)
            return
        parts = [] if self.reader.streams else question_parts(query.text)
        qvec = None if len(parts) > 1 else self.retriever.embedder.embed_query(query.text)
        k = k or passages_to_read(self.reader, self.settings.top_k)
        passages = [] if qvec is None else self.retriever.retrieve(query.text, k=k, query_vector=qvec,
                                                                    filters=filters)
        t1 = time.perf_counter()
        trace = Trace(answered_by=self.reader.name)

        timings: dict[str, float] = {}

        def answer(claims: list[Claim]) -> Answer:
            text, citations = assemble(dated(claims, query.language) if self.settings.time_aware else claims)
            problems = check(text, citations)
            if problems:  # never show a citation that does not hold; should not happen
                raise RuntimeError("invalid citations: " + "; ".join(problems))
            t2 = time.perf_counter()
            timings.setdefault("generate", (t2 - t1) * 1000)
            return Answer(question=query.question, answer=text if claims else phrase(query.language, "abstain"),
                          abstained=not claims, language=query.language, citations=citations,
                          timings_ms={"retrieve": (t1 - t0) * 1000, **timings, "total": (t2 - t0) * 1000},
                          dropped_sentences=trace.dropped,
                          reader=trace.answered_by if claims else self.reader.name,
                          notice=trace.notice or None)

        claims: list[Claim] = []
        if len(parts) > 1:  # "When was X, and who did Y?": each question answered, cited apart
            claims = self._answer_parts(parts, query, k, filters, trace)
        elif not self._off_topic(query, passages, qvec):
            for claim in self.reader.answer(query, passages, trace):
                claims.append(claim)
                if self.reader.streams:
                    yield answer(claims)
            if claims and not self.reader.streams:  # a model's answer is not read twice
                claims = self._newest_first(claims, query, k, filters, trace)
        final = answer(claims)
        if self.translator is not None and not self.reader.streams:
            foreign = [i for i, c in enumerate(claims) if is_foreign_quote(c, query.language)]
            if foreign:
                yield final  # the quote at once; its translation follows
                t3 = time.perf_counter()
                self._translate(claims, foreign, query.language)
                timings["translate"] = (time.perf_counter() - t3) * 1000
                final = answer(claims)
        yield final

    def _answer_parts(self, parts: list[str], query: Query, k: int, filters: Filters | None,
                      trace: Trace) -> list[Claim]:
        """The claims answering each question of a compound one, in its order: each part
        retrieved and read on its own (a later part's pronouns take the names of the parts
        before it, as a follow-up's do), a sentence quoted once; a part the articles do not
        answer adds nothing. The first quote in another language is framed "According
        to…", the next ones "Also, according to…"."""
        claims: list[Claim] = []
        seen: set[tuple[str, int, int]] = set()
        for i, part in enumerate(parts):
            sub = Query(question=part, text=condense(part, parts[:i]), language=query.language)
            qvec = self.retriever.embedder.embed_query(sub.text)
            passages = self.retriever.retrieve(sub.text, k=k, query_vector=qvec, filters=filters)
            if self._off_topic(sub, passages, qvec):
                continue
            for claim in self.reader.answer(sub, passages, trace):
                key = (claim.passage.chunk.chunk_id, claim.quote_start, claim.quote_end)
                if key in seen:
                    continue
                seen.add(key)
                if claim.translation is None:  # the readers' own quotes: framed for their place
                    claim = claim_for(claim.passage, Sentence(claim.quote_start, claim.quote_end, 0.0),
                                      query.language, first=not claims)
                claims.append(claim)
        return claims

    def _newest_first(self, claims: list[Claim], query: Query, k: int, filters: Filters | None,
                      trace: Trace) -> list[Claim]:
        """For a question asking for the latest state, ``claims`` led by a newer article's
        answer when there is one (:func:`rag.answer.timeline.newest_first`)."""
        if not (self.settings.time_aware and asks_latest(query.text)):
            return claims
        return newest_first(claims, query, reader=self.reader, retriever=self.retriever, k=k,
                            min_similarity=self.settings.latest_min_similarity, filters=filters, trace=trace)

    def _translate(self, claims: list[Claim], foreign: list[int], language: str) -> None:
        """Claims ``foreign`` get their quotes' checked translations leading (one batch per
        source language), in place; a claim whose translation is not shown stays as it is."""
        assert self.translator is not None
        sources = {i: passage_language(claims[i].passage, language) for i in foreign}
        for source in dict.fromkeys(sources.values()):
            which = [i for i in foreign if sources[i] == source]
            quotes = [claims[i].passage.document.text[claims[i].quote_start:claims[i].quote_end] for i in which]
            for i, translation in zip(which, self.translator.checked_many(quotes, source, language)):
                if translation is not None:
                    c = claims[i]
                    claims[i] = claim_for(c.passage, Sentence(c.quote_start, c.quote_end, 0.0), language,
                                          i == 0, translation)

    def document(self, doc_id: str) -> Document:
        """One article of the generation this pipeline answers from, with its cleaned text
        (what its answers' citation offsets point into)."""
        self.refresh()
        try:
            return self.store.document(doc_id)
        except KeyError:
            raise RagError(f"No article {doc_id!r} in the index.") from None

    def _off_topic(self, query: Query, passages: list[Passage], query_vector: np.ndarray | None) -> bool:
        return off_topic(query, passages, settings=self.settings, embedder=self.retriever.embedder,
                         store=self.store, query_vector=query_vector)

    def close(self) -> None:
        self._live.close()


def ask(question: str, history: Sequence[str] | None = None, settings: Settings | None = None) -> Answer:
    """One-shot convenience: builds a :class:`Pipeline` (loading models) and asks once.
    Keep a ``Pipeline`` for more than one question."""
    pipeline = Pipeline.from_settings(settings)
    try:
        return pipeline.ask(question, history)
    finally:
        pipeline.close()
