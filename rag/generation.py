"""Answer generators: turn retrieved passages into cited claims.

The default :class:`ExtractiveGenerator` runs offline with no model beyond the
embedder: it answers with the sentence(s) of the passages that answer the question,
quoted verbatim, so every claim is exactly what its citation says. A generative
(LLM) answerer plugs in behind the same :class:`Generator` interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .citations import MARKER, Claim
from .language import content_terms, detect_language, phrase
from .text import fold, format_date, has_date
from .types import Passage, Sentence


class Generator(Protocol):
    """Writes an answer to ``question`` from ``passages``, in ``language``.

    Returns the claims of the answer; an empty list means "the passages do not answer".
    """

    name: str

    def generate(self, question: str, passages: list[Passage], language: str) -> list[Claim]:
        ...


# What a question asks for decides which sentence answers it: for "when", the one with
# the date, not merely the one most similar to the question.
QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("count", re.compile(r"\b(how (many|much|long|often)|combien|quel nombre|what number|how old)\b", re.I)),
    ("time", re.compile(r"\b(when|what (date|day|year|time|month)|which (date|day|year|month)|since when|"
                        r"until when|how long ago|quand|quel(le)? (date|jour|année|heure|mois)|"
                        r"depuis quand|jusqu[’']à quand|à quelle (date|heure)|en quelle année|"
                        r"at what time|what time)\b", re.I)),
    ("person", re.compile(r"\b(who|whom|whose|qui|quel (responsable|dirigeant|président|ministre|"
                          r"porte-parole))\b", re.I)),
    ("place", re.compile(r"\b(where|in which (city|country)|où|dans quel(le)? (ville|pays)|"
                         r"quelle ville|which city)\b", re.I)),
)
_NUMBER = re.compile(r"\b(\d+|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|cent|mille|"
                     r"premi[eè]re?|deuxi[eè]me|troisi[eè]me|sixi[eè]me|one|two|three|four|five|"
                     r"six|ten|hundred|thousand|heures?|hours?|minutes?|ans|years?)\b", re.I)
_NAME = re.compile(r"(?<![.!?«\"]\s)(?<!^)\b[A-ZÀ-Þ][a-zà-ÿ]+(?:[ -][A-ZÀ-Þ][a-zà-ÿ]+)+")
_PLACE = re.compile(r"\b(à|en|au|aux|dans|in|at)\s+(la ville (suisse )?de\s+)?[A-ZÀ-Þ][a-zà-ÿ]+")


def question_type(question: str) -> str:
    """``time``, ``count``, ``person``, ``place`` or ``other``.

    >>> question_type("When was New START extended?"), question_type("Qui est Jen Psaki ?")
    ('time', 'person')
    """
    for name, pattern in QUESTION_TYPES:
        if pattern.search(question):
            return name
    return "other"


def fits_type(text: str, qtype: str) -> bool:
    """Does a sentence hold the kind of thing the question asks for?"""
    if qtype == "time":
        return has_date(text) or bool(re.search(r"\b\d{1,2}h\d{2}\b|\b\d{1,2}:\d{2}\b", text))
    if qtype == "count":
        return bool(_NUMBER.search(text))
    if qtype == "person":
        return bool(_NAME.search(text))
    if qtype == "place":
        return bool(_PLACE.search(text))
    return True


@dataclass
class ExtractiveGenerator:
    """Quotes the sentence that answers, framed in the question's language.

    A sentence's score is its cosine with the question, plus ``type_bonus`` when it
    holds what the question asks for (a date for "when"), plus ``lexical_weight`` times
    the share of the question's words it contains, minus ``heading_penalty`` for
    headings. The answer abstains when the best sentence's cosine is under
    ``min_score`` (question and passage in one language) or ``min_score_cross``
    (across languages, where cosines run lower), and when the question shares no word
    with the passages unless a sentence reaches ``min_score_unanchored``. A second sentence is added when it
    scores within ``second_margin`` of the best and comes from another article.
    """

    min_score: float = 0.81
    min_score_cross: float = 0.78
    min_score_unanchored: float = 0.90
    type_bonus: float = 0.02
    lexical_weight: float = 0.06
    heading_penalty: float = 0.05
    second_margin: float = 0.012
    max_claims: int = 2
    name: str = "extractive"

    def generate(self, question: str, passages: list[Passage], language: str) -> list[Claim]:
        qtype = question_type(question)
        terms = content_terms(question)
        if not self._anchored(terms, passages):
            return []
        ranked = []
        for p in passages:
            same = _language_of(p, language) == language
            floor = self.min_score if same else self.min_score_cross
            for s in p.sentences:
                ranked.append((self._score(p, s, qtype, terms), s.score >= floor, p, s))
        ranked.sort(key=lambda t: t[0], reverse=True)
        if not any(confident for _, confident, _, _ in ranked):
            return []
        if qtype == "time":  # a "when" question is answered by a sentence with a date
            fitting = [t for t in ranked if fits_type(t[2].document.text[t[3].start:t[3].end], qtype)]
            if any(confident for _, confident, _, _ in fitting):
                ranked = fitting
        best_total = ranked[0][0]
        chosen: list[tuple[Passage, Sentence]] = []
        for total, confident, p, s in ranked:
            if len(chosen) >= self.max_claims:
                break
            if chosen and (total < best_total - self.second_margin or not confident
                           or (qtype != "other" and not fits_type(p.document.text[s.start:s.end], qtype))
                           or any(q.chunk.doc_id == p.chunk.doc_id for q, _ in chosen)
                           or any(_same_text(p, s, q, t) for q, t in chosen)):
                continue
            chosen.append((p, s))
        return [self._claim(p, s, language, first=i == 0) for i, (p, s) in enumerate(chosen)]

    def _anchored(self, terms: set[str], passages: list[Passage]) -> bool:
        """Does the question share a word (a name, a number, a cognate) with the passages,
        or is one sentence so close that it needs none? Embeddings find *some* nearest
        sentence for anything, even "hello" or gibberish; this keeps those out."""
        best = max((s.score for p in passages for s in p.sentences), default=0.0)
        if best >= self.min_score_unanchored:
            return True
        return any(terms & content_terms(p.text) for p in passages)

    def _score(self, p: Passage, s: Sentence, qtype: str, terms: set[str]) -> float:
        text = p.document.text[s.start:s.end]
        score = s.score
        if qtype != "other" and fits_type(text, qtype):
            score += self.type_bonus
        if terms:
            score += self.lexical_weight * len(terms & content_terms(text)) / len(terms)
        if len(text) < 80 and not re.search(r"[.!?»\"”]$", text):  # a heading, not a statement
            score -= self.heading_penalty
        return score

    def _claim(self, p: Passage, s: Sentence, language: str, first: bool) -> Claim:
        doc = p.document
        quote = doc.text[s.start:s.end]
        if _language_of(p, language) == language:
            template = f"{quote} {MARKER}" if re.search(r"[.!?…»\"”]$", quote) else f"{quote}. {MARKER}"
        else:
            source = doc.outlet or phrase(language, "an_article")
            date = format_date(doc.date, language)
            template = phrase(language, "according" if first else "also").format(
                source=source, date=f" ({date})" if date else "", marker=MARKER,
                quote=_quoted(quote, language))
        return Claim(template=template, passage=p, quote_start=s.start, quote_end=s.end)


def _quoted(quote: str, language: str) -> str:
    """Wrap a quote in guillemets, unless it already opens with a quotation mark."""
    if quote[:1] in "«\"“":
        return quote
    return f"« {quote} »" if language == "fr" else f"«{quote}»"


def _language_of(p: Passage, default: str) -> str:
    return detect_language(p.chunk.text, default=default)


def _same_text(p: Passage, s: Sentence, q: Passage, t: Sentence) -> bool:
    return fold(p.document.text[s.start:s.end]) == fold(q.document.text[t.start:t.end])


def load_generator(spec: str, min_score: float, min_score_cross: float) -> Generator:
    """The generator named by ``RAG_GENERATOR`` (see :mod:`rag.llm` for the generative ones)."""
    if spec == "extractive":
        return ExtractiveGenerator(min_score=min_score, min_score_cross=min_score_cross)
    from .llm import LLMGenerator, chat_model_from_spec

    return LLMGenerator(chat_model_from_spec(spec), name=spec)


def available_generators(configured: str | None = None) -> list[str]:
    """Names of the answer generators on offer (``RAG_GENERATOR`` values), the default
    first, then the generative one the settings configure, if any: what the web chat's
    generator setting lists."""
    names = ["extractive"]
    if configured and configured not in names:
        names.append(configured)
    return names
