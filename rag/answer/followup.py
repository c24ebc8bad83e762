"""Follow-up questions: a question that leans on an earlier one becomes a standalone query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.lang import QUESTION_WORDS
from rag.lang.patterns import ANAPHORA_RE

_ENTITY = re.compile(r"\b(?:[A-ZÀ-Þ][\w’'-]*[A-Z]\w*|[A-ZÀ-Þ][a-zà-ÿ]+(?:[ -][A-ZÀ-Þ][\w-]+)*|\d[\d./:h-]*)")


def condense(question: str, history: Sequence[str] | None) -> str:
    """A standalone retrieval query for a follow-up question.

    Rule (no language model): when the question leans on an earlier one (pronouns, a
    short question, no name of its own), the names, numbers and dates of the latest
    earlier questions are carried over.

    >>> condense("And when does it expire?", ["When was New START extended?"])
    'And when does it expire? (New START)'
    >>> condense("Who was the White House press secretary Jen Psaki speaking for?", ["When was New START extended?"])
    'Who was the White House press secretary Jen Psaki speaking for?'
    """
    if not history:
        return question
    own = entities(question)
    leans = bool(ANAPHORA_RE.search(question)) or len(question.split()) <= 5
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
        words = [w for w in m.group().split() if w not in QUESTION_WORDS]
        if words:
            value = " ".join(words)
            if value not in out:
                out.append(value)
    return out
