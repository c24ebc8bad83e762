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
from .language import detect_language, phrase
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
        return bool(_NAME.search(text)) or bool(re.search(r"porte-parole|président|ministre|chef", text, re.I))
    if qtype == "place":
        return bool(_PLACE.search(text))
    return True


@dataclass
class ExtractiveGenerator:
    """Quotes the sentence that answers, framed in the question's language.

    ``min_score`` is the abstention threshold on the question–sentence cosine;
    ``type_bonus`` is added to sentences holding what the question asks for;
    a second sentence is added when it scores within ``second_margin`` of the best
    and comes from another passage (questions spanning two articles).
    """

    min_score: float = 0.80
    type_bonus: float = 0.03
    heading_penalty: float = 0.05
    second_margin: float = 0.012
    max_claims: int = 2
    name: str = "extractive"

    def generate(self, question: str, passages: list[Passage], language: str) -> list[Claim]:
        qtype = question_type(question)
        ranked = sorted(((self._score(p, s, qtype), s.score, p, s) for p in passages for s in p.sentences),
                        key=lambda t: t[0], reverse=True)
        if not ranked or ranked[0][1] < self.min_score:
            return []
        best_total = ranked[0][0]
        chosen: list[tuple[Passage, Sentence]] = []
        for total, raw, p, s in ranked:
            if len(chosen) >= self.max_claims:
                break
            if chosen and (total < best_total - self.second_margin or raw < self.min_score
                           or any(q.chunk.doc_id == p.chunk.doc_id for q, _ in chosen)
                           or any(_same_text(p, s, q, t) for q, t in chosen)):
                continue
            chosen.append((p, s))
        return [self._claim(p, s, language, first=i == 0) for i, (p, s) in enumerate(chosen)]

    def _score(self, p: Passage, s: Sentence, qtype: str) -> float:
        text = p.document.text[s.start:s.end]
        score = s.score
        if qtype != "other" and fits_type(text, qtype):
            score += self.type_bonus
        if len(text) < 80 and not re.search(r"[.!?»\"”]$", text):  # a heading, not a statement
            score -= self.heading_penalty
        return score

    def _claim(self, p: Passage, s: Sentence, language: str, first: bool) -> Claim:
        doc = p.document
        quote = doc.text[s.start:s.end]
        if detect_language(p.chunk.text, default=language) == language:
            template = f"{quote} {MARKER}" if re.search(r"[.!?…»\"”]$", quote) else f"{quote}. {MARKER}"
        else:
            source = doc.outlet or phrase(language, "an_article")
            date = format_date(doc.date, language)
            template = phrase(language, "according" if first else "also").format(
                source=source, date=f" ({date})" if date else "", marker=MARKER, quote=quote)
        return Claim(template=template, passage=p, quote_start=s.start, quote_end=s.end)


def _same_text(p: Passage, s: Sentence, q: Passage, t: Sentence) -> bool:
    return fold(p.document.text[s.start:s.end]) == fold(q.document.text[t.start:t.end])


def load_generator(spec: str, min_score: float) -> Generator:
    """The generator named by ``RAG_GENERATOR``; only ``extractive`` exists so far."""
    from .errors import RagError

    if spec == "extractive":
        return ExtractiveGenerator(min_score=min_score)
    raise RagError(f"Unknown generator {spec!r}. Available: extractive.")
