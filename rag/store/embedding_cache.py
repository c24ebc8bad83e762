"""The embedding cache (``embeddings.sqlite`` in the index folder): vectors by content
hash, so unchanged text is never embedded twice and a crashed ingest resumes where it stopped."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE = "embeddings.sqlite"


class EmbeddingCache:
    """Vectors keyed by a hash of (model, embedded text); SQLite, committed per batch.

    Each row also records the last ingest that used it (``used``), so that the rows no
    live text uses can be pruned without holding every key in memory. The cache is only
    ever a shortcut: when it cannot be read (a damaged file), it is dropped with a
    warning and started afresh (see :meth:`open`), so an ingest never fails because of it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL never corrupts the file; a power cut may lose the last
        # batches, which the next ingest embeds again. FULL made a commit per batch wait on
        # the disk (a fast model's ingest spent most of its time there).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB, "
                         "used INTEGER DEFAULT 0)")
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(vectors)")}
        if "used" not in columns:  # a cache written before pruning existed
            self._db.execute("ALTER TABLE vectors ADD COLUMN used INTEGER DEFAULT 0")
        self._db.execute("SELECT count(*) FROM (SELECT key FROM vectors LIMIT 1)").fetchone()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> EmbeddingCache:
        """The cache at ``path``, or a new empty one when the file there is damaged."""
        try:
            return cls(path)
        except sqlite3.DatabaseError as exc:
            cls.drop(path, exc)
            return cls(path)

    @staticmethod
    def drop(path: Path, why: BaseException) -> None:
        """Delete a damaged cache (its WAL and shared-memory files too)."""
        log.warning("the embedding cache %s cannot be read (%s); starting a new one "
                    "(texts are embedded again)", path, why)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()

    def get_many(self, keys: Sequence[str], mark: int | None = None) -> dict[str, np.ndarray]:
        """The cached vectors of ``keys`` (those there are); ``mark`` records them as used
        by that ingest."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = list(keys[i:i + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
                if mark is not None:
                    with self._db:
                        self._db.execute(f"UPDATE vectors SET used = ? WHERE key IN ({marks})", [mark, *part])
        return found

    def put_many(self, items: dict[str, np.ndarray], mark: int = 0) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                                 [(k, int(v.shape[0]), np.asarray(v, np.float32).tobytes(), mark)
                                  for k, v in items.items()])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def prune(self, mark: int) -> int:
        """Delete every vector the ingest ``mark`` did not use (removed or edited articles,
        other models); returns how many went. The file is compacted when at least half
        of it went."""
        with self._lock:
            before = int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])
            with self._db:
                gone = self._db.execute("DELETE FROM vectors WHERE used IS NOT ?", (mark,)).rowcount
            if gone and gone * 2 >= before:
                self._db.execute("VACUUM")
        return int(gone)

    def close(self) -> None:
        self._db.close()
