"""The one entry point: question in, cited answer out.

>>> from rag.pipeline import Pipeline                      # doctest: +SKIP
>>> rag = Pipeline.from_settings()                          # doctest: +SKIP
>>> print(rag.ask("When was New START extended?").answer)  # doctest: +SKIP
According to … [1]: «… prorogation du traité New Start pour cinq ans, soit jusqu’au 5 février 2026 …»
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from .citations import Claim, assemble, check
from .corpus import add_files, remove_file
from .embedding import Embedder, load_embedder
from .errors import IndexMissingError, InputError, RagError
from .generation import Generator, fits_type, load_generator, question_type
from .index import FORMAT_VERSION, IndexStore, read_manifest
from .ingest import IngestReport, Progress, ingest
from .language import content_terms, detect_language, phrase
from .llm import is_abstention
from .retrieval import NewsRetriever, Retriever
from .settings import Settings
from .types import Answer, Document, Filters, Passage
from .verification import Verifier, markers_of, split_sentences, strip_markers

log = logging.getLogger(__name__)

# Words per step when an answer is streamed.
STREAM_WORDS = 3

# Words that make a question lean on the one before it ("And when does it expire?").
_ANAPHORA = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|"
                       r"il|elle|ils|elles|le|la|les|lui|leur|cela|ça|celui|celle|ce|cet|cette|"
                       r"ces|y|en|and|et|also|aussi)\b", re.I)
_ENTITY = re.compile(r"\b(?:[A-ZÀ-Þ][\w’'-]*[A-Z]\w*|[A-ZÀ-Þ][a-zà-ÿ]+(?:[ -][A-ZÀ-Þ][\w-]+)*|\d[\d./:h-]*)")
_QUESTION_WORDS = {"When", "What", "Who", "Where", "Why", "How", "Which", "Quand", "Quel", "Quelle",
                   "Quels", "Quelles", "Qui", "Que", "Quoi", "Où", "Comment", "Pourquoi", "Combien",
                   "And", "Et", "Did", "Does", "Do", "Is", "Was", "Were", "Are", "Has", "Have",
                   "Est", "Selon", "According", "In", "En", "Le", "La", "Les", "Un", "Une", "A", "The"}


def condense(question: str, history: Sequence[str] | None) -> str:
    """A standalone retrieval query for a follow-up question.

    Rule (no language model): when the question leans on an earlier one (pronouns, a
    short question, no name of its own), the names, numbers and dates of the latest
    earlier questions are carried over.

    >>> condense("And when does it expire?", ["When was New START extended?"])
    'And when does it expire? (New START)'
    >>> condense("Who is Jen Psaki?", ["When was New START extended?"])
    'Who is Jen Psaki?'
    """
    if not history:
        return question
    own = entities(question)
    leans = bool(_ANAPHORA.search(question)) or len(question.split()) <= 5
    if own and not leans:
        return question
    carried: list[str] = []
    for earlier in reversed(list(history)[-3:]):
        carried += [e for e in entities(earlier) if e not in carried and e not in own]
        if carried:
            break
    return f"{question} ({', '.join(carried)})" if carried else question


def entities(text: str) -> list[str]:
    """Capitalised names, acronyms, numbers and dates of a text, question words excluded."""
    out = []
    for m in _ENTITY.finditer(text):
        words = [w for w in m.group().split() if w not in _QUESTION_WORDS]
        if words:
            value = " ".join(words)
            if value not in out:
                out.append(value)
    return out


class Pipeline:
    """Retriever + generator over one index, models loaded once.

    Build with :meth:`from_settings` (ingests first when there is no index yet) or
    :meth:`from_index`.
    """

    def __init__(self, settings: Settings, embedder: Embedder, store: IndexStore,
                 generator: Generator) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator
        self.verifier = Verifier(embedder, store, min_similarity=settings.min_support_score)
        # what answers when a generative model's sentences are all unsupported
        self.fallback = load_generator("extractive", settings.min_answer_score,
                                       settings.min_answer_score_cross)
        self.retriever = Retriever(store, embedder, candidates=settings.candidates,
                                   bm25_weight=settings.bm25_weight,
                                   sentence_weight=settings.sentence_weight,
                                   lexical_weight=settings.lexical_weight)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, ingest_if_missing: bool = True,
                      progress: Progress | None = None, embedder: Embedder | None = None) -> "Pipeline":
        settings = settings or Settings.from_env()
        embedder = embedder or load_embedder(settings.embedding_model, settings.query_prefix,
                                             settings.passage_prefix, settings.embed_batch_size)
        live = read_manifest(settings.index_dir)
        if live is None or live.format != FORMAT_VERSION:
            if not ingest_if_missing:
                raise IndexMissingError(f"No index (of this version) in {settings.index_dir}. "
                                        "Build it with: rag ingest")
            ingest(settings, embedder, progress=progress)
        store = IndexStore.load(settings.index_dir, embedder.name, embedder.dim)
        return cls(settings, embedder, store, load_generator(settings.generator, settings.min_answer_score,
                                                                settings.min_answer_score_cross))

    @classmethod
    def from_index(cls, index_dir: str | Path, **overrides: Any) -> "Pipeline":
        """Open an existing index (settings from ``RAG_*`` variables and ``overrides``)."""
        return cls.from_settings(Settings.from_env(index_dir=index_dir, **overrides), ingest_if_missing=False)

    def ingest(self, *, rebuild: bool = False, progress: Progress | None = None) -> IngestReport:
        """Re-ingest the corpus and switch to the new index."""
        report = ingest(self.settings, self.embedder, rebuild=rebuild, progress=progress)
        if report.wrote_index:
            self.store.close()
            self.store = IndexStore.load(self.settings.index_dir, self.embedder.name, self.embedder.dim)
            self.retriever.use_store(self.store)
            self.verifier.store = self.store
        return report

    def as_langchain_retriever(self, k: int | None = None) -> NewsRetriever:
        return NewsRetriever(retriever=self.retriever, k=k or self.settings.top_k)

    def retrieve(self, question: str, history: Sequence[str] | None = None,
                 k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        question = self.validate(question)
        return self.retriever.retrieve(condense(question, history), k=k or self.settings.top_k,
                                       filters=filters)

    def ask(self, question: str, history: Sequence[str] | None = None, k: int | None = None,
            filters: Filters | None = None) -> Answer:
        """Answer ``question`` (a follow-up of ``history``) from the corpus, with citations;
        only from the articles ``filters`` admits, when given."""
        answer = None
        for answer in self.stream(question, history, k, filters):
            pass
        assert answer is not None
        return answer

    def stream(self, question: str, history: Sequence[str] | None = None, k: int | None = None,
               filters: Filters | None = None) -> Iterator[Answer]:
        """Partial answers as the text grows, then the final :class:`Answer` (the last item).

        A partial answer carries the citations its text already refers to. A generative
        model's sentences are shown one by one, each only once the verifier has found the
        passage that supports it. The extractive answer is composed at once (in
        milliseconds) and handed out a few words at a time, so that readers, and the page,
        see one behaviour whatever the generator.
        """
        t0 = time.perf_counter()
        question = self.validate(question)
        language = detect_language(question)
        generative = getattr(self.generator, "generative", False)
        if generative and history:
            query = self.generator.condense(question, list(history))
        else:
            query = condense(question, history)
        passages = self.retriever.retrieve(query, k=k or self.settings.top_k, filters=filters)
        t1 = time.perf_counter()

        def answer(claims: list[Claim], dropped: int = 0, by: str = self.generator.name) -> Answer:
            text, citations = assemble(claims)
            problems = check(text, citations)
            if problems:  # never show a citation that does not hold; should not happen
                raise RuntimeError("invalid citations: " + "; ".join(problems))
            t2 = time.perf_counter()
            return Answer(question=question, answer=text if claims else phrase(language, "abstain"),
                          abstained=not claims, language=language, citations=citations,
                          timings_ms={"retrieve": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000,
                                      "total": (t2 - t0) * 1000},
                          dropped_sentences=dropped, generator=by if claims else self.generator.name)

        if self.off_topic(question, language, passages):
            yield answer([])
            return
        if not generative:
            final = answer(self.generator.generate(query, passages, language))
            if not final.abstained:
                words = re.findall(r"\S+\s*", final.answer)
                for end in range(STREAM_WORDS, len(words), STREAM_WORDS):
                    text = "".join(words[:end])
                    yield replace(final, answer=text,
                                  citations=[c for c in final.citations if f"[{c.n}]" in text])
            yield final
            return

        claims: list[Claim] = []
        dropped = done = 0
        draft = ""
        try:
            for token in self.generator.stream(question, passages, language):
                draft += token
                complete = split_sentences(draft)[:-1]  # the last one may still grow
                for sentence in complete[done:]:
                    dropped += self._verify_into(sentence, passages, claims)
                    yield answer(claims, dropped)
                done = len(complete)
            if not is_abstention(draft):
                for sentence in split_sentences(draft)[done:]:
                    dropped += self._verify_into(sentence, passages, claims)
        except Exception as exc:  # a model server down, a broken model file...
            log.warning("the %s generator failed (%s); answering extractively", self.generator.name, exc)
            claims = []
        qtype = question_type(question)
        if claims and qtype != "other" and not any(
                fits_type(c.template, qtype) for c in claims):
            log.info("the model's verified sentences do not say what was asked (%s)", qtype)
            claims = []  # e.g. no date for a "when" question: not an answer
        if not claims:  # nothing supported: the extractive answer, or an abstention
            yield answer(self.fallback.generate(query, passages, language), dropped, "extractive (fallback)")
            return
        yield answer(claims, dropped)

    def _verify_into(self, sentence: str, passages: list[Passage], claims: list[Claim]) -> int:
        """Append the sentence's claim when a passage supports it; 1 if it was dropped."""
        if is_abstention(sentence) or not re.search(r"\w", strip_markers(sentence)):
            return 0
        hints = markers_of(sentence)
        verdict = self.verifier.verify(sentence, passages, hint=hints[0] if hints else None)
        if verdict.claim is None:
            log.info("dropped unsupported sentence %r: %s", sentence, verdict.reason)
            return 1
        claims.append(verdict.claim)
        return 0

    # ---- the corpus ---------------------------------------------------------------

    def articles(self) -> list[tuple[Document, int]]:
        """The indexed articles (without their text) and their chunk counts."""
        return self.store.articles()

    def document(self, doc_id: str) -> Document:
        """One indexed article, with its cleaned text (what citation offsets point into)."""
        try:
            return self.store.document(doc_id)
        except KeyError:
            raise RagError(f"No article {doc_id!r} in the index.") from None

    def add_articles(self, files: Sequence[str | Path], names: Sequence[str] | None = None,
                     progress: Progress | None = None) -> IngestReport:
        """Copy article files into the corpus folder and ingest them (incrementally)."""
        add_files(self.settings.corpus_dir, [Path(f) for f in files], names)
        return self.ingest(progress=progress)

    def remove_article(self, source: str, progress: Progress | None = None) -> IngestReport:
        """Take an article out of the corpus (moved to ``.removed/``) and of the index."""
        remove_file(self.settings.corpus_dir, source)
        return self.ingest(progress=progress)

    def off_topic(self, question: str, language: str, passages: list[Passage]) -> bool:
        """True when the corpus cannot hold the answer: no passage, or most of the
        question's words never occur in it (only checked when the question is in the
        corpus's language; across languages words do not match)."""
        if not passages:
            return True
        terms = content_terms(question)
        if not terms or detect_language(passages[0].text, default=language) != language:
            return False
        unknown = terms - self.store.known_terms(terms)
        return len(unknown) / len(terms) >= self.settings.max_unknown_terms

    def validate(self, question: str) -> str:
        """The question, cleaned of control characters; clear errors for unusable input."""
        if not isinstance(question, str):
            raise InputError("The question must be text.")
        question = "".join(c for c in question if unicodedata.category(c)[0] != "C" or c in "\n\t")
        question = re.sub(r"\s+", " ", question).strip()
        if not question:
            raise InputError("The question is empty. Type a question about the articles.")
        if len(question) > self.settings.max_question_chars:
            raise InputError(f"The question is {len(question):,} characters long; the limit is "
                             f"{self.settings.max_question_chars:,}. Ask a shorter question.")
        if not re.search(r"\w", question):
            raise InputError("The question has no words. Type a question about the articles.")
        return question

    def close(self) -> None:
        self.store.close()


def ask(question: str, history: Sequence[str] | None = None, settings: Settings | None = None) -> Answer:
    """One-shot convenience: builds a :class:`Pipeline` (loading models) and asks once.
    Keep a ``Pipeline`` for more than one question."""
    pipeline = Pipeline.from_settings(settings)
    try:
        return pipeline.ask(question, history)
    finally:
        pipeline.close()
