"""What newsrag knows of one language: a :class:`Language` per file of :mod:`rag.lang`.

Every field is data (words, short regex fragments, phrases); the patterns built from
them for all languages at once live in :mod:`rag.lang.patterns` and
:mod:`rag.lang.dates`. Words are *folded* (lower case, no accents, straight
apostrophes, see :func:`rag.text.fold`) unless a field says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Language:
    """One language's words, forms and phrases.

    >>> from rag.lang import get
    >>> get("fr").name, get("fr").months[1]
    ('French', 'février')
    """

    code: str                          # ISO 639-1, e.g. "fr"
    name: str                          # in English, for prompts: "French"
    stop_words: frozenset[str]         # function words; they also identify the language
    fillers: frozenset[str]            # question words and fillers: never what a question is about
    pronoun_openers: frozenset[str]    # a sentence opening with one leans on an earlier one
    anaphora: tuple[str, ...]          # words that make a follow-up lean on the question before
    question_words: frozenset[str]     # words that open a question, never an entity ("Quand")
    not_names: frozenset[str]          # capitalised words that are not names ("Selon", "The")
    months: tuple[str, ...]            # January … December as written (accents kept)
    month_variants: Mapping[str, int] = field(default_factory=dict)  # other spellings: "fevrier" → 2
    # Endings of words that, capitalised at a sentence's start, open a clause rather than
    # name someone ("Referring to…", "Évoquant…"): the participles.
    opener_endings: tuple[str, ...] = ()
    weekdays: tuple[str, ...] = ()     # Monday … Sunday, folded
    relative_days: tuple[str, ...] = ()  # "today", "yesterday" (regex fragments)
    day_suffixes: tuple[str, ...] = ()      # after a day of the month: "1er", "5th"
    first_of_month: str = "1"               # how a date writes the first: "1er mars"
    ordinal_suffixes: tuple[str, ...] = ()  # after any number: "3e", "3rd"
    number_words: Mapping[str, int] = field(default_factory=dict)  # "five" → 5, "fifth" → 5
    vague_number_words: frozenset[str] = frozenset()  # number words as often not a count: "un", "first"
    quantity_words: tuple[str, ...] = ()    # regex fragments a count or amount is written with
    # A length of time: a count ("two", "a few", regex fragments; digits always count) then a unit.
    duration_counts: tuple[str, ...] = ()
    duration_units: tuple[str, ...] = ()    # "hours?", "décennies?" (regex fragments)
    place_prepositions: tuple[str, ...] = ()  # "in", "à" (regex fragments, before a place's name)
    place_lead_ins: tuple[str, ...] = ()    # "la ville de" (regex fragments, between preposition and name)
    # What a question asks for, as regex fragments by type ("time": "when|what date|…").
    question_types: Mapping[str, str] = field(default_factory=dict)
    # How the second question of a compound one opens, after "and" ("…, and who did he call?"):
    # regex fragments of question words (a question "X and Y?" over two facts is answered
    # part by part). Only a question word after the conjunction splits: "Russia and the US"
    # does not.
    compound_conjunctions: tuple[str, ...] = ()
    compound_openers: tuple[str, ...] = ()
    # This language's forms of English names and words of the news ("putin" → ("poutine",)).
    english_forms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Lines that are site furniture (regex, matched case-insensitively against a cleaned line).
    # A pattern opening with lookaheads over ".*" must be anchored ("^(?=.*…)"): unanchored,
    # search retries it at every position of the line, quadratic on a one-line 1 MB file.
    boilerplate: tuple[str, ...] = ()
    # How a quote is wrapped: French sets guillemets off with spaces ("« … »").
    quote_marks: tuple[str, str] = ("«", "»")
    # Words with which a question asks for the present or the latest state ("what is the
    # latest…", "où en est…", "currently"): regex fragments, matched case-insensitively as
    # whole words. Such a question prefers the newest article that answers it (rag.answer.timeline).
    latest: tuple[str, ...] = ()
    # What the product says: "abstain", "according", "also", "translated", "an_article",
    # "as_of" / "as_of_month" / "earlier" (a claim's date leading it, {date}).
    phrases: Mapping[str, str] = field(default_factory=dict)
    # What people say to a chatbot that is not a question about articles ("hello", "tell me a
    # joke"): a question closer to one of these than to every retrieved sentence is small
    # talk, however close an embedding puts it to some sentence (rag.answer.pipeline's gate).
    small_talk: tuple[str, ...] = ()
    # Strings that point to this language in a question, each worth half a stop word
    # (accented letters; French puts a space before "?").
    marks: tuple[str, ...] = ()
