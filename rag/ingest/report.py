"""What an ingest tells: its progress as it goes, and its report (what was added, changed,
removed, skipped and why)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


#: progress(done, total, what) — called while reading and embedding (total 0: a step of
#: unknown length); the CLI draws a bar with it. Warnings about one file carry its name
#: as the log record's ``source`` (the report lists them too).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Skipped:
    """A file left out of the index: its content hash (so an unchanged bad file is not read
    again) and the reason, written for the user.

    >>> Skipped.parse("ab12:a.bin: not text")
    Skipped(sha256='ab12', reason='a.bin: not text')
    >>> str(Skipped("ab12", "a.bin: not text"))
    'ab12:a.bin: not text'
    """

    sha256: str
    reason: str

    def __str__(self) -> str:  # as the manifest stores it
        return f"{self.sha256}:{self.reason}"

    @classmethod
    def parse(cls, stored: str) -> Skipped:
        sha, _, reason = stored.partition(":")
        return cls(sha, reason)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, Skipped] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)  # source -> the source indexed instead
    chunks: int = 0
    embedded: int = 0          # chunk and sentence texts that needed the model (cache misses)
    wrote_index: bool = False
    pruned: int = 0            # cached vectors dropped because no live text uses them
    vectors_written: int = 0   # chunk vectors written to the vector store (Milvus: only new or changed ones)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed",
                 f"{len(self.removed)} removed", f"{len(self.unchanged)} unchanged"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate{'s' if len(self.duplicates) > 1 else ''}")
        state = "index updated" if self.wrote_index else "index already up to date"
        return (f"{', '.join(parts)}; {self.chunks} chunks ({self.embedded} texts newly embedded); "
                f"{state} in {self.seconds:.1f} s")


def unreadable(source: str, exc: OSError) -> str:
    """Why a file that cannot be read is skipped."""
    return f"{source}: cannot be read ({exc})"
