"""Small text utilities shared by cleaning, chunking and answer generation."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator

MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
MONTH_NUM = {m.lower(): i + 1 for i, m in enumerate(MONTHS_FR)}
MONTH_NUM.update({m.lower(): i + 1 for i, m in enumerate(MONTHS_EN)})
MONTH_NUM.update({"fevrier": 2, "aout": 8, "decembre": 12})
_MONTHS_RE = "|".join(sorted(MONTH_NUM, key=len, reverse=True))

# "26 janvier 2021", "5 February 2026", "le 26 janvier" (day + month, year optional)
DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}})(?:er)?\s+({_MONTHS_RE})(?:\s+(\d{{4}}))?\b", re.I)
# "February 5, 2026", "January 2021"
MONTH_DAY_RE = re.compile(rf"\b({_MONTHS_RE})\s+(?:(\d{{1,2}}),?\s+)?(\d{{4}})\b", re.I)
# "January 31", "February 5th" (an English date without its year)
MONTH_DAY_SHORT_RE = re.compile(rf"\b({_MONTHS_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!,?\s*\d{{4}})", re.I)
ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?(?:T\d{2}:\d{2})?")
DOTTED_DATE_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
WEEKDAY_RE = re.compile(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|"
                        r"wednesday|thursday|friday|saturday|sunday|aujourd[’']hui|today|hier|yesterday)\b", re.I)

# A sentence ends at . ! ? … (optionally followed by a closing quote) before whitespace and
# an opening character; abbreviations like "M." or "St." are rare enough in news text.
# A statement ends with punctuation or a closing quote; a heading or a lead-in does not.
ENDS_SENTENCE = re.compile(r"[.!?…»\"”]$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[»\"”’)]*\s+(?=[«\"“(\[A-ZÀ-ÖØ-Þ0-9-])")


def fold(text: str) -> str:
    """Lower-case, strip accents, unify apostrophes and collapse spaces (for comparisons)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("‘", "'").replace("«", '"').replace("»", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


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


def parse_date(text: str) -> str | None:
    """The first full date in ``text`` as ``YYYY-MM-DD`` / ``YYYY-MM``, or None.

    >>> parse_date("Publié le 14 février 2022 à Moscou")
    '2022-02-14'
    """
    candidates: list[tuple[int, str]] = []
    for m in ISO_DATE_RE.finditer(text):
        y, mo, d = m.groups()
        if 1 <= int(mo) <= 12:
            candidates.append((m.start(), f"{y}-{mo}" + (f"-{d}" if d else "")))
    for m in DOTTED_DATE_RE.finditer(text):
        d, mo, y = m.groups()
        if 1 <= int(mo) <= 12 and 1 <= int(d) <= 31:
            candidates.append((m.start(), f"{y}-{int(mo):02d}-{int(d):02d}"))
    for m in DAY_MONTH_RE.finditer(text):
        d, mon, y = m.groups()
        if y:
            candidates.append((m.start(), f"{y}-{MONTH_NUM[mon.lower()]:02d}-{int(d):02d}"))
    for m in MONTH_DAY_RE.finditer(text):
        mon, d, y = m.groups()
        iso = f"{y}-{MONTH_NUM[mon.lower()]:02d}" + (f"-{int(d):02d}" if d else "")
        candidates.append((m.start(), iso))
    return min(candidates)[1] if candidates else None


def format_date(iso: str | None, language: str) -> str | None:
    """``2021-01-31`` → ``31 January 2021`` / ``31 janvier 2021``; ``2021-01`` → ``January 2021``."""
    if not iso:
        return None
    parts = iso.split("-")
    months = MONTHS_FR if language == "fr" else MONTHS_EN
    if len(parts) == 1:
        return parts[0]
    month = months[int(parts[1]) - 1]
    if len(parts) == 2:
        return f"{month} {parts[0]}"
    day = int(parts[2])
    day_s = "1er" if (language == "fr" and day == 1) else str(day)
    return f"{day_s} {month} {parts[0]}"


def has_date(text: str) -> bool:
    """True when ``text`` names a date or a day (full or partial)."""
    return bool(DAY_MONTH_RE.search(text) or MONTH_DAY_RE.search(text) or MONTH_DAY_SHORT_RE.search(text)
                or ISO_DATE_RE.search(text)
                or DOTTED_DATE_RE.search(text) or YEAR_RE.search(text) or WEEKDAY_RE.search(text))
