"""Read a folder of articles (``.txt``, ``.md``, ``.html``, ``.pdf``, ``.docx``) into cleaned
:class:`Document` s.

A file that cannot be read (binary, undecodable, an encrypted or scanned PDF, damaged, empty
after cleaning) is skipped with a warning naming it; the rest of the corpus is still loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError
from rag.files import file_sha256
from rag.ingest.cleaning import clean_article
from rag.ingest.formats import BINARY_SUFFIXES, read_binary
from rag.ingest.frontmatter import split_front_matter
from rag.ingest.webpage import PageArticle, UnreadablePage, read_page
from rag.types import Document
from rag.urls import web_url

log = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm")
SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", *HTML_SUFFIXES, *BINARY_SUFFIXES)
#: The formats as messages name them (every suffix above is one of these).
ARTICLE_FORMATS = ".txt, .md, .html, .pdf or .docx"


@dataclass
class CorpusScan:
    """The article files of a corpus folder with their content hashes, and the files
    refused before being read (a link leading outside the folder, a file over the size
    limit, something that is not a regular file), each with its reason."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # source (relative path) -> file
    hashes: dict[str, str] = field(default_factory=dict)  # source -> sha256 of the bytes
    refused: dict[str, str] = field(default_factory=dict)  # source -> why, for the user


def scan_corpus(root: Path, *, follow_links: bool = False, max_bytes: int | None = None,
                names_only: bool = False) -> CorpusScan:
    """List the article files below ``root`` and hash them (cheap: no parsing);
    ``names_only``: list them, no file read and no warning (what a start-up check needs).

    A file or folder that is a link resolving outside ``root`` is refused with a warning
    naming it, unless ``follow_links``; links that stay inside are fine. A file over
    ``max_bytes`` is refused from its size alone, never read. Files are hashed in 1 MiB
    blocks, so a big file never sits in memory whole.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"Corpus folder {root} does not exist. Point --corpus (or RAG_CORPUS_DIR) "
                          f"at a folder of {ARTICLE_FORMATS} articles.")
    scan = CorpusScan(root=root)
    real_root = root.resolve()
    seen_dirs: set[Path] = set()
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(folder)
        real = here.resolve()
        if real in seen_dirs:  # a link back to a folder already walked: no loop
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        keep = []
        for name in sorted(dirnames):
            sub = here / name
            if name.startswith("."):
                continue
            if sub.is_symlink() and not follow_links and not _inside(sub.resolve(), real_root):
                _refuse(scan, sub, root, f"{_rel(sub, root)}: a link to {shown_name(str(sub.resolve()))}, outside the corpus "
                        "folder; skipped (set RAG_FOLLOW_LINKS=1 or pass --follow-links to index it).",
                        names_only)
                continue
            keep.append(name)
        dirnames[:] = keep
        found += [here / n for n in filenames
                  if not n.startswith(".") and Path(n).suffix.lower() in SUPPORTED_SUFFIXES]
    for path in sorted(found):
        source = _rel(path, root)
        target = path.resolve()
        if not follow_links and not _inside(target, real_root):
            _refuse(scan, path, root, f"{source}: a link to {shown_name(str(target))}, outside the corpus folder; skipped "
                    "(set RAG_FOLLOW_LINKS=1 or pass --follow-links to index it).", names_only)
            continue
        try:
            info = path.stat()
        except OSError as exc:  # a dangling link, a file gone meanwhile
            _refuse(scan, path, root, f"{source}: cannot be read ({exc.strerror or exc}); skipped.", names_only)
            continue
        if not stat.S_ISREG(info.st_mode):
            _refuse(scan, path, root, f"{source}: not a regular file; skipped.", names_only)
            continue
        if max_bytes is not None and info.st_size > max_bytes:
            _refuse(scan, path, root, too_big(source, info.st_size, max_bytes) + " Skipped.", names_only)
            continue
        if names_only:
            scan.files[source] = path
            continue
        try:
            scan.hashes[source] = file_sha256(path)
        except OSError as exc:
            _refuse(scan, path, root, f"{source}: cannot be read ({exc.strerror or exc}); skipped.")
            continue
        scan.files[source] = path
    return scan


def is_html(source: str) -> bool:
    """Whether the article ``source`` is an HTML page (its suffix says)."""
    return Path(source).suffix.lower() in HTML_SUFFIXES


def too_big(name: str, size: int, max_bytes: int) -> str:
    """The message for a file over the size limit: its name, its size, how to raise the limit."""
    return (f"{name}: {size / 1024 / 1024:,.1f} MB is over the {max_bytes / 1024 / 1024:g} MB limit for an "
            f"article file (raise it with RAG_MAX_FILE_MB=…).")


def _inside(path: Path, real_root: Path) -> bool:
    return path == real_root or real_root in path.parents


def _rel(path: Path, root: Path) -> str:
    return shown_name(path.relative_to(root).as_posix())


def shown_name(name: str) -> str:
    r"""A file name as the index stores and shows it: always valid UTF-8 text. The bytes of a
    name that are not UTF-8 (Python holds them as surrogate escapes, e.g. a Latin-1
    ``café.txt`` from an old archive) are written ``\xNN``; every id and hash is then
    computed from this text, which any encoder accepts.

    >>> shown_name(os.fsdecode(b"caf\xe9.txt")), shown_name("café.txt")
    ('caf\\xe9.txt', 'café.txt')
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system decoding makes: not from a disk
        raw = name.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def article_path(root: Path, source: str) -> Path:
    """The file of the article ``source`` under ``root``: each part of the path as named,
    or, when the name was escaped by :func:`shown_name`, the entry of its folder whose
    shown name it is."""
    path = Path(root)
    for part in Path(source).parts:
        candidate = path / part
        if not os.path.lexists(candidate) and "\\" in part:
            with contextlib.suppress(OSError):
                candidate = next((path / n for n in sorted(os.listdir(path)) if shown_name(n) == part), candidate)
        path = candidate
    return path


