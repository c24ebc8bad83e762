"""Serving many users: who may answer at once, and where the page may listen.

* :class:`Service` — what the page wraps around each piece of work. Answers with the
  offline readers run side by side (up to ``Settings.serve_concurrency``, Gradio's
  concurrency limit: retrieval and these readers are thread-safe, see
  ``tests/test_concurrency.py``); a language-model reader answers one question at a time
  with at most ``Settings.generative_queue`` more waiting, and refuses the next with
  :class:`BusyError` ("busy, try again") rather than letting it wait for minutes; a corpus
  change (upload, removal: an ingest) waits for the answers under way and holds the new
  ones until it is done.
* :func:`resolve_address` / :func:`check_address` — ``--host``/``--port``, else
  ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else 127.0.0.1:7860; and a bind test
  that says what is wrong (not this machine's address, port in use, port reserved,
  unknown host name) where Gradio would only say "Cannot find empty port".

No Gradio here: the page (:mod:`rag.web.page`) and ``rag serve`` call these.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from ..errors import RagError

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Questions a language-model reader answers at once: one. A local model (llama.cpp)
#: holds one context that is not reentrant, and on 2 cores one answer already takes
#: both (10–20 s each, README "Readers"); two at once would only take twice as long.
GENERATIVE_AT_ONCE = 1


class BusyError(RagError):
    """Too many questions wait for a slow reader: the user should try again later."""


class ServeError(RagError):
    """The page cannot listen where it was asked to (address, port, host name)."""


class Gate:
    """At most ``limit`` holders at once and ``queue`` more waiting; beyond, :class:`BusyError`."""

    def __init__(self, limit: int, queue: int, what: str) -> None:
        self.limit = limit
        self.queue = queue
        self.what = what
        self.admitted = 0  # holders and waiters
        self._count = threading.Lock()
        self._slots = threading.Semaphore(limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._count:
            if self.admitted >= self.limit + self.queue:
                at_once = "one question" if self.limit == 1 else f"{self.limit} questions"
                waiting = self.admitted - self.limit
                queue = {0: "", 1: " and one more is waiting"}.get(waiting, f" and {waiting} more are waiting")
                raise BusyError(f"{self.what[:1].upper()}{self.what[1:]} is busy: it answers {at_once} "
                                f"at a time{queue}. Please try again in a minute, or, in the web chat, "
                                "choose the learned reader in Settings (it answers at once).")
            self.admitted += 1
        try:
            self._slots.acquire()
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._count:
                self.admitted -= 1


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back (it is never
    starved by a stream of questions). Not tied to threads: a streamed answer may be
    resumed by another worker thread than the one that started it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Service:
    """The page's admission rules (see the module's docstring); one per served page."""

    def __init__(self, generative_queue: int) -> None:
        self.corpus = ReadWriteLock()
        self._generative_queue = generative_queue
        self._gates: dict[str, Gate] = {}
        self._gates_lock = threading.Lock()

    def _gate(self, reader: Any) -> Gate | None:
        if not getattr(reader, "streams", False):  # the offline readers: milliseconds, side by side
            return None
        with self._gates_lock:
            if reader.name not in self._gates:
                self._gates[reader.name] = Gate(GENERATIVE_AT_ONCE, self._generative_queue,
                                                f"the {reader.name} reader")
            return self._gates[reader.name]

    @contextlib.contextmanager
    def answering(self, reader: Any) -> Iterator[None]:
        """Held while ``reader`` answers a question: its slot (a language model's), then a
        share of the corpus. Raises :class:`BusyError` when the model's queue is full."""
        gate = self._gate(reader)
        with gate.slot() if gate is not None else contextlib.nullcontext(), self.corpus.reading():
            yield

    def guarded(self, reader: Any, updates: Iterator[T]) -> Iterator[T]:
        """``updates`` (a streamed answer), produced while :meth:`answering` is held."""
        with self.answering(reader):
            yield from updates

    def changing_corpus(self) -> contextlib.AbstractContextManager[None]:
        """Held while an upload or a removal ingests: alone, after the answers under way."""
        return self.corpus.writing()


# --------------------------------------------------------------------------- address


def resolve_address(host: str | None = None, port: int | None = None,
                    env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """Where to listen: the arguments (flags), else ``GRADIO_SERVER_NAME`` /
    ``GRADIO_SERVER_PORT``, else 127.0.0.1:7860.

    >>> resolve_address(None, None, {"GRADIO_SERVER_PORT": "8080"})
    ('127.0.0.1', 8080)
    >>> resolve_address("0.0.0.0", 9000, {"GRADIO_SERVER_PORT": "8080"})
    ('0.0.0.0', 9000)
    """
    env = os.environ if env is None else env
    host = host or env.get("GRADIO_SERVER_NAME", "").strip() or DEFAULT_HOST
    if port is None:
        raw = env.get("GRADIO_SERVER_PORT", "").strip()
        if not raw:
            return host, DEFAULT_PORT
        try:
            port = int(raw)
        except ValueError:
            port = -1
        if not 1 <= port <= 65535:
            raise ServeError(f"GRADIO_SERVER_PORT={raw!r} is not a port number (1-65535). Set it to "
                             f"a free port such as {DEFAULT_PORT}, unset it, or pass --port.")
    return host, port


def check_address(host: str, port: int) -> None:
    """Bind ``host:port`` once, as the server will, and say plainly why it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"Unknown host name {host!r} ({exc.strerror}). Use 127.0.0.1 (this machine "
                         "only), 0.0.0.0 (every network interface) or a name of this machine.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket does
        try:
            s.bind(address)
        except OSError as exc:
            raise bind_error(exc, host, port) from None


def bind_error(exc: OSError, host: str, port: int) -> ServeError:
    """The message for a failed bind of ``host:port``, by its errno."""
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServeError(f"{host} is not an address of this machine, so the chat cannot listen on it. "
                          "Use 127.0.0.1 (this machine only), 0.0.0.0 (every network interface) or "
                          "one of this machine's own addresses (--host or GRADIO_SERVER_NAME).")
    if exc.errno == errno.EADDRINUSE:
        return ServeError(f"Port {port} on {host} is already in use (another server?). Stop it, or "
                          "pick another port with --port (or GRADIO_SERVER_PORT).")
    if exc.errno == errno.EACCES:
        return ServeError(f"Not allowed to listen on port {port} of {host}"
                          + (": ports below 1024 are reserved for the system administrator"
                             if port < 1024 else "")
                          + f". Pick a port from 1024 up, such as {DEFAULT_PORT}, with --port.")
    return ServeError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host and --port "
                      "(or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT).")
