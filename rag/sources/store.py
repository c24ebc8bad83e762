"""Fetched articles written into the corpus folder as ``<slug>.md`` files with front matter.

The corpus folder stays the one source of truth: a fetched article is a file like any
other (readable, editable, removable by hand), its title, date, outlet, author and url in
its front matter (:mod:`rag.ingest.frontmatter`), its text as trafilatura read it from its
page (or :mod:`rag.ingest.formats` from a PDF or DOCX). The index is built from the folder
as always.

Each article is stored once:

* **by address**: an article already stored under the same canonical URL is rewritten in
  place (same file, so its citations keep their id) only when its text changed (its
  words, not their spacing); otherwise it is left alone, and the next ingest has nothing
  to do;
* **by text**: the same text under another URL (a syndicated copy, a print version) is
  not stored again; a warning names both URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rag.ingest.frontmatter import FRONT_MATTER_SUFFIXES, FrontMatter, format_front_matter, split_front_matter
from rag.urls import canonical_url

log = logging.getLogger(__name__)

#: Characters of a file name made from a title (before ``.md``).
SLUG_CHARS = 80
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Saved:
    """What :meth:`ArticleStore.save` did with an article: ``added``, ``updated``,
    ``unchanged``, or ``duplicate`` (its text is stored under ``same_as``, another URL);
    ``source`` is the file, relative to the corpus folder."""

    status: str
    url: str
    source: str
    same_as: str | None = None


def text_key(text: str) -> str:
    """What two copies of an article share whatever their spacing: the hash of its words."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


class ArticleStore:
    """The corpus folder's articles that came from the web (a front matter with a ``url``),
    by canonical URL and by text, and new ones written beside them."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._by_url: dict[str, str] = {}  # canonical url -> source
        self._by_text: dict[str, tuple[str, str]] = {}  # text key -> (source, its url)
        self._keys: dict[str, str] = {}  # source -> its text key
        if self.root.is_dir():
            self._scan()

    def _scan(self) -> None:
        """Read every ``.md``/``.txt`` of the folder that opens with front matter (the
        first bytes of the others), and keep those whose front matter has a ``url``."""
        for folder, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .removed/ too
            for name in sorted(filenames):
                if name.startswith(".") or Path(name).suffix.lower() not in FRONT_MATTER_SUFFIXES:
                    continue
                path = Path(folder) / name
                source = path.relative_to(self.root).as_posix()
                try:
                    if path.is_symlink() or path.stat().st_size > self.max_bytes:
                        continue
                    with open(path, "rb") as stream:
                        if not stream.read(3).startswith(b"---"):
                            continue
                        data = b"---" + stream.read()
                except OSError:
                    continue
                meta, body = split_front_matter(data.decode("utf-8", "replace"), source)
                if meta.url is None:
                    continue
                key = text_key(body)
                self._by_url.setdefault(canonical_url(meta.url), source)
                self._by_text.setdefault(key, (source, meta.url))
                self._keys[source] = key

    def source_of(self, url: str) -> str | None:
        """The file holding the article stored under ``url`` (any spelling of it), if any."""
        return self._by_url.get(canonical_url(url))

    def save(self, meta: FrontMatter, text: str) -> Saved:
        """Store an article (``meta.url`` its canonical address) unless it is there already;
        see the module for what counts as there."""
        assert meta.url, "a fetched article has its address"
        url = canonical_url(meta.url)
        content = format_front_matter(meta) + "\n" + text.strip() + "\n"
        key = text_key(text)
        source = self._by_url.get(url)
        if source is not None:
            if self._keys.get(source) == key:
                return Saved("unchanged", meta.url, source)
            self._write(source, content)
            self._remember(source, url, meta.url, key)
            return Saved("updated", meta.url, source)
        if key in self._by_text:
            other_source, other_url = self._by_text[key]
            log.debug("%s repeats %s", meta.url, other_url)
            return Saved("duplicate", meta.url, other_source, same_as=other_url)
        source = self._new_name(meta.title, url)
        self._write(source, content)
        self._remember(source, url, meta.url, key)
        return Saved("added", meta.url, source)

    def _remember(self, source: str, url: str, stated: str, key: str) -> None:
        self._by_url[url] = source
        self._by_text.setdefault(key, (source, stated))
        self._keys[source] = key

    def _new_name(self, title: str | None, url: str) -> str:
        """``<slug>.md`` from the title (else the URL's path), made unique in the folder."""
        stem = slug(title or "") or slug(Path(urlsplit(url).path).stem) or "article"
        name, n = f"{stem}.md", 2
        while os.path.lexists(self.root / name):
            name, n = f"{stem}-{n}.md", n + 1
        return name

    def _write(self, source: str, content: str) -> None:
        """Write a file of the folder whole or not at all: a new file beside it, renamed
        into place (never written through a link)."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / source
        tmp = target.parent / f".fetch-{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.write(content)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def slug(text: str) -> str:
    """A file name's stem from a title: ASCII letters and digits joined by hyphens, cut
    at a word boundary within :data:`SLUG_CHARS`.

    >>> slug("Poutine et Biden : « un dialogue intense » (vidéo)")
    'poutine-et-biden-un-dialogue-intense-video'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(stem) > SLUG_CHARS:
        stem = stem[:SLUG_CHARS].rsplit("-", 1)[0]
    return stem
