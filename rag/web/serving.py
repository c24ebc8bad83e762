"""Serving many users: who may answer at once, and where the page may listen.

* :class:`Service` — what the page wraps around each piece of work. Answers with the
  offline readers run side by side (up to ``Settings.serve_concurrency``, Gradio's
  concurrency limit: retrieval and these readers are thread-safe, see
  ``tests/web/test_concurrency.py``); a language-model reader answers one question at a time
  with at most ``Settings.generative_queue`` more waiting, and refuses the next with
  :class:`BusyError` ("busy, try again") rather than letting it wait for minutes; a corpus
  change (upload, pages fetched from the web, removal: an ingest) runs as a :class:`Job`,
  in a thread of lower priority, while questions go on being answered from the live index;
  an upload can be cancelled.
* :func:`access_for` — who may do what on a page served at an address: with a users file,
  its accounts sign in; without one, the one local user may do everything, on a loopback
  address only unless the operator says ``no_auth``.
* :func:`resolve_address` / :func:`check_address` — ``--host``/``--port``, else
  ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else 127.0.0.1:7860; and a bind test
  that says what is wrong (not this machine's address, port in use, port reserved,
  unknown host name) where Gradio would only say "Cannot find empty port".

No Gradio here: the page (:mod:`rag.web.page`) and ``rag serve`` call these.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from rag.errors import Cancelled, RagError
from rag.ingest.report import Progress
from rag.web.accounts import Access, Accounts

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Questions a language-model reader answers at once: one. A local model (llama.cpp)
#: holds one context that is not reentrant, and on 2 cores one answer already takes
#: both (10–20 s each, docs/readers.md#generative-readers); two at once would only take twice as long.
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


class Service:
    """The page's admission rules (see the module's docstring); one per served page."""

    def __init__(self, generative_queue: int) -> None:
        self._generative_queue = generative_queue
        self._gates: dict[str, Gate] = {}
        self._gates_lock = threading.Lock()
        self._jobs: dict[str, Job[Any]] = {}  # a browser session -> its corpus change running
        self._jobs_lock = threading.Lock()

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
        """Held while ``reader`` answers a question: its slot, for a language model.
        Raises :class:`BusyError` when the model's queue is full. A corpus change never
        holds questions back: they are answered from the live generation while its ingest
        builds the next one (see :class:`Job`)."""
        gate = self._gate(reader)
        with gate.slot() if gate is not None else contextlib.nullcontext():
            yield

    def guarded(self, reader: Any, updates: Iterator[T]) -> Iterator[T]:
        """``updates`` (a streamed answer), produced while :meth:`answering` is held."""
        with self.answering(reader):
            yield from updates

    def start(self, key: str, work: Callable[[Progress], T], name: str, *, cancellable: bool = True) -> Job[T]:
        """Run ``work`` (a corpus change) as a :class:`Job`, known by ``key`` (the browser
        session's) until it ends, so that :meth:`cancel` reaches it (unless not
        ``cancellable``: pages fetched from the web are kept once stored)."""
        job: Job[T] = Job(work, name, on_end=lambda: self._forget(key, job), cancellable=cancellable)
        with self._jobs_lock:
            self._jobs[key] = job
        job.start()
        return job

    def cancel(self, key: str) -> bool:
        """Cancel the job of ``key``; False when it has none running, or one that cannot be cancelled."""
        with self._jobs_lock:
            job = self._jobs.get(key)
        if job is None or job.done or not job.cancellable:
            return False
        job.cancel()
        return True

    def _forget(self, key: str, job: Job[Any]) -> None:
        with self._jobs_lock:
            if self._jobs.get(key) is job:
                del self._jobs[key]


#: An ingest thread's CPU priority below the questions' (a nice value, 0-19): on a busy
#: machine the threads answering questions get the cores first, the ingest what is left.
INGEST_NICE = 10


class Job(Generic[T]):
    """A corpus change's ingest, run in a thread of its own at a lower CPU priority
    (:data:`INGEST_NICE`), so that questions go on being answered from the live
    generation meanwhile; only the switch to the new generation is shared (an attribute
    set, see :class:`rag.store.live.LiveIndex`). ``work`` gets a progress callback, which
    records the progress for :meth:`wait` and raises :class:`Cancelled` once
    :meth:`cancel` was called (the ingest then drops its unfinished generation)."""

    def __init__(self, work: Callable[[Progress], T], name: str,
                 on_end: Callable[[], None] | None = None, cancellable: bool = True) -> None:
        self._work = work
        self._on_end = on_end
        self.cancellable = cancellable
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.state: tuple[int, int, str] = (0, 0, "starting")
        self._result: T | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self, done: int, total: int, what: str) -> None:
        """The callback ``work`` is handed."""
        if self._cancel.is_set():
            raise Cancelled("Cancelled: nothing of this change was kept.")
        self.state = (done, total, what)

    def _run(self) -> None:
        lower_priority(INGEST_NICE)
        try:
            self._result = self._work(self.progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc
        finally:
            if self._on_end is not None:
                self._on_end()

    def wait(self, poll: Progress | None = None, every: float = 0.25) -> T:
        """Wait for the job, calling ``poll`` with its progress every ``every`` seconds;
        returns its result or raises its error."""
        while self._thread.is_alive():
            self._thread.join(every)
            if poll is not None:
                poll(*self.state)
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


def lower_priority(nice: int) -> None:
    """Give the calling thread (and the threads it starts, the embedding model's among
    them) at least this nice value; where threads have no priority of their own, nothing."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)


# --------------------------------------------------------------------------- address


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (every address it names is a
    loopback one).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def access_for(host: str, users: Path, no_auth: bool = False, read_only: bool = False) -> Access:
    """Who may do what on a page served on ``host`` (see :class:`~rag.web.accounts.Access`).

    With accounts in ``users``, they sign in (``no_auth``: nobody does, said as a warning).
    Without any, the one local user may do everything, and only on a loopback address: on
    any other the page would let anyone who reaches the port add and remove articles, so
    it is refused (:class:`ServeError`, saying how to add users) unless ``no_auth``."""
    if no_auth:
        if not is_loopback(host) or len(Accounts.load(users)):
            log.warning("sign-in is off (--no-auth): anyone who reaches %s can %s", host,
                        "ask and read the articles" if read_only else "ask, and add and remove articles")
        return Access(None, read_only)
    accounts = Accounts.load(users)
    if len(accounts):
        return Access(accounts, read_only)
    if not is_loopback(host):
        raise ServeError(f"No accounts in {users}: on {host} anyone who reaches the port could read, add "
                         "and remove articles. Add users first, e.g.\n"
                         "  rag users add alice --role editor\n"
                         "  rag users add bob --role reader\n"
                         "or serve on 127.0.0.1, or pass --no-auth to serve without sign-in anyway.")
    return Access(None, read_only)


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
