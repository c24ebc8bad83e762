"""How the corpus folder and the live index differ, by file names alone (cheap at every start)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.errors import CorpusError
from rag.ingest.corpus import scan_corpus
from rag.settings import Settings
from rag.store.manifest import Manifest


@dataclass(frozen=True)
class Drift:
    """How the corpus folder and the live index differ, by file names alone: files the
    index neither holds nor skipped (an upload whose ingest was killed, a file copied in
    since) and indexed articles whose file is gone."""

    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.gone)

    def describe(self, then: str) -> str:
        """One sentence naming them (the first few), then ``then`` (what happens next).

        >>> Drift(["a.txt"], []).describe("run rag ingest.")
        '1 file of the corpus folder is not in the index (a.txt): run rag ingest.'
        """
        parts = []
        for names, one, many in ((self.new, "file of the corpus folder is not in the index",
                                  "files of the corpus folder are not in the index"),
                                 (self.gone, "indexed article's file is gone from the corpus folder",
                                  "indexed articles' files are gone from the corpus folder")):
            if names:
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                parts.append(f"{len(names)} {one if len(names) == 1 else many} ({shown})")
        return "; ".join(parts) + f": {then}"


def corpus_drift(settings: Settings, manifest: Manifest) -> Drift:
    """The corpus folder's files the index ``manifest`` describes neither as indexed, skipped
    nor duplicate, and its articles whose file is gone; reads no file (names only), so it
    is cheap at every start. A corpus folder that is not there is no drift (the index may
    have been built elsewhere)."""
    try:
        scan = scan_corpus(settings.corpus_dir, follow_links=settings.follow_links,
                           max_bytes=settings.max_file_bytes, names_only=True)
    except CorpusError:
        return Drift()
    present = set(scan.files) | set(scan.refused)
    known = set(manifest.files) | set(manifest.skipped) | set(manifest.duplicates)
    return Drift(sorted(present - known), sorted(set(manifest.files) - present))
