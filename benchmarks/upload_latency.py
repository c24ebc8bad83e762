"""Questions' latency while an upload is being indexed, on a real server.

The page is served in a child process (``rag serve`` on a free loopback port, as
:mod:`benchmarks.load` does) over a copy of the corpus. One client asks the team's
questions one after the other through ``/ask``: first alone (the usual latency), then
while a second client uploads a long one-line article (no full stop, every passage new
to the embedding cache) through the page's upload, until that upload's ingest is done.
The upload goes the way the browser's does: ``POST /gradio_api/upload``, then the page's
upload event through Gradio's queue.

    python -m benchmarks.upload_latency                 # a 100 KB line (~350 texts to embed)
    python -m benchmarks.upload_latency --kb 60 --json

Prints (or writes with ``--out``) p50/p95/max of the questions alone and during the
upload, how many were answered during it, and the upload's own time.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.load import REQUEST_TIMEOUT, ask, served
from rag.evaluation.metrics import percentile
from rag.settings import Settings

#: Questions asked alone first, for the usual latency.
BASELINE_QUESTIONS = 20
#: Seconds the asking client waits between two answers (a person reads them). Without
#: it, thousands of /ask calls (each a Gradio session of its own) during a long upload
#: push the uploading browser's session out of Gradio's 2,000-session message cache
#: (the upload's events then end in "404").
THINK_SECONDS = 0.5


def one_line_article(kb: int) -> str:
    """A title, then one line of about ``kb`` KB with no full stop, whose passages are all
    different (none is in the embedding cache): the upload the issue timed."""
    parts: list[str] = []
    i = 0
    while sum(len(p) + 2 for p in parts) < kb * 1024:
        parts.append(f"la délégation numéro {i} a rencontré le comité régional {i * 7 + 3} au sujet du "
                     f"budget de la commune {i * 13 % 997} et des routes du canton {i % 41}")
        i += 1
    return "Rapport sans point final\n\n" + ", ".join(parts) + "\n"


class PageSession:
    """One browser session of the page, as the browser runs its events: each event joins
    Gradio's queue by function index (``api_name`` as the page's configuration names it),
    and one stream per session brings back every event's messages. Events of one session
    reach each other's state (an upload and its cancel button)."""

    def __init__(self, url: str, timeout: float = 900.0, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.session = uuid.uuid4().hex[:10]
        self._open = opener(url, auth)
        with self._open(f"{url}/config", timeout=30) as response:
            self._fns = {d.get("api_name"): d["id"] for d in json.loads(response.read())["dependencies"]}
        self._done: dict[str, dict[str, Any]] = {}
        self._seen: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def start(self, api_name: str, data: list[Any]) -> str:
        """Join the queue with the event ``api_name``; its event id."""
        body = json.dumps({"data": data, "fn_index": self._fns[api_name], "session_hash": self.session,
                           "event_data": None, "trigger_id": None}).encode()
        request = urllib.request.Request(f"{self.url}/gradio_api/queue/join", data=body,
                                         headers={"Content-Type": "application/json"})
        with self._open(request, timeout=30) as response:
            event_id = str(json.loads(response.read())["event_id"])
        if self._reader is None or not self._reader.is_alive():
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return event_id

    def wait(self, event_id: str) -> dict[str, Any]:
        """The ``process_completed`` message of an event started here."""
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while event_id not in self._done:
                if time.monotonic() > deadline or (self._reader is not None and not self._reader.is_alive()):
                    raise RuntimeError(f"the event ended without completing (messages: {self._seen[-5:]})")
                self._changed.wait(0.5)
            return self._done[event_id]

    def run(self, api_name: str, data: list[Any]) -> dict[str, Any]:
        """Run one event to its end; its ``process_completed`` message."""
        return self.wait(self.start(api_name, data))

    def _read(self) -> None:
        url = f"{self.url}/gradio_api/queue/data?session_hash={self.session}"
        with self._open(url, timeout=self.timeout) as stream:
            for raw in stream:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                with self._changed:
                    self._seen.append(str(message.get("msg")) + (f": {message['message']}"
                                                                 if message.get("message") else ""))
                    if message.get("msg") == "process_completed":
                        self._done[str(message.get("event_id"))] = dict(message)
                    self._changed.notify_all()
                if message.get("msg") == "close_stream":
                    return


def opener(url: str, auth: tuple[str, str] | None = None) -> Callable[..., Any]:
    """``urlopen`` for the page at ``url``: signed in first as ``auth`` (name, password)
    through the page's sign-in form, keeping its cookie, when given."""
    if auth is None:
        return urllib.request.urlopen
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"username": auth[0], "password": auth[1]}).encode()
    with browser.open(urllib.request.Request(f"{url}/login", data=form), timeout=30):
        pass
    return browser.open