def _refuse(scan: CorpusScan, path: Path, root: Path, reason: str, quiet: bool = False) -> None:
    scan.refused[_rel(path, root)] = reason
    if not quiet:
        log.warning("%s", reason, extra={"source": _rel(path, root)})


def load_document(path: Path, source: str, sha256: str | None = None, *,
                  max_bytes: int | None = None) -> Document:
    """Read, decode, parse and clean one article file.

    Raises ``CorpusError`` with the file's name when it is binary, undecodable, empty, or
    (found while reading, never more than ``max_bytes`` + 1 bytes read) over ``max_bytes``.
    """
    return parse_document(read_article_bytes(path, source, max_bytes=max_bytes), source, sha256)


def read_article_bytes(path: Path, source: str, *, max_bytes: int | None = None) -> bytes:
    """An article file's bytes, never more than ``max_bytes`` + 1 read (``CorpusError``
    when it is bigger)."""
    if max_bytes is None:
        return path.read_bytes()
    with open(path, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CorpusError(too_big(source, path.stat().st_size, max_bytes) + " Skipped.")
    return data


def parse_document(data: bytes, source: str, sha256: str | None = None) -> Document:
    """Decode, parse and clean an article's bytes (``source`` names it: its suffix picks
    the parser). Raises ``CorpusError`` for binary, undecodable or empty articles, and
    PDF or DOCX files that cannot be read (:mod:`rag.ingest.formats`).

    A ``.md``/``.txt`` article may open with front matter (:mod:`rag.ingest.frontmatter`):
    its title, date, outlet, author and url win over what cleaning reads, and it is not
    part of the cleaned text. An ``.html`` page's main text, title, date, outlet, author
    and address are read by trafilatura (:func:`read_html`); its text is then cleaned like
    any other article's, and what the page states wins over what cleaning reads."""
    meta: dict[str, str | None] = {}
    page: PageArticle | None = None
    suffix = Path(source).suffix.lower()  # the article's name decides, not a temp file's
    if suffix in BINARY_SUFFIXES:  # binary: read before decode(), which refuses NUL bytes
        text, meta = read_binary(data, source)
    else:
        text = decode(data, source)
    front, text = split_front_matter(text, source)  # .md/.txt only
    if is_html(source):
        page = read_html(text, source)
        text = _LIST_ITEM.sub("", page.text)
        meta = {"title": page.title, "date": page.date, "outlet": page.outlet}
    elif suffix in (".md", ".markdown"):
        text = markdown_to_text(text)
    stated = {k: v for k, v in (("title", front.title), ("date", front.date), ("outlet", front.outlet)) if v}
    cleaned = clean_article(text, **{**meta, **stated})
    if not cleaned.text.strip():
        raise CorpusError(f"{source}: no article text left after cleaning; skipped.")
    return Document(
        doc_id=doc_id_for(source),
        source=source,
        text=cleaned.text,
        title=cleaned.title,
        date=cleaned.date,
        outlet=cleaned.outlet,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        url=front.url or (web_url(page.url) if page else None),
        author=front.author or (page.author if page else None),
    )


#: trafilatura writes a list item "- item"; the dash is not the article's (a Markdown
#: file's are dropped too, and ``rag add`` stores a page's text as Markdown).
_LIST_ITEM = re.compile(r"^- (?=\S)", re.M)


def read_html(html: str, source: str) -> PageArticle:
    """The article of an HTML page (:func:`rag.ingest.webpage.read_page`: trafilatura);
    ``CorpusError`` naming ``source`` when it holds none or cannot be parsed."""
    try:
        page = read_page(html)
    except UnreadablePage as exc:
        raise CorpusError(f"{source}: cannot be read as a web page ({exc}); skipped.") from None
    if page is None:
        raise CorpusError(f"{source}: no article text found in the page (a list of links, a page built by "
                          "scripts?); skipped.")
    return page


def load_corpus(root: Path, sources: Iterable[str] | None = None, *, follow_links: bool = False,
                max_bytes: int | None = None) -> tuple[list[Document], list[str]]:
    """Load every article (or only ``sources``) of ``root``; returns documents and warnings
    (files refused by :func:`scan_corpus` included)."""
    scan = scan_corpus(root, follow_links=follow_links, max_bytes=max_bytes)
    wanted = scan.files if sources is None else {s: scan.files[s] for s in sources}
    docs: list[Document] = []
    warnings: list[str] = list(scan.refused.values())
    for source, path in wanted.items():
        try:
            docs.append(load_document(path, source, scan.hashes[source], max_bytes=max_bytes))
        except CorpusError as exc:
            warnings.append(str(exc))
            log.warning("%s", exc, extra={"source": source})
    return docs, warnings


def doc_id_for(source: str) -> str:
    """A readable, stable, unique id: the path relative to the corpus folder
    (``note.txt`` and ``note.md`` are two articles)."""
    return source


def decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 for old French files; binary is refused."""
    head = data[:8192]
    if b"\x00" in head:
        raise CorpusError(f"{source}: binary file (NUL bytes), not an article; skipped.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{source}: neither UTF-8 nor Windows-1252 text; skipped.") from exc
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t")
    if controls > len(text) * 0.01:
        raise CorpusError(f"{source}: looks binary (control characters), not an article; skipped.")
    log.warning("%s: not UTF-8, read as Windows-1252", source)
    return text


def markdown_to_text(md: str) -> str:
    """Drop Markdown markup that would otherwise be quoted (headings' #, emphasis, links).

    Linear in the text: link text may not hold "[", a link target not "(", and spaces
    are matched within a line; the unbounded ``\\[([^\\]]+)\\]`` and ``^\\s*`` were
    retried from every "[" or blank line to the end of the text, which was quadratic
    (benchmarks/README.md#cleaning-in-linear-time).
    """
    md = re.sub(r"^[ \t]{0,3}#{1,6}[ \t]*", "", md, flags=re.M)
    md = re.sub(r"!\[[^\[\]]*\]\([^()]*\)", "", md)
    md = re.sub(r"\[([^\[\]]+)\]\([^()]*\)", r"\1", md)
    md = re.sub(r"(\*\*|__)(.+?)\1", r"\2", md)
    md = re.sub(r"^[ \t]*[-*+][ \t]+", "", md, flags=re.M)
    return md


REMOVED_DIR = ".removed"


def add_files(root: Path, files: Iterable[Path], names: Iterable[str] | None = None, *,
              max_bytes: int, admit: Callable[[Document], None] | None = None) -> list[str]:
    """Copy new article files into the corpus folder; returns their sources.

    Each file is checked first (supported type, size under ``max_bytes`` — from its size,
    before reading it —, readable text, some article text after cleaning, ``admit``'s
    check of the cleaned article: the work it would cost), so a broken
    upload is refused with its name and nothing is copied for it. A name already taken by
    another article (or by anything else: a link, a folder) gets a ``-2``, ``-3``…
    suffix; a file identical to an article already there is not copied twice. The name
    is reduced to a plain file name (:func:`_safe_name`) and the copy is written to a new
    file of its own then renamed into place, so nothing lands outside the corpus folder
    and nothing is written through a link.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    files = [Path(f) for f in files]
    names = list(names) if names is not None else [f.name for f in files]
    added: list[str] = []
    for path, name in zip(files, names):
        name = _safe_name(name)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise CorpusError(f"{name}: not an article file; upload {ARTICLE_FORMATS} files.")
        size = path.stat().st_size
        if size > max_bytes:
            raise CorpusError(too_big(name, size, max_bytes))
        doc = load_document(path, name, max_bytes=max_bytes)  # raises CorpusError naming the file
        if admit is not None:
            admit(doc)
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:  # grew meanwhile
            raise CorpusError(too_big(name, len(data), max_bytes))
        digest = hashlib.sha256(data).hexdigest()
        target = root / name
        n = 2
        while os.path.lexists(target):
            if not target.is_symlink() and target.is_file() and file_sha256(target) == digest:
                break
            target = root / f"{Path(name).stem}-{n}{suffix}"
            n += 1
        if not os.path.lexists(target):
            # O_EXCL: a new file, never one through a link; 0o666 less the umask, the mode of
            # the files beside it (0644 usually; mkstemp's 0600 hid uploads from other users)
            tmp = root / f".upload-{uuid.uuid4().hex}.part"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)  # replaces a name, never writes through a link
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        added.append(target.relative_to(root).as_posix())
    return added


def remove_file(root: Path, source: str, keep: int | None = None) -> Path:
    """Take an article out of the corpus. The file is moved to ``.removed/`` inside the
    corpus folder (ignored by ingest), not deleted, so a removal can be undone by hand;
    ``.removed/`` then keeps the ``keep`` latest removed files (all when None), the older
    ones are deleted, so that removals in a loop cannot fill the disk."""
    root = Path(root).resolve()
    path = article_path(root, source)
    # The name itself, not what a link at it points to: removing a link's article moves the
    # link aside, never the file it leads to (another article, or something outside).
    folder = path.parent.resolve()
    if (Path(source).is_absolute() or ".." in Path(source).parts or not (folder == root or root in folder.parents)
            or not (path.is_symlink() or path.is_file())):
        raise CorpusError(f"{source}: no such article in {root}.")
    trash = root / REMOVED_DIR
    trash.mkdir(exist_ok=True)
    target = trash / path.name
    n = 2
    while target.exists():
        target = trash / f"{path.stem}-{n}{path.suffix}"
        n += 1
    path.replace(target)
    if keep is not None:
        _prune_removed(trash, keep)
    return target


def _prune_removed(trash: Path, keep: int) -> None:
    """Delete all but the ``keep`` latest files of ``.removed/`` (by the time they were
    moved there: a rename sets a file's ctime)."""
    entries = []
    for entry in os.scandir(trash):
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                entries.append((entry.stat(follow_symlinks=False).st_ctime_ns, entry.name, entry.path))
    for _, _, path in sorted(entries, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _safe_name(name: str) -> str:
    r"""A plain file name: no folders, no leading dot, no characters a shell would trip on,
    at most 120 characters (file systems refuse names over 255 bytes).

    >>> [_safe_name(n) for n in ("../../x.txt", "..", "/etc/passwd", "C:\\a\\b.md", "a\x00<b>.txt", ".env.txt")]
    ['x.txt', 'article.txt', 'passwd', 'b.md', 'a_b_.txt', 'env.txt']
    """
    name = Path(str(name).replace("\\", "/")).name
    name = re.sub(r"[^\w.\- ]+", "_", name, flags=re.UNICODE).strip(" .") or "article.txt"
    stem, suffix = os.path.splitext(name)
    suffix = suffix[:10]
    while len(stem) > 1 and (len(stem) + len(suffix) > 120 or len((stem + suffix).encode()) > 240):
        stem = stem[:-1]
    return stem + suffix
