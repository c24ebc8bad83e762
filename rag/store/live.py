"""The generation a server answers from, following ``CURRENT`` as ingests switch it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rag.errors import RagError
from rag.store.generations import current_name
from rag.store.index_store import IndexStore

log = logging.getLogger(__name__)

class LiveIndex:
    """The generation to answer from, following ``CURRENT``.

    :meth:`latest` reads ``CURRENT`` (one small file: cheap at every question); when
    an ingest has switched it, the new generation is loaded once, by the first thread to
    see it (the others go on with the loaded one meanwhile), and shared by every pipeline
    over this index. A question in flight keeps the
    store it started with: stores are never closed under it (the old one is freed when
    the last question holding it is done). While ``CURRENT`` is damaged, or the new
    generation does not load, the loaded one keeps answering (and the log says why, once).
    """

    def __init__(self, store: IndexStore, index_dir: Path, embedding_model: str | None = None,
                 dim: int | None = None) -> None:
        self.store = store
        self.index_dir = Path(index_dir)
        self._model = (embedding_model, dim)
        self._lock = threading.Lock()
        self._failed: str | None = None

    def latest(self, wait: bool = False) -> IndexStore:
        """The generation to answer from; ``wait``: the one ``CURRENT`` names now, waiting
        for another thread that is loading it (what an ingest wants after its switch)."""
        try:
            name = current_name(self.index_dir)
        except RagError:
            name = None
        if name is None or name == self.store.path.name or name == self._failed:
            return self.store
        # One thread loads the new generation; the questions arriving meanwhile are answered
        # from the loaded one rather than wait for it (the switch itself is one assignment).
        if not self._lock.acquire(blocking=wait):
            return self.store
        try:
            if name != self.store.path.name:
                try:
                    self.store = IndexStore.load(self.index_dir, *self._model)
                    log.info("switched to the new index generation %s", name)
                except RagError as exc:
                    self._failed = name
                    log.warning("the new index generation %s does not load (%s); still answering "
                                "from %s", name, exc, self.store.path.name)
        finally:
            self._lock.release()
        return self.store

    def close(self) -> None:
        self.store.close()
