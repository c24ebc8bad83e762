"""Turn a scraped article into clean text plus metadata (title, date, outlet).

Scraped news pages carry site furniture: cookie banners, comment disclaimers, tag
lists, repeated timestamps, photo credits. It pollutes retrieval and must never be
quoted as evidence, so it is removed here, before any offsets are taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.lang.dates import parse_date
from rag.lang.patterns import BOILERPLATE

# Lines that are site furniture wherever they appear: each language's (rag.lang), and these.
BOILERPLATE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.I) for p in (
    *BOILERPLATE,
    r"^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2})?([+-]\d{2}:?\d{2}|z)?$",  # a bare timestamp
    # A teaser cut short ("… Bien que le... 14.02.2022, Sputnik France").
    r"(\.\.\.|…)\s*\d{1,2}\.\d{1,2}\.\d{4}",
))

# Outlets recognised when an article names itself; photo credits are not looked at.
KNOWN_OUTLETS: tuple[str, ...] = (
    "RT France", "Sputnik France", "Sputnik Afrique", "Sputnik", "Le Monde", "Le Figaro",
    "Libération", "France 24", "France Info", "franceinfo", "Le Parisien", "L'Express",
    "Les Échos", "TASS", "RIA Novosti", "BBC", "CNN", "The Guardian", "Reuters", "AFP",
    "Associated Press",
)

_OUTLET_PATTERNS = tuple((name, re.compile(rf"{re.escape(name)}(?!\w)")) for name in KNOWN_OUTLETS)
_WORD_CHAR = re.compile(r"\w")

_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}(?:-\d{2})?)\b\s*", re.I)
_TERMINAL = re.compile(r"[.!?…»\"”:)]\s*$")
# ".Des appels" / "»Le" : a sentence glued to the next one without a space.
_GLUED_SENTENCE = re.compile(r"[a-zà-ÿ0-9][»\"”]?[.!?][»\"”]?(?=[A-ZÀ-Þ][a-zà-ÿ'’])")
# "dialoguePlusieurs": a heading glued to the paragraph after it.
_GLUED_HEADING = re.compile(r"(?<=[a-zà-ÿ]{3})(?=[A-ZÀ-Þ][a-zà-ÿ]{2,})")


@dataclass(frozen=True)
class CleanedArticle:
    text: str
    title: str | None
    date: str | None
    outlet: str | None


def clean_article(raw: str, *, title: str | None = None, date: str | None = None,
                  outlet: str | None = None) -> CleanedArticle:
    """Clean ``raw`` article text and read its metadata.

    ``title``/``date``/``outlet`` given by the caller (e.g. from HTML meta tags) win over
    what is read from the text.

    Linear in the text: the unanchored cookie-banner pattern (see
    :class:`rag.lang.base.Language`) and :func:`_find_outlet` made it quadratic
    (benchmarks/README.md#cleaning-in-linear-time).

    >>> a = clean_article(" date 2021-01 Le texte.\\n\\nCe site utilise des cookies.\\n\\nrussie")
    >>> a.text, a.date
    ('Le texte.', '2021-01')
    """
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")
    header = _DATE_HEADER.match(raw)
    if header:
        date = date or header.group(1)
        raw = raw[header.end():]
    # Footnote calls ("[1]") stay: they are the article's text (rag.answer.citations.defuse keeps
    # them from reading as citation markers when quoted).
    lines = [ln.strip() for ln in raw.split("\n")]
    lines = [ln for ln in lines if ln]

    outlet = outlet or _find_outlet(lines)
    date = date or parse_date("\n".join(lines[:12])[:1500]) or None

    kept: list[str] = []
    seen: set[str] = set()
    for line in lines:
        key = line.casefold()
        if key in seen or any(p.search(line) for p in BOILERPLATE_PATTERNS):
            continue
        seen.add(key)
        kept.append(line)
    kept = _drop_tags_and_trailers(kept)
    paragraphs = [p for line in kept for p in _unglue(line)]

    if title is None and paragraphs and _is_headline(paragraphs[0]):
        title = paragraphs[0]
    if title is None and paragraphs:
        title = _lede_title(paragraphs[0])
    return CleanedArticle(text="\n\n".join(paragraphs), title=title, date=date, outlet=outlet)


def _is_prose(line: str) -> bool:
    return len(line.split()) >= 12 or bool(_TERMINAL.search(line))


def _is_headline(line: str) -> bool:
    return len(line) <= 200 and not _TERMINAL.search(line) and len(line.split()) >= 3


def _drop_tags_and_trailers(lines: list[str]) -> list[str]:
    """Drop tag words ("russie", "vladimir poutine") and short lines after the last paragraph."""
    out = [ln for ln in lines
           if not (len(ln.split()) <= 4 and ln[:1].islower() and not _TERMINAL.search(ln))]
    while out and not _is_prose(out[-1]):
        out.pop()
    return out


def _unglue(line: str) -> list[str]:
    """Split a line whose paragraphs were glued together (``sol".Des appels…``)."""
    cuts = [m.end() for m in _GLUED_SENTENCE.finditer(line)]
    if not cuts:
        return [line]
    pieces = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)])]
    out: list[str] = []
    for piece in pieces:
        out.extend(_GLUED_HEADING.split(piece) if len(piece) > 80 else [piece])
    return [p.strip() for p in out if p.strip()]


def _lede_title(paragraph: str) -> str:
    """A title made from the lede when the article has no headline line."""
    first = re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0]
    if len(first) <= 110:
        return first
    cut = first[:110].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def _find_outlet(lines: list[str]) -> str | None:
    """The known outlet the article names most often (a longer name, "Sputnik France",
    wins over the name it contains, "Sputnik").

    Each name is found by a pattern that starts with its letters, the word boundary before
    it checked per hit: an opening ``(?<!\\w)`` made the regex engine try every position
    of the text (benchmarks/README.md#cleaning-in-linear-time).
    """
    counts: dict[str, int] = {}
    text = "\n".join(ln for ln in lines if "©" not in ln and "source:" not in ln.lower())
    for name, pattern in _OUTLET_PATTERNS:
        if name not in text:
            continue
        hits = sum(1 for m in pattern.finditer(text)
                   if m.start() == 0 or not _WORD_CHAR.match(text, m.start() - 1))
        if hits and not any(name in other and other != name for other in counts):
            counts[name] = hits
    if not counts:
        return None
    return max(counts, key=lambda k: counts[k])
