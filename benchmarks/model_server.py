"""A language model through a real model server against the same model in process.

llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``, the
``llm`` extra) serves the test model on a free loopback port; the team's question set is
answered once through it (``openai:qwen-test@http://127.0.0.1:PORT/v1``) and once with the
model loaded in process (``llamacpp:PATH``), on one index. Per reader: answer accuracy,
abstention, latency p50/p95, how many answers the model wrote (not the fallback), and
every sentence of the model's own shown as verified, listed for checking by hand.

    python -m benchmarks.model_server                       # the team's set, both readers
    python -m benchmarks.model_server --limit 10 --out /tmp/ms.json
    python -m benchmarks.model_server --only server --out /tmp/server.json

Writes benchmarks/results/model_server.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.load import free_port, stop_process
from rag.answer.citations import MARKER_RE
from rag.evaluation.evaluate import evaluate
from rag.evaluation.questions import default_questions, load_questions
from rag.settings import Settings

#: The name the server gives the model (``--model_alias``), the ``MODEL`` of ``openai:MODEL@URL``.
ALIAS = "qwen-test"
#: Seconds the server may take to load the model and listen.
START_TIMEOUT = 180.0
RESULTS = Path(__file__).parent / "results" / "model_server.json"


def _serving(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def llama_server(model: Path, log: Path, threads: int, alias: str = ALIAS) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server for ``model`` on a free loopback port, its
    output in ``log``; yields its base URL (``http://127.0.0.1:PORT/v1``), stops it after."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads)]
    # its output to a file: a pipe nobody reads would fill and stop the server mid-answer
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _serving(base):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        stop_process(server, timeout=30)


def model_sentences(answer: str) -> list[str]:
    """The sentences of an answer that are the model's own words (not a framed quote «…»)."""
    parts = re.split(r"(?<=\])\s+", answer)
    return [MARKER_RE.sub("", p).strip() for p in parts if "«" not in p and MARKER_RE.search(p)]


def run(settings: Settings, questions: list[dict[str, Any]], specs: dict[str, str]) -> dict[str, Any]:
    from rag.answer.pipeline import Pipeline

    pipeline = Pipeline.from_settings(settings)
    out: dict[str, Any] = {}
    try:
        for label, spec in specs.items():
            reader = pipeline.with_reader(spec)
            t0 = time.perf_counter()
            report = evaluate(reader, questions)
            rows = []
            for q, r in zip(questions, report.results):
                own = r.reader == spec  # the model answered (not its fallback)
                rows.append({"id": q.get("id"), "q": q["q"], "gold": q.get("answer"), "answer": r.answer,
                             "reader": "fallback" if r.reader.endswith("(fallback)") else ("model" if own else r.reader),
                             "correct": r.correct, "abstained": r.abstained, "latency_ms": round(r.latency_ms),
                             "model_sentences": model_sentences(r.answer) if own else []})
            out[label] = {"spec": spec.split("@")[0] if label == "server" else "llamacpp:TEST_MODEL",
                          "metrics": report.metrics(), "seconds": round(time.perf_counter() - t0),
                          "rows": rows}
    finally:
        pipeline.close()
    return out


def main(argv: list[str] | None = None) -> int:
    from rag.models.llm import assemble_test_model, free_cores

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", default=None, help="a question set (default: the team's)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=("server", "in_process"), default=None, help="one of the two readers")
    args = parser.parse_args(argv)
    settings = Settings.from_env(translator="none")
    questions = load_questions(args.questions or default_questions())
    if args.limit:
        questions = questions[:args.limit]
    model = assemble_test_model()
    threads = free_cores()
    data: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "threads": threads,
                            "questions": len(questions)}
    if args.only in (None, "server"):
        with tempfile.TemporaryDirectory() as tmp, llama_server(model, Path(tmp) / "server.log", threads) as base:
            data.update(run(settings, questions, {"server": f"openai:{ALIAS}@{base}"}))
    if args.only in (None, "in_process"):
        data.update(run(settings, questions, {"in_process": f"llamacpp:{model}"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    for label in ("server", "in_process"):
        if label not in data:
            continue
        m = data[label]["metrics"]
        print(f"{label}: accuracy {m['answer_accuracy']}, p50 {m['latency_p50_ms']} ms, "
              f"p95 {m['latency_p95_ms']} ms, model sentences shown "
              f"{sum(len(r['model_sentences']) for r in data[label]['rows'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
