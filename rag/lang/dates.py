"""Dates as the languages of :mod:`rag.lang` write them: find, parse and write them.

>>> parse_date("Publié le 14 février 2022 à Moscou")
'2022-02-14'
>>> format_date("2021-01-31", "fr"), format_date("2021-01", "en")
('31 janvier 2021', 'January 2021')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.lang import LANGUAGES, get


def _alternatives(items: Iterable[str]) -> str:
    """``a|b|c`` of the items, longest first (so that "juillet" is not read as "juil")."""
    return "|".join(sorted(dict.fromkeys(items), key=len, reverse=True))


# Every language's month names (lower case, accents kept, plus other spellings) → 1..12.
MONTH_NUM: dict[str, int] = {}
for _lang in LANGUAGES.values():
    MONTH_NUM.update({m.lower(): i + 1 for i, m in enumerate(_lang.months)})
    MONTH_NUM.update(_lang.month_variants)
_MONTHS = _alternatives(MONTH_NUM)
# A month's name as a word, as its language writes it: "February" in English (capitalised,
# so that "may" and "march" are not months), "février" or "Février" in French.
_MONTH_WORD_RE = re.compile(r"\b(" + _alternatives(
    form for lang in LANGUAGES.values() for name in (*lang.months, *lang.month_variants)
    for form in (name, name.upper(), *((name.capitalize(),) if name.islower() else ()))) + r")\b")
_DAY_SUFFIX = _alternatives(s for lang in LANGUAGES.values() for s in lang.day_suffixes)
_DAYS = _alternatives(d for lang in LANGUAGES.values() for d in (*lang.weekdays, *lang.relative_days))

# "26 janvier 2021", "5 February 2026", "le 26 janvier", "1er mars" (day + month, year optional)
DAY_MONTH_RE = re.compile(rf"\b(\d{{1,2}})(?:{_DAY_SUFFIX})?\s+({_MONTHS})(?:\s+(\d{{4}}))?\b", re.I)
# "February 5, 2026", "January 2021"
MONTH_DAY_RE = re.compile(rf"\b({_MONTHS})\s+(?:(\d{{1,2}}),?\s+)?(\d{{4}})\b", re.I)
# "January 31", "February 5th" (a date without its year)
MONTH_DAY_SHORT_RE = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}})(?:{_DAY_SUFFIX})?\b(?!,?\s*\d{{4}})", re.I)
ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?(?:T\d{2}:\d{2})?")
DOTTED_DATE_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
WEEKDAY_RE = re.compile(rf"\b({_DAYS})\b", re.I)


def parse_date(text: str) -> str | None:
    """The first full date in ``text`` as ``YYYY-MM-DD`` / ``YYYY-MM``, or None.

    >>> parse_date("Posted on 14.02.2022"), parse_date("no date here")
    ('2022-02-14', None)
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
    """``2021-01-31`` → ``31 January 2021`` / ``31 janvier 2021``; ``2021-01`` → ``January 2021``.

    >>> format_date("2021-03-01", "fr")
    '1er mars 2021'
    """
    if not iso:
        return None
    parts = iso.split("-")
    lang = get(language)
    if len(parts) == 1:
        return parts[0]
    month = lang.months[int(parts[1]) - 1]
    if len(parts) == 2:
        return f"{month} {parts[0]}"
    day = int(parts[2])
    day_s = lang.first_of_month if day == 1 else str(day)
    return f"{day_s} {month} {parts[0]}"


def months_in(text: str) -> set[int]:
    """The months a text names, in any language (1..12): a question's "February" meets a
    passage's "février".

    >>> sorted(months_in("How long did the call of February 2022 last?")), months_in("le 12 février")
    ([2], {2})
    >>> months_in("You may march on")
    set()
    """
    return {MONTH_NUM[m.group(1).lower()] for m in _MONTH_WORD_RE.finditer(text)}


def has_date(text: str) -> bool:
    """True when ``text`` names a date or a day (full or partial)."""
    return any(r.search(text) for r in (DAY_MONTH_RE, MONTH_DAY_RE, MONTH_DAY_SHORT_RE, ISO_DATE_RE,
                                        DOTTED_DATE_RE, YEAR_RE, WEEKDAY_RE))
