"""What a question and its history must be: text, not empty, not too long; cleaned of
control characters. Every way in (page, API, CLI, Python) goes through here, once."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rag.errors import InputError
from rag.text import is_text


def validate_question(question: str, max_chars: int) -> str:
    """The question, cleaned of control characters; clear errors for unusable input."""
    if not isinstance(question, str):
        raise InputError("The question must be text.")
    raw = question
    question = "".join(c for c in question if unicodedata.category(c)[0] != "C" or c in "\n\t")
    question = re.sub(r"\s+", " ", question).strip()
    if not question:
        raise InputError("The question is empty. Type a question about the articles.")
    if not is_text(raw):
        raise InputError("The question is not text (control characters, undecodable bytes): "
                         "type a question about the articles.")
    if len(question) > max_chars:
        raise InputError(f"The question is {len(question):,} characters long; the limit is "
                         f"{max_chars:,}. Ask a shorter question.")
    if not re.search(r"\w", question):
        raise InputError("The question has no words. Type a question about the articles.")
    return question

def validate_history(history: Sequence[str] | None, max_items: int, max_chars: int) -> list[str]:
    """The earlier questions, each cleaned like a question (blank ones dropped);
    clear errors for anything else.

    More than ``max_items`` is refused rather than cut to the latest: follow-ups
    only look at the last three questions, so a caller sending thousands is a bug (a
    history that is never reset) that an error shows and silent trimming would hide.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, (list, tuple)):
        raise InputError("The history must be a list of earlier questions (text), oldest first; "
                         f"got {type(history).__name__}.")
    limit = max_items
    if len(history) > limit:
        raise InputError(f"The history holds {len(history):,} earlier questions; the limit is {limit:,} "
                         "(RAG_MAX_HISTORY_ITEMS). Send only the latest ones.")
    cleaned = []
    for i, item in enumerate(history, 1):
        if not isinstance(item, str):
            raise InputError("The history must be a list of earlier questions (text), oldest first; "
                             f"item {i} is {type(item).__name__}.")
        if len(item) > max_chars:
            raise InputError(f"Earlier question {i} of the history is {len(item):,} characters long; "
                             f"the limit is {max_chars:,}. Send shorter questions.")
        try:
            cleaned.append(validate_question(item, max_chars))
        except InputError:  # blank, or no words: nothing a follow-up could lean on
            continue
    return cleaned
