"""The hand-tuned extractive reader: quotes the sentence most similar to the question.

Kept beside the learned reader as a baseline (``rag eval --readers extractive,learned``)
and for corpora where its simple rule is easier to reason about. Its bonuses were tuned
on the team's 86 questions; measured on public data they carry over less well than
the learned reader's fitted weights (see benchmarks/README.md#readers-compared).
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.answer.citations import Claim
from rag.answer.framing import claim_for, passage_language
from rag.answer.readers.base import Query, Trace
from rag.answer.readers.features import Candidate, candidates, fits_type, is_heading
from rag.lang import content_terms
from rag.lang.patterns import question_type
from rag.settings import ReaderConfig
from rag.text import fold
from rag.types import Passage


class ExtractiveReader:
    """Quotes the sentence that answers, framed in the question's language.

    A sentence's score is its cosine with the question, plus ``type_bonus`` when it
    holds what the question asks for (a date for "when"), plus ``lexical_weight`` times
    the share of the question's words it contains, minus ``heading_penalty`` for
    headings. The answer abstains when the best sentence's cosine is under
    ``min_score`` (question and passage in one language) or ``min_score_cross``
    (across languages, where cosines run lower). A second sentence is added when it scores within ``second_margin`` of the best and comes
    from another article. All of them live in :class:`rag.settings.ReaderConfig`.
    """

    name = "extractive"
    streams = False

    def __init__(self, config: ReaderConfig | None = None) -> None:
        self.config = config or ReaderConfig()

    def answer(self, query: Query, passages: list[Passage], trace: Trace | None = None
               ) -> Iterator[Claim]:
        cfg = self.config
        qtype = question_type(query.text)
        terms = content_terms(query.text)
        floors = {id(p): cfg.min_score if passage_language(p, query.language) == query.language
                  else cfg.min_score_cross for p in passages}
        ranked = []
        for c in candidates(passages):
            floor = floors[id(c.passage)]
            ranked.append((self._score(c, qtype, terms), c.sentence.score >= floor, c))
        ranked.sort(key=lambda t: t[0], reverse=True)
        if not any(confident for _, confident, _ in ranked):
            return
        if qtype == "time":  # a "when" question is answered by a sentence with a date
            fitting = [t for t in ranked if fits_type(t[2].text, qtype)]
            if any(confident for _, confident, _ in fitting):
                ranked = fitting
        best_total = ranked[0][0]
        chosen: list[Candidate] = []
        for total, confident, c in ranked:
            if len(chosen) >= cfg.max_claims:
                break
            if chosen and (total < best_total - cfg.second_margin or not confident
                           or (qtype != "other" and not fits_type(c.text, qtype))
                           or any(o.passage.chunk.doc_id == c.passage.chunk.doc_id for o in chosen)
                           or any(fold(o.text) == fold(c.text) for o in chosen)):
                continue
            chosen.append(c)
        for i, c in enumerate(chosen):
            yield claim_for(c.passage, c.sentence, query.language, first=i == 0)

    def _score(self, c: Candidate, qtype: str, terms: set[str]) -> float:
        cfg = self.config
        text = c.text
        score = c.sentence.score
        if qtype != "other" and fits_type(text, qtype):
            score += cfg.type_bonus
        if terms:
            score += cfg.lexical_weight * len(terms & content_terms(text)) / len(terms)
        if is_heading(text):
            score -= cfg.heading_penalty
        return score