def page_event(url: str, api_name: str, data: list[Any], timeout: float = 900.0,
               auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """Run one of the page's own events in a session of its own (see :class:`PageSession`),
    signed in as ``auth`` when given; its ``process_completed`` message."""
    return PageSession(url, timeout, auth).run(api_name, data)


def uploaded(url: str, path: Path, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """Hand ``path`` to the server as the browser's upload widget does (signed in as
    ``auth`` when given); the file data the page's upload event takes."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}/gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with opener(url, auth)(request, timeout=60) as response:
        [stored] = json.loads(response.read())
    return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def upload(url: str, path: Path) -> str:
    """Upload ``path`` through the page as the browser does; the upload's status (Markdown)."""
    message = page_event(url, "add", [[uploaded(url, path)], []])
    if not message.get("success"):
        raise RuntimeError(f"the upload failed: {message.get('output')}")
    return str(message["output"]["data"][0])


def summary(latencies: Sequence[float]) -> dict[str, float]:
    """Count, p50, p95 and max in ms of ``latencies`` (seconds; at least one)."""
    ms = [x * 1000 for x in latencies]
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    assert p50 is not None and p95 is not None  # None only for no latencies
    return {"n": len(ms), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "max_ms": round(max(ms), 1)}


def measure(url: str, questions: Sequence[str], article: Path) -> dict[str, Any]:
    """The questions' latency alone, then during the upload of ``article``."""
    def timed(question: str) -> float:
        t0 = time.perf_counter()
        ask(url, question, timeout=REQUEST_TIMEOUT)
        took = time.perf_counter() - t0
        time.sleep(THINK_SECONDS)
        return took

    ask(url, questions[0])  # warm
    alone = [timed(questions[i % len(questions)]) for i in range(BASELINE_QUESTIONS)]
    status: dict[str, Any] = {}

    def uploading() -> None:
        t0 = time.perf_counter()
        try:
            status["message"] = upload(url, article)
        except Exception as exc:  # noqa: BLE001 - reported below
            status["error"] = str(exc)
        status["seconds"] = round(time.perf_counter() - t0, 1)

    thread = threading.Thread(target=uploading)
    thread.start()
    during, i = [], 0
    while thread.is_alive():
        during.append(timed(questions[i % len(questions)]))
        i += 1
    thread.join()
    if "error" in status or not during:
        raise RuntimeError(f"the upload did not run as planned: {status}")
    return {"alone": summary(alone), "during_upload": summary(during), "upload_seconds": status["seconds"],
            "upload_status": status["message"], "article_bytes": article.stat().st_size,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=100, help="size of the uploaded line (KB; default 100)")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON there")
    args = parser.parse_args(argv)
    from rag.evaluation.questions import default_questions, load_questions

    questions = [q["q"] for q in load_questions(default_questions()) if not q.get("history")]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus, ignore=shutil.ignore_patterns(".*"))
        settings = Settings.from_env(corpus_dir=corpus, index_dir=Path(tmp) / "index", translator="none")
        article = Path(tmp) / "rapport-une-ligne.txt"
        article.write_text(one_line_article(args.kb), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        with served(settings, "learned", env, Path.cwd(), _log) as (url, _):  # builds the index first
            result = measure(url, questions, article)
    result["command"] = "python -m benchmarks.upload_latency " + " ".join(argv or sys.argv[1:])
    result["date"] = time.strftime("%Y-%m-%d %H:%M")
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
