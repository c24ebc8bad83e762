"""``rag bench``'s load part: the web page served in a child process on a free loopback
port, its ``/ask`` API driven by 1, 10 and 50 concurrent clients for a fixed time each.

Each client is a thread that asks the question set's questions in turn (each client
starts at another question), one request after the other, through Gradio's plain HTTP
API: ``POST /gradio_api/call/ask`` gives an event id, ``GET /gradio_api/call/ask/<id>``
streams server-sent events until ``complete`` (an answer) or ``error``. A request's
latency runs from the POST to the ``complete`` event, queueing included. Per level:
requests/s (answers completed in the level's time), p50/p95, errors, and the server
process's resident memory (``/proc/<pid>/status``) at the start and the end.

The clients run in the benchmark's own process, on the same machine as the server:
on 2 cores they take some of the CPU the server would have (figures are pessimistic).
Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.evaluation.metrics import percentile
from rag.settings import Settings

LOOPBACK = "127.0.0.1"
#: Concurrent clients of each level, in order.
LEVELS = (1, 10, 50)
#: Seconds of each level unless told (``rag bench --load-seconds``).
LEVEL_SECONDS = 20.0
#: One request may take this long before it counts as an error (a stuck server).
REQUEST_TIMEOUT = 120.0
#: Seconds between two readings of the server's memory during a level (whether it levels off).
RSS_EVERY = 30.0
#: The server must answer its page within this long after it is started (models and
#: index load in ~5 s on a quiet machine; a busy shared one was seen 8x slower).
START_TIMEOUT = 180.0
#: The readers a load test may run: the offline ones (a language model would make it
#: a benchmark of the model).
OFFLINE_READERS = ("learned", "extractive")

Log = Callable[[str], None]


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process (Linux ``/proc``), or None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def rss_parts_mib(pid: int) -> dict[str, float]:
    """A process's resident memory by kind (Linux ``/proc``; empty elsewhere): ``anon``
    (its own heap: what it holds), ``file`` (mapped files: libraries, models) and ``shmem``
    (shared memory it has touched: Ray's object store, mapped by every process that reads
    an object from it, counted in each one's RSS)."""
    kinds = {"RssAnon:": "anon", "RssFile:": "file", "RssShmem:": "shmem"}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split() for line in lines)
    return {kinds[f[0]]: round(int(f[1]) / 1024, 1) for f in fields if len(f) >= 2 and f[0] in kinds}


def pymalloc_mib() -> dict[str, float]:
    """This process's small-object allocator (CPython's pymalloc, objects up to 512 bytes):
    ``arenas`` (what it holds from the system) and ``allocated`` (what live objects use of
    them), read from ``sys._debugmallocstats`` (written to the C-level stderr, caught here
    through a temporary file for the call's few milliseconds: whatever else this process
    writes to stderr in them goes there too)."""
    import os
    import re

    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        text = caught.read().decode(errors="replace")

    def field(name: str) -> int:
        found = re.search(re.escape(name) + r"\s*=\s*([\d,]+)", text)
        return int(found.group(1).replace(",", "")) if found else 0

    # "N arenas * SIZE bytes/arena = TOTAL"
    return {"arenas": round(field("bytes/arena") / 2**20, 1),
            "allocated": round(field("# bytes in allocated blocks") / 2**20, 1)}


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (Linux ``/proc``; 0 elsewhere)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss_mib(p) or 0.0
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


@contextlib.contextmanager
def served(settings: Settings, reader: str, env: dict[str, str], cwd: Path,
           log: Log) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``rag serve`` on a free loopback port in a child process; yields its URL and process."""
    port = free_port()
    argv = [sys.executable, "-m", "rag.cli", "--corpus", str(settings.corpus_dir), "--index",
            str(settings.index_dir), "--reader", reader, "--translator", settings.translator, "serve", "--host", LOOPBACK, "--port", str(port)]
    url = f"http://{LOOPBACK}:{port}"
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=str(cwd))
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(f"the server stopped ({proc.returncode}): "
                                       f"{output.read().decode('utf-8', 'replace')[-800:]}")
                try:
                    with urllib.request.urlopen(url + "/", timeout=5):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not answer on {url} within "
                                           f"{START_TIMEOUT:.0f} s") from None
                    time.sleep(0.5)
            log(f"load: server up on {url} (pid {proc.pid})")
            yield url, proc
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """Stop a server this benchmark started: asked first, killed after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ask(url: str, question: str, history: Sequence[str] = (), timeout: float = REQUEST_TIMEOUT
        ) -> dict[str, Any]:
    """One question through the page's ``/ask`` API (plain HTTP); the answer JSON.
    Raises ``RuntimeError`` with the server's message on an ``error`` event."""
    body = json.dumps({"data": [question, list(history)]}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/call/ask", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/ask/{event_id}", timeout=timeout) as response:
        event = None
        for raw in response:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:].strip())
                if event == "error":
                    raise RuntimeError(f"server error: {data}")
                return data[0]
    raise RuntimeError("the event stream ended without an answer")


def run_level(url: str, clients: int, seconds: float, questions: Sequence[str],
              pid: int | None = None) -> dict[str, Any]:
    """``clients`` threads asking for ``seconds``; latencies and errors, and the memory of
    process ``pid`` every :data:`RSS_EVERY` seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i * 7  # each client starts at another question
        while time.monotonic() < deadline:
            question = questions[n % len(questions)]
            n += 1
            t0 = time.perf_counter()
            try:
                ask(url, question)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the level goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)

    samples: list[tuple[float, float | None]] = []
    done = threading.Event()

    def watch() -> None:
        while pid is not None and not done.wait(RSS_EVERY):
            samples.append((round(time.perf_counter() - t0), rss_mib(pid)))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "seconds": round(wall, 1), "requests": len(latencies),
            "requests_per_s": round(len(latencies) / wall, 2) if wall else None,
            "p50_ms": percentile(latencies, 50) if latencies else None,
            "p95_ms": percentile(latencies, 95) if latencies else None,
            "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "rss_mib_samples": [rss for _, rss in samples]}


def bench_load(settings: Settings, questions: Sequence[str], *, env: dict[str, str], cwd: Path,
               levels: Sequence[int] = LEVELS, seconds: float = LEVEL_SECONDS,
               log: Log = print) -> dict[str, Any]:
    """The load test over the index in ``settings.index_dir`` (built beforehand)."""
    reader = settings.reader if settings.reader in OFFLINE_READERS else OFFLINE_READERS[0]
    out: dict[str, Any] = {"reader": reader, "seconds_per_level": seconds, "rss_every_s": RSS_EVERY, "levels": []}
    with served(settings, reader, env, cwd, log) as (url, proc):
        for q in questions[:3]:  # warm-up: BM25 built, caches filled
            ask(url, q)
        out["rss_mib_after_warmup"] = rss_mib(proc.pid)
        for clients in levels:
            log(f"load: {clients} client(s) for {seconds:.0f} s...")
            start = rss_mib(proc.pid)
            level = run_level(url, clients, seconds, questions, pid=proc.pid)
            level["rss_mib_start"], level["rss_mib_end"] = start, rss_mib(proc.pid)
            out["levels"].append(level)
    by_clients = {lv["clients"]: lv for lv in out["levels"]}
    if 1 in by_clients and 10 in by_clients and by_clients[1]["p95_ms"] and by_clients[10]["p95_ms"]:
        ratio = by_clients[10]["p95_ms"] / by_clients[1]["p95_ms"]
        out["p95_ratio_10_over_1"] = round(ratio, 2)
        out["target_p95_10_within_3x_1"] = ratio <= 3.0
    return out
