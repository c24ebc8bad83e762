"""Small text utilities shared by cleaning, chunking and answer generation.

Nothing here knows a language: words, dates and phrases are in :mod:`rag.lang`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# A sentence ends at . ! ? … (optionally followed by a closing quote) before whitespace and
# an opening character; abbreviations like "M." or "St." are rare enough in news text.
# A statement ends with punctuation or a closing quote; a heading or a lead-in does not.
ENDS_SENTENCE = re.compile(r"[.!?…»\"”]$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[»\"”’)]*\s+(?=[«\"“(\[A-ZÀ-ÖØ-Þ0-9-])")


def fold(text: str) -> str:
    """Lower-case, strip accents, spell out the ligatures Unicode does not decompose
    ("œuvre" and "oeuvre" fold alike), unify apostrophes and collapse spaces (for comparisons).

    >>> fold("L’Œuvre  de  Tubœuf")
    "l'oeuvre de tuboeuf"
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("‘", "'").replace("«", '"').replace("»", '"')
    text = re.sub(r"\s+", " ", text).strip().lower()
    return text.replace("œ", "oe").replace("æ", "ae")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` offsets of the sentences of ``text[start:end]``, whitespace trimmed.

    >>> t = "Il pleut. Il fait froid.\\n\\nTitre"
    >>> [t[a:b] for a, b in sentence_spans(t)]
    ['Il pleut.', 'Il fait froid.', 'Titre']
    """
    end = len(text) if end is None else end
    for para in re.finditer(r"[^\n]+", text[start:end]):
        p0 = start + para.start()
        segment = para.group()
        cursor = 0
        for m in _SENTENCE_END.finditer(segment):
            yield from _trimmed(text, p0 + cursor, p0 + m.start())
            cursor = m.end()
        yield from _trimmed(text, p0 + cursor, p0 + len(segment))


def _trimmed(text: str, a: int, b: int) -> Iterator[tuple[int, int]]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        yield a, b


#: A text whose characters are more than this share control characters, replacement
#: characters (U+FFFD, what undecodable bytes become) or unassigned code points is not
#: text. A question with a few stray controls (pasted from a terminal) passes: they are
#: stripped; a line of binary garbage (half U+FFFD or more) does not.
MAX_NON_TEXT_SHARE = 0.3


def is_text(text: str) -> bool:
    """Whether ``text`` reads as text rather than binary garbage — the one judgement of it
    (:func:`rag.answer.validation.validate_question` asks it of every question).

    Whitespace is not counted either way; emoji, RTL text and zero-width joiners are text.

    >>> is_text("When was New START extended?"), is_text("\\x00\\x01\\ufffd\\ufffdab\\x02\\x03"), is_text("🙂🙂")
    (True, False, True)
    """
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return True  # empty: the caller says so in its own words
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn"))
    return bad <= MAX_NON_TEXT_SHARE * len(chars)


def one_line(value: object) -> str | None:
    r"""A metadata value (a title, an author, a site's name) on one line, its runs of spaces
    and line breaks made one space; None when nothing is left.

    >>> one_line("  Le  Monde\n"), one_line(""), one_line(None)
    ('Le Monde', None, None)
    """
    text = " ".join(str(value or "").split())
    return text or None
