"""Patterns built from every language of :mod:`rag.lang`: question types, quantities,
places, number words, follow-up words and site furniture.

>>> question_type("When was New START extended?"), question_type("Qui est le porte-parole du Kremlin ?")
('time', 'person')
>>> question_type("Qui est Jen Psaki ?"), question_type("Qu'est-ce qui préoccupe Joe Biden ?")
('other', 'other')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.lang import LANGUAGES, NUMBER_WORDS


def _either(fragments: Iterable[str]) -> str:
    return "|".join(dict.fromkeys(f for f in fragments if f))


# What a question asks for decides which sentence answers it: for "when", the one with
# the date, not merely the one most similar to the question. The first type that matches wins.
QUESTION_TYPE_ORDER: tuple[str, ...] = ("duration", "count", "time", "person", "place")
QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"\b({_either(lang.question_types.get(kind, '') for lang in LANGUAGES.values())})\b",
                      re.I))
    for kind in QUESTION_TYPE_ORDER)


def question_type(question: str) -> str:
    """``duration``, ``count``, ``time``, ``person``, ``place`` or ``other``.

    >>> question_type("How long did the call last?"), question_type("Combien de temps a duré la guerre ?")
    ('duration', 'duration')
    >>> question_type("How long ago was it signed?"), question_type("Combien d'ogives ?")
    ('time', 'count')
    """
    for kind, pattern in QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return "other"


# A question about the present or the latest state ("what is the latest…", "où en est…").
LATEST_RE = re.compile(rf"\b(?:{_either(f for lang in LANGUAGES.values() for f in lang.latest)})(?!\w)", re.I)


def asks_latest(question: str) -> bool:
    """Does ``question`` ask for the present or the latest state of things (so that the
    newest article that answers it is preferred)?

    >>> asks_latest("Where does New START stand now?"), asks_latest("Où en est le traité New START ?")
    (True, True)
    >>> asks_latest("When was New START extended?"), asks_latest("Qu'a dit Peskov le mois dernier ?")
    (False, False)
    """
    return bool(LATEST_RE.search(question))


# Where a compound question's second question starts: "and"/"et" (after a comma or not)
# followed by a question word. Each language pairs its own conjunction with its own words.
COMPOUND_RE = re.compile(
    "|".join(rf"(?:,\s*|\s+)(?:{_either(lang.compound_conjunctions)})\s+(?=(?:{_either(lang.compound_openers)})\b)"
             for lang in LANGUAGES.values() if lang.compound_conjunctions and lang.compound_openers),
    re.I)
#: Words each part of a compound question must have, or the question is left whole.
COMPOUND_PART_WORDS = 3


def question_parts(question: str) -> list[str]:
    """The questions a compound question asks, each ending as the whole one does; a
    question that asks one thing is returned whole.

    >>> question_parts("When was the first call, and when did they meet in Geneva?")
    ['When was the first call?', 'when did they meet in Geneva?']
    >>> question_parts("Qui sont les présidents de la Russie et des États-Unis ?")
    ['Qui sont les présidents de la Russie et des États-Unis ?']
    """
    end = re.search(r"\s*[?？]\s*$", question)
    tail = end.group() if end else ""
    body = question[:end.start()] if end else question
    parts = [p.strip() for p in COMPOUND_RE.split(body) if p and p.strip()]
    if len(parts) < 2 or any(len(p.split()) < COMPOUND_PART_WORDS for p in parts):
        return [question]
    return [p + tail for p in parts]


# A count or an amount: digits, number words, units.
QUANTITY_RE = re.compile(
    rf"\b(\d+|{_either(w for lang in LANGUAGES.values() for w in lang.quantity_words)})\b", re.I)
# A length of time: "une heure", "cinq ans", "a few days", "90 minutes", "trois décennies".
DURATION_RE = re.compile(
    rf"\b(?:\d+(?:[.,]\d+)?|{_either(c for lang in LANGUAGES.values() for c in lang.duration_counts)})\s+"
    rf"(?:{_either(u for lang in LANGUAGES.values() for u in lang.duration_units)})\b", re.I)
# "à Genève", "in Geneva", "dans la ville suisse de Genève"
PLACE_RE = re.compile(
    rf"\b({_either(p for lang in LANGUAGES.values() for p in lang.place_prepositions)})\s+"
    rf"((?:{_either(p for lang in LANGUAGES.values() for p in lang.place_lead_ins)})\s+)?[A-ZÀ-Þ][a-zà-ÿ]+")
# Words that make a question lean on the one before it ("And when does it expire?").
ANAPHORA_RE = re.compile(rf"\b({_either(w for lang in LANGUAGES.values() for w in lang.anaphora)})\b", re.I)

NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b")
DIGITS_RE = re.compile(
    rf"\b(\d+)(?:{_either(s for lang in LANGUAGES.values() for s in lang.ordinal_suffixes)})?\b")
# Roman numerals that count: with an ordinal ending ("XIe siècle", "Michel Ier"; one letter
# only for I, V, X: "Le", "Ce", "De" are words), or of two letters or more after a
# capitalised word ("Louis XIV", "Henry VIII").
ROMAN_RE = re.compile(
    rf"\b([IVXLCDM]{{2,}}|[IVX])(?:{_either(s for lang in LANGUAGES.values() for s in lang.ordinal_suffixes)})\b"
    r"|\b[A-ZÀ-Þ][a-zà-ÿ]+ ([IVXLCDM]{2,})\b")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman_value(numeral: str) -> int | None:
    """The value of an upper-case Roman numeral, None when it is not one written the usual way.

    >>> roman_value("XVIII"), roman_value("IV"), roman_value("IIII")
    (18, 4, None)
    """
    total = 0
    for a, b in zip(numeral, numeral[1:] + " "):
        total += -_ROMAN[a] if b != " " and _ROMAN[a] < _ROMAN[b] else _ROMAN[a]
    return total if total > 0 and _to_roman(total) == numeral else None


def _to_roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + letters, n - value
    return out


# "14h30", "14:30", "2:30 pm"
TIME_RE = re.compile(r"\b(\d{1,2})\s*(?:h|:)\s*(\d{2})\s*(a\.?m\.?|p\.?m\.?)?", re.I)
# Number words that are as often not a count ("un accord", "the second round").
VAGUE_NUMBER_WORDS: frozenset[str] = frozenset().union(*(lang.vague_number_words for lang in LANGUAGES.values()))


# Lines that are site furniture in some language (matched case-insensitively).
BOILERPLATE: tuple[str, ...] = tuple(p for lang in LANGUAGES.values() for p in lang.boilerplate)
