"""The index's writer lock: one ingest at a time per index folder, whichever process runs it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rag.errors import IndexBusyError, IndexNotWritableError

log = logging.getLogger(__name__)

LOCK = ".ingest.lock"


def not_writable(index_dir: Path, exc: OSError) -> IndexNotWritableError:
    """The error for an index folder that cannot be written (the first write of an
    ingest is its lock file, so this is said before any work)."""
    why = "a read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
    return IndexNotWritableError(
        f"The index folder {index_dir} is not writable ({why}): an ingest writes the index there. "
        "Make it writable, or point --index (or RAG_INDEX_DIR) at a folder you can write.")


@contextlib.contextmanager
def index_lock(index_dir: Path, wait: bool = True,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index's writer lock (an ``flock`` on ``.ingest.lock``) for the block: one
    ingest at a time per index, whichever process or page runs it.

    When another process holds it: wait (``on_wait`` gets a message saying so first), or
    with ``wait=False`` raise :class:`IndexBusyError` at once. The lock goes with the
    process, so a killed ingest never leaves the index locked.
    """
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise not_writable(index_dir, exc) from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            message = (f"Another ingest ({holder or 'another process'}) is writing the index in "
                       f"{index_dir}.")
            if not wait:
                raise IndexBusyError(f"{message} Try again when it has finished, or leave out "
                                     "--no-wait to wait for it.") from None
            (on_wait or log.warning)(f"{message} Waiting for it to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}, started {time.strftime('%H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
