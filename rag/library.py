"""The articles behind an index: listed, added, removed, re-ingested.

A :class:`Library` changes the corpus folder and brings the index up to date with it;
the pipelines over the same :class:`~rag.store.live.LiveIndex` answer from the new
generation from their next question on.

>>> library = Pipeline.from_settings().library                # doctest: +SKIP
>>> library.add_articles(["story.txt"]).summary()             # doctest: +SKIP
'1 added, 0 changed, 0 removed, 5 unchanged; …'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.ingest.corpus import add_files, remove_file
from rag.ingest.drift import Drift, corpus_drift
from rag.ingest.report import IngestReport, Progress
from rag.ingest.run import ingest
from rag.models.embedding import Embedder
from rag.settings import Settings
from rag.store.live import LiveIndex
from rag.types import Document


class Library:
    """The corpus folder of ``settings`` and the live index built from it."""

    def __init__(self, settings: Settings, embedder: Embedder, live: LiveIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.live = live

    def articles(self) -> list[tuple[Document, int]]:
        """The indexed articles (without their text) and their chunk counts."""
        return self.live.latest().articles()

    def drift(self) -> Drift:
        """The corpus folder's files the live index does not hold, and its articles whose
        file is gone (names only: see :func:`rag.ingest.drift.corpus_drift`)."""
        return corpus_drift(self.settings, self.live.latest().manifest)

    def ingest(self, *, rebuild: bool = False, progress: Progress | None = None,
               wait: bool = True) -> IngestReport:
        """Re-ingest the corpus and switch to the new index (see :func:`rag.ingest.run.ingest`);
        while another ingest holds the index, ``progress`` is told so."""
        on_wait = (lambda message: progress(0, 0, message)) if progress else None
        report = ingest(self.settings, self.embedder, rebuild=rebuild, progress=progress, wait=wait,
                        on_wait=on_wait)
        self.live.latest(wait=True)
        return report

    def add_articles(self, files: Sequence[str | Path], names: Sequence[str] | None = None,
                     progress: Progress | None = None) -> IngestReport:
        """Copy article files into the corpus folder and ingest them (incrementally)."""
        add_files(self.settings.corpus_dir, [Path(f) for f in files], names, max_bytes=self.settings.max_file_bytes)
        return self.ingest(progress=progress)

    def remove_article(self, source: str, progress: Progress | None = None) -> IngestReport:
        """Take an article out of the corpus (moved to ``.removed/``, which keeps the latest
        ``max_removed_files``) and of the index."""
        remove_file(self.settings.corpus_dir, source, keep=self.settings.max_removed_files)
        return self.ingest(progress=progress)
