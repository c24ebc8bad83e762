"""Text and metadata out of binary document formats: PDF (through pypdf) and DOCX (through
python-docx).

Each reader returns the article's raw text, one paragraph per blank-line-separated block,
and the metadata the file itself holds (``{"title": …, "date": …}``, None when it does
not say); :func:`rag.ingest.corpus.parse_document` then cleans the text like any other
article's, so offsets point into the cleaned text as always. A file that cannot be read
(encrypted, scanned without a text layer, damaged) raises :class:`~rag.errors.CorpusError`
naming it and saying why: it is skipped like any other bad file. No OCR is done.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from rag.errors import CorpusError

#: The binary formats read here; :data:`rag.ingest.corpus.SUPPORTED_SUFFIXES` includes them.
BINARY_SUFFIXES = (".pdf", ".docx")

#: A DOCX whose parts unpack to more than this is refused before python-docx reads them
#: all into memory: a 5 MB zip of repeated XML can unpack to gigabytes.
MAX_DOCX_UNPACKED_BYTES = 256 * 1024 * 1024

Meta = dict[str, str | None]


def read_binary(data: bytes, source: str) -> tuple[str, Meta]:
    """The text and metadata of a binary article, its reader picked by ``source``'s suffix
    (the article's name decides, as for the text formats)."""
    suffix = PurePath(source).suffix.lower()
    if suffix == ".pdf":
        return pdf_to_text(data, source)
    if suffix == ".docx":
        return docx_to_text(data, source)
    raise CorpusError(f"{source}: not a PDF or DOCX file; skipped.")


def _reason(exc: BaseException) -> str:
    """A library's complaint in a few words, for the message that names the skipped file."""
    text = " ".join(str(exc).split())
    if not text:
        return type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "…"


# --------------------------------------------------------------------------- PDF

# A line that is only a page number ("3", "- 3 -", "Page 3", "3/12", "page 3 sur 12").
_PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:page|p\.)?\s*\d{1,4}(?:\s*(?:/|of|sur|de)\s*\d{1,4})?[-–—\s]*$", re.I)
# Where a line may end a paragraph: after a sentence's end, a closing quote or bracket, a colon.
_TERMINAL = re.compile(r"[.!?…»\"”:)]\s*$")
# A word cut at a line's end ("négo-" + "ciations").
_HYPHEN_END = re.compile(r"\w[-\u00ad]$")
# Document titles that are the name of the file printed, or a program's placeholder.
_JUNK_TITLE = re.compile(r"\.(docx?|pdf|odt|rtf|txt|html?|indd|qxd)$|^(untitled|sans titre|microsoft word\b)", re.I)


@dataclass
class _Line:
    """One text line of a page, where it stands (``y``: its baseline, upwards; None when
    unknown) and its largest font size."""

    text: str
    y: float | None = None
    size: float = 0.0


@dataclass
class _Page:
    lines: list[_Line] = field(default_factory=list)


def pdf_to_text(data: bytes, source: str) -> tuple[str, Meta]:
    """The text of a PDF's pages, in paragraphs, and its /Title and /CreationDate.

    pypdf gives lines, not paragraphs: a paragraph ends where the gap to the next line is
    clearly wider than the page's usual line spacing, where the font size changes (a
    heading), or after a short line ending a sentence. Lines repeated at the top or bottom
    of most pages (a running header, a footer) and bare page numbers are dropped; a word
    hyphenated across a line break is joined.
    """
    from pypdf import PdfReader

    pypdf_log = logging.getLogger("pypdf")
    if pypdf_log.level == logging.NOTSET:  # its notes on damaged files, pages long: the skip message says what matters
        pypdf_log.setLevel(logging.CRITICAL)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _opens_without_password(reader):
            raise CorpusError(f"{source}: encrypted PDF; skipped. Save it without a password to index it.")
        pages = [_read_page(page) for page in reader.pages]
        info = reader.metadata
        title = _clean_title(info.title if info else None)
        date = _pdf_date(info)
    except CorpusError:
        raise
    except Exception as exc:  # a damaged PDF fails in pypdf in many ways (its errors, KeyError, ValueError…)
        raise CorpusError(f"{source}: not a readable PDF ({_reason(exc)}); skipped.") from exc
    if b"%%EOF" not in data[-8192:]:
        # pypdf rebuilds what it can of a cut file: a part of an article is not the article
        raise CorpusError(f"{source}: not a readable PDF (the file is cut short: no end-of-file mark); skipped.")
    _drop_headers_and_footers(pages)
    text = _paragraphs(pages)
    if not text.strip():
        raise CorpusError(f"{source}: no text layer (a scanned PDF?); skipped. Text is not recognised in "
                          "images (no OCR): export the article as text or as a PDF with text to index it.")
    return text, {"title": title, "date": date}


