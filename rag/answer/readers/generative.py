"""The generative reader: a language model writes, the verifier decides what is shown.

The model's answer streams in; each complete sentence goes through
:class:`rag.answer.verification.Verifier` and becomes a claim only when one passage sentence
supports it (its citation is the verifier's, never the model's) and says what that
sentence says — their facts match both ways; a sentence whose facts match one way only
is replaced by its source's verbatim quote (framed in the question's language). When the model fails,
or none of its sentences is supported, or the supported ones do not hold what the
question asks for (no date for a "when" question), the fallback reader answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from rag.answer.citations import Claim
from rag.answer.followup import condense
from rag.answer.framing import claim_for
from rag.answer.readers.base import Query, Reader, Trace, reader_for_store
from rag.answer.readers.features import fits_type
from rag.answer.verification import Verifier, markers_of, split_sentences, strip_markers
from rag.lang.patterns import question_type
from rag.models.llm import LLMGenerator, failure_reason, is_abstention
from rag.store.index_store import IndexStore
from rag.types import Passage, Sentence

log = logging.getLogger(__name__)


class GenerativeReader:
    """A LangChain chat model behind the verifier, with a fallback reader."""

    streams = True

    def __init__(self, model: LLMGenerator, verifier: Verifier, fallback: Reader) -> None:
        self.model = model
        self.verifier = verifier
        self.fallback = fallback
        self.name = model.name

    @classmethod
    def from_chat_model(cls, chat_model: Any, name: str, verifier: Verifier, fallback: Reader
                        ) -> GenerativeReader:
        return cls(LLMGenerator(chat_model, name=name), verifier, fallback)

    def for_store(self, store: IndexStore) -> GenerativeReader:
        """This reader verifying against another index generation (after an ingest): a
        copy sharing the model, so a question in flight keeps its own verifier."""
        if store is self.verifier.store:
            return self
        return GenerativeReader(self.model, self.verifier.for_store(store), reader_for_store(self.fallback, store))

    def condense(self, question: str, history: Sequence[str]) -> str:
        """The model's standalone question; the rules' (:func:`rag.answer.followup.condense`)
        when the model fails."""
        try:
            return self.model.condense(question, history)
        except Exception as exc:  # noqa: BLE001 - a model server down: the rules still condense
            log.warning("the %s reader could not condense the follow-up (%s)", self.name, exc)
            return condense(question, history)

    def answer(self, query: Query, passages: list[Passage], trace: Trace | None = None) -> Iterator[Claim]:
        trace = trace if trace is not None else Trace()
        trace.answered_by = self.name
        qtype = question_type(query.question)
        claims: list[Claim] = []
        shown = done = 0
        draft = ""

        def meets_type() -> bool:
            return qtype == "other" or any(fits_type(c.template, qtype) for c in claims)

        try:
            for token in self.model.stream(query.question, passages, query.language):
                draft += token
                complete = split_sentences(draft)[:-1]  # the last one may still grow
                for sentence in complete[done:]:
                    self._verify_into(sentence, query.question, passages, query.language, claims, trace)
                    if meets_type():  # shown at once, unless the question's type is not met yet
                        yield from claims[shown:]
                        shown = len(claims)
                done = len(complete)
            if not is_abstention(draft):
                for sentence in split_sentences(draft)[done:]:
                    self._verify_into(sentence, query.question, passages, query.language, claims, trace)
        except Exception as exc:  # a model server down, a broken model file...
            log.warning("the %s reader failed (%s: %s)", self.name, type(exc).__name__, exc)
            claims = claims[:shown]  # what was shown was verified; the rest is not trusted
            trace.notice = (f"The language model ({self.name}) stopped: {failure_reason(exc)}."
                            + ("" if claims else f" This answer is the {self.fallback.name} reader's."))
        if shown == 0 and claims and not meets_type():
            log.info("the model's verified sentences do not say what was asked (%s)", qtype)
            claims = []  # e.g. no date for a "when" question: not an answer
        if not claims:  # nothing supported: the fallback reader answers (or abstains)
            trace.answered_by = f"{self.fallback.name} (fallback)"
            yield from self.fallback.answer(query, passages, trace)
            return
        yield from claims[shown:]

    def _verify_into(self, sentence: str, question: str, passages: list[Passage], language: str,
                     claims: list[Claim], trace: Trace) -> None:
        """Append the sentence's claim when one passage sentence supports it (or, when
        their facts do not match both ways, that sentence as a verbatim quote, once);
        count it when dropped."""
        if is_abstention(sentence) or not re.search(r"\w", strip_markers(sentence)):
            return
        hints = markers_of(sentence)
        verdict = self.verifier.verify(sentence, passages, hint=hints[0] if hints else None, question=question)
        if verdict.claim is not None:
            claims.append(verdict.claim)
        elif verdict.support is not None:
            p, start, end = verdict.support
            log.info("sentence %r shown as its source's quote: %s", sentence, verdict.reason)
            if not any(c.passage.chunk.doc_id == p.chunk.doc_id and (c.quote_start, c.quote_end) == (start, end)
                       for c in claims):
                claims.append(claim_for(p, Sentence(start, end, 0.0), language, first=not claims))
        else:
            log.info("dropped unsupported sentence %r: %s", sentence, verdict.reason)
            trace.dropped += 1
