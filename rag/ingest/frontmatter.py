"""An article file's own metadata: a front matter block at the top of a ``.md`` or ``.txt``.

::

    ---
    title: "Peskov : un dialogue « intense » avec Washington"
    date: 2021-01-31
    outlet: Le Test Quotidien
    author: Marie Dupont
    url: https://news.example.org/peskov
    ---
    The article's text…

What a file says about itself is better than what cleaning guesses from its text (a
headline line, the first date in the first lines), so these values win. The block is cut
off before cleaning: it is never quoted, and every offset points into the text after it.
``rag add`` writes fetched articles this way (:func:`format_front_matter`); the same
block, written by hand, works for any article.

The format is the subset of YAML that front matter uses: ``key: value`` lines, values
plain or quoted (``"…"`` with JSON escapes, ``'…'``), ``#`` comments. Other keys (tags,
lists) are allowed and ignored. A first ``---`` line that is not followed by such lines
and a closing ``---`` within :data:`MAX_FRONT_MATTER_LINES` lines is text, not front
matter.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, fields
from pathlib import Path

from rag.lang.dates import parse_date
from rag.urls import web_url

log = logging.getLogger(__name__)

#: The files whose first lines may be front matter (an HTML page has its own meta tags).
FRONT_MATTER_SUFFIXES = (".md", ".markdown", ".txt")
#: A block not closed within this many lines is not front matter (the file is all text).
MAX_FRONT_MATTER_LINES = 50

_FENCE = re.compile(r"---[ \t]*")
_ENTRY = re.compile(r"([A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(.*))?")
# what else a YAML front matter holds: an indented or list line (tags), a comment
_OTHER = re.compile(r"[ \t]+\S.*|-[ \t].*|#.*")
_YEAR = re.compile(r"\d{4}")


@dataclass(frozen=True)
class FrontMatter:
    """The metadata a file states about itself; None where it says nothing (or nothing usable)."""

    title: str | None = None
    date: str | None = None
    outlet: str | None = None
    author: str | None = None
    url: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def split_front_matter(text: str, source: str = "") -> tuple[FrontMatter, str]:
    """``text``'s front matter and the text after it; no front matter: an empty
    :class:`FrontMatter` and ``text`` as it was. Only files named ``.md``/``.txt``
    (``source``'s suffix; any file when ``source`` is empty) are looked at.

    A date is kept as ``YYYY-MM-DD``/``YYYY-MM``/``YYYY``, a URL only when it is
    ``http``/``https``; a value that is neither is dropped with a warning naming the file,
    and cleaning reads that field from the text as usual.

    >>> meta, body = split_front_matter("---\\ntitle: Sommet\\ndate: 2021-06-16T10:00:00Z\\n---\\nLe texte.")
    >>> meta.title, meta.date, body
    ('Sommet', '2021-06-16', 'Le texte.')
    >>> split_front_matter("---\\nA rule, then prose.\\n---\\nMore.")[0]
    FrontMatter(title=None, date=None, outlet=None, author=None, url=None)
    """
    if source and Path(source).suffix.lower() not in FRONT_MATTER_SUFFIXES:
        return FrontMatter(), text
    block = _block(text)
    if block is None:
        return FrontMatter(), text
    entries, end = block
    name = source or "the article"
    values: dict[str, str | None] = {f.name: entries.get(f.name) for f in fields(FrontMatter)}
    if values["date"] is not None:
        raw = values["date"]
        values["date"] = raw if _YEAR.fullmatch(raw) else parse_date(raw)
        if values["date"] is None:
            log.warning("%s: the front matter's date %r is not a date (YYYY-MM-DD); the date is "
                        "read from the text.", name, raw[:40], extra={"source": source})
    if values["url"] is not None:
        raw = values["url"]
        values["url"] = web_url(raw)
        if values["url"] is None:
            log.warning("%s: the front matter's url %r is not an http(s) address; dropped.", name, raw[:80],
                        extra={"source": source})
    return FrontMatter(**values), text[end:]


def _block(text: str) -> tuple[dict[str, str], int] | None:
    """The front matter's entries (keys in lower case, empty values left out) and where the
    text after it starts, or None when ``text`` does not open with a closed block."""
    lines = text.split("\n", MAX_FRONT_MATTER_LINES + 1)
    if not lines or not _FENCE.fullmatch(lines[0].rstrip("\r")):
        return None
    entries: dict[str, str] = {}
    offset = len(lines[0]) + 1
    for line in lines[1:MAX_FRONT_MATTER_LINES + 1]:
        bare = line.rstrip("\r")
        offset += len(line) + 1
        if _FENCE.fullmatch(bare) or bare.rstrip() == "...":
            return (entries, min(offset, len(text))) if entries else None
        entry = _ENTRY.fullmatch(bare.rstrip())
        if entry:
            value = _value(entry.group(2) or "")
            if value:
                entries.setdefault(entry.group(1).lower(), value)
        elif bare.strip() and not _OTHER.fullmatch(bare):
            return None  # prose between two rules: text, not front matter
    return None


def _value(raw: str) -> str | None:
    """A plain or quoted YAML scalar, on one line; ``null``/``~``/empty are None."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw[1:-1]
        return " ".join(str(value).split()) or None
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return " ".join(raw[1:-1].replace("''", "'").split()) or None
    raw = re.sub(r"[ \t]+#.*$", "", raw)  # a comment after a plain value
    if raw in ("", "~", "null", "Null", "NULL"):
        return None
    return " ".join(raw.split())


def format_front_matter(meta: FrontMatter) -> str:
    """The block :func:`split_front_matter` reads back to ``meta`` (its fields in order, the
    empty ones left out), each value one double-quoted line (JSON escapes, valid YAML).

    >>> print(format_front_matter(FrontMatter(title='Le "sommet"', url="https://example.org/a")), end="")
    ---
    title: "Le \\"sommet\\""
    url: "https://example.org/a"
    ---
    """
    lines = ["---"]
    for f in fields(meta):
        value = getattr(meta, f.name)
        if value:
            lines.append(f"{f.name}: {json.dumps(' '.join(str(value).split()), ensure_ascii=False)}")
    lines.append("---")
    return "\n".join(lines) + "\n"