def _opens_without_password(reader: Any) -> bool:
    """Whether an encrypted PDF opens with the empty password, as any viewer opens a PDF
    that is encrypted only to forbid printing or copying."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # AES without the cryptography package, an unknown handler
        return False


def _pdf_date(info: Any) -> str | None:
    """The /CreationDate as ``YYYY-MM-DD``, or None (absent or not a date)."""
    if info is None:
        return None
    try:
        created = info.creation_date
    except Exception:  # a malformed date string: the text may still hold the date
        return None
    return created.date().isoformat() if isinstance(created, datetime) else None


def _clean_title(title: object) -> str | None:
    """A metadata title worth showing: not empty, not a file name, not "Untitled"."""
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    return title if title and not _JUNK_TITLE.search(title) else None


def _read_page(page: Any) -> _Page:
    """A page's lines as pypdf extracts them, each with where it stands.

    pypdf's ``visitor_text`` hands the extracted text in the pieces it is made of, each
    with its matrices: joined, they are ``extract_text()``'s output, so a line is the
    pieces up to a newline, its position that of its first piece with text.
    """
    out = _Page()
    current = _Line("")

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        nonlocal current
        for i, part in enumerate(text.split("\n")):
            if i:
                out.lines.append(current)
                current = _Line("")
            if part.strip():
                if current.y is None:
                    current.y = _baseline(cm, tm)
                current.size = max(current.size, _scaled_size(cm, tm, size))
            current.text += part

    page.extract_text(visitor_text=visit)
    out.lines.append(current)
    for line in out.lines:
        line.text = " ".join(line.text.split())
    out.lines = [ln for ln in out.lines if ln.text]
    return out


def _baseline(cm: Any, tm: Any) -> float | None:
    """The y of a text piece on the page: the text matrix's origin through the current
    transformation matrix."""
    try:
        return float(tm[4]) * float(cm[1]) + float(tm[5]) * float(cm[3]) + float(cm[5])
    except (TypeError, ValueError, IndexError):
        return None


def _scaled_size(cm: Any, tm: Any, size: float) -> float:
    """The font size as drawn (a size of 1 scaled by the matrices is common)."""
    try:
        return abs(float(size) * float(tm[3]) * float(cm[3])) or float(size)
    except (TypeError, ValueError, IndexError):
        return 0.0


def _edge_key(text: str) -> str:
    """A line as compared between pages: case, spacing and numbers (page numbers, dates
    of printing) left out."""
    return re.sub(r"\d+", "#", " ".join(text.casefold().split()))


def _edges(page: _Page, n: int = 2) -> list[int]:
    """The indexes of the ``n`` top and ``n`` bottom lines of a page (by position when
    known, else in reading order)."""
    indexes = list(range(len(page.lines)))
    if all(ln.y is not None for ln in page.lines):
        indexes.sort(key=lambda i: -(page.lines[i].y or 0.0))
    return sorted(set(indexes[:n] + indexes[-n:]))


def _drop_headers_and_footers(pages: list[_Page]) -> None:
    """Drop page numbers at a page's top or bottom, and the lines found there on at least
    half the pages (two at least): running headers and footers."""
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({_edge_key(page.lines[i].text) for i in _edges(page)})
    repeated = {key for key, count in seen.items() if len(pages) >= 2 and count >= max(2, (len(pages) + 1) // 2)}
    for page in pages:
        drop = {i for i in _edges(page)
                if _PAGE_NUMBER.match(page.lines[i].text) or _edge_key(page.lines[i].text) in repeated}
        page.lines = [ln for i, ln in enumerate(page.lines) if i not in drop]


def _breaks_after(lines: list[_Line]) -> Iterator[bool]:
    """For each line of a page but the last, whether a paragraph ends after it.

    The usual line spacing is measured per font size (a heading's lines stand further
    apart than the body's), the median of the steps between lines of that size (most are
    within paragraphs), but never taken above 1.3 times the size (a page of one-line
    paragraphs has no step within one).
    """
    steps: dict[float, list[float]] = {}
    for a, b in zip(lines, lines[1:]):
        if a.y is not None and b.y is not None and a.y > b.y and _same_size(a, b):
            steps.setdefault(round(a.size, 1), []).append(a.y - b.y)
    widest = max((len(ln.text) for ln in lines), default=0)
    for a, b in zip(lines, lines[1:]):
        gap = a.y - b.y if a.y is not None and b.y is not None else None
        usual = statistics.median(steps[round(a.size, 1)]) if round(a.size, 1) in steps else None
        if usual is not None and a.size:
            usual = min(usual, 1.3 * a.size)
        yield bool((gap is not None and usual is not None and gap > 1.3 * usual)
                   or not _same_size(a, b)
                   or (_TERMINAL.search(a.text) and len(a.text) < 0.7 * widest))


def _same_size(a: _Line, b: _Line) -> bool:
    """Whether two lines are in one font size (a heading and its body are not)."""
    return not (a.size and b.size) or abs(a.size - b.size) <= 0.15 * max(a.size, b.size)


def _paragraphs(pages: list[_Page]) -> str:
    """The pages' lines as paragraphs separated by blank lines.

    A paragraph that goes on on the next page is kept whole: the page starts in lower case,
    or the last line before it ends no sentence and is either full (a paragraph's line,
    whatever follows: "…le porte-parole du" "Kremlin…") or followed by no capital ("…d'un
    dialogue" "«assez intense»."); a short unfinished line before a capital is a heading.
    """
    paragraphs: list[list[str]] = []
    last_width = 0  # the widest line of the page before
    for page in pages:
        if not page.lines:
            continue
        first = page.lines[0].text
        before = paragraphs[-1][-1] if paragraphs else ""
        goes_on = bool(before) and (first[:1].islower() or not _TERMINAL.search(before) and (
            not first[:1].isupper() or len(before) >= 0.7 * last_width))
        if goes_on:
            paragraphs[-1].append(first)
        else:
            paragraphs.append([first])
        for line, ends in zip(page.lines[1:], _breaks_after(page.lines)):
            if ends:
                paragraphs.append([line.text])
            else:
                paragraphs[-1].append(line.text)
        last_width = max(len(ln.text) for ln in page.lines)
    joined = [_join_lines(p) for p in paragraphs]
    return _rejoin_hyphens("\n\n".join(joined))


def _join_lines(lines: list[str]) -> str:
    """A paragraph's lines as one line. A hyphen at a line's end before a capital or a
    digit stays ("États-" "Unis", "2020-" "2021"); before a lower-case letter the break is
    marked (``\\x00``) for :func:`_rejoin_hyphens`, which needs the whole text to decide."""
    out = lines[0]
    for line in lines[1:]:
        if _HYPHEN_END.search(out) and line[:1].isalnum():
            out += ("\x00" if line[:1].islower() else "") + line
        else:
            out += " " + line
    return out


def _rejoin_hyphens(text: str) -> str:
    """Join the words hyphenated at a line break: a soft hyphen goes; a hyphen stays where
    the hyphenated word appears elsewhere in the text ("porte-parole", "États-Unis"), and
    goes otherwise ("négo-ciations" is "négociations").

    >>> _rejoin_hyphens("Le porte-parole et le porte-\\x00parole; négo-\\x00ciations.")
    'Le porte-parole et le porte-parole; négociations.'
    """
    def join(m: re.Match[str]) -> str:
        head, mark, tail = m.group(1), m.group(2), m.group(3)
        if mark == "-" and f"{head}-{tail}".casefold() in hyphenated:
            return f"{head}-{tail}"
        return head + tail

    hyphenated = set(re.findall(r"\w+-\w+", text.casefold()))  # once: a look-up per break stays linear
    return re.sub(r"(\w+)([-\u00ad])\x00(\w+)", join, text).replace("\x00", " ")


# --------------------------------------------------------------------------- DOCX

# The date python-docx's own template carries: a file made by python-docx without a date of its own.
_DOCX_TEMPLATE_DATE = datetime(2013, 12, 23, 23, 15)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def docx_to_text(data: bytes, source: str) -> tuple[str, Meta]:
    """The paragraphs of a DOCX (and its tables' rows, in document order), its title (core
    properties, else the first heading) and date (core properties' created).

    Headers, footers, footnotes and comments are not the article's text and are left out.
    """
    if data.startswith(_OLE_MAGIC):
        raise CorpusError(f"{source}: a password-protected or old-format (.doc) Word file, not a readable DOCX; "
                          "skipped. Save it as .docx without a password to index it.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            unpacked = sum(info.file_size for info in package.infolist())
        if unpacked > MAX_DOCX_UNPACKED_BYTES:
            raise CorpusError(f"{source}: not a readable DOCX (it unpacks to {unpacked / 1024 / 1024:,.0f} MB); skipped.")
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
        blocks: list[tuple[str, str]] = []  # (style name, text)
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks += [("", row) for row in _table_rows(item)]
            else:
                blocks.append((_style_name(item), item.text))
        props = document.core_properties
        title = _clean_title(props.title)
        created = props.created
    except CorpusError:
        raise
    except Exception as exc:  # not a zip, a part missing, broken XML…
        raise CorpusError(f"{source}: not a readable DOCX ({_reason(exc)}); skipped.") from exc
    paragraphs = [" ".join(text.split()) for _, text in blocks]
    if title is None:
        title = next((" ".join(text.split()) for style, text in blocks
                      if (style == "Title" or style.startswith("Heading")) and text.strip()), None)
    date = None
    if isinstance(created, datetime) and created.replace(tzinfo=None) != _DOCX_TEMPLATE_DATE:
        date = created.date().isoformat()
    return "\n\n".join(p for p in paragraphs if p), {"title": title, "date": date}


def _style_name(paragraph: Any) -> str:
    try:
        return str(paragraph.style.name or "")
    except Exception:  # a style the file names but does not define
        return ""


def _table_rows(table: Any) -> list[str]:
    """A table's rows, each as its cells' text joined by " | " (a merged cell once)."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows
