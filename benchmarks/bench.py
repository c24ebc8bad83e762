"""``rag bench``: speed and scale, measured — every
function returns a plain dict. Measurement, not product: it lives beside the other
benchmarks and shares :mod:`rag.evaluation.metrics` with ``rag eval``.

Four parts, all in one JSON file (``bench.json``) plus two PNG plots:

* **real corpus** (:func:`bench_real`): the default pipeline over a temporary index built
  from the real corpus — ingest throughput, re-ingest of an unchanged corpus, cold start
  of ``rag ask`` (process start to answer) and the peak memory of those processes, warm
  query latency (retrieval alone and the whole ``ask``, p50/p95) and retrieval recall on
  the question set;
* **LangChain baseline** (:func:`bench_baseline`): LangChain's own FAISS vector store over
  ``RecursiveCharacterTextSplitter(1000, 200)`` chunks of the same cleaned documents, same
  embedding model, ``similarity_search(k=4)``; its recall@4 and latency beside ours;
* **load** (:func:`benchmarks.load.bench_load`): the web page served on a loopback port in
  a child process, its ``/ask`` API driven by 1, 10 and 50 concurrent clients — requests/s,
  p50/p95, errors and the server's memory at the start and end of each level;
* **scale** (:func:`bench_scale`): FAISS index types on synthetic 384-d vectors at
  10k–1M — build time, serialized size, single-query search p50 and recall@10 against
  exact search, each ANN index tuned to the smallest ``efSearch``/``nprobe`` reaching
  recall@10 ≥ 0.95. See :func:`clustered_vectors` for how the vectors are made.

No timed assertion lives in the tests: they run :func:`run` at a tiny size in quick mode.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.load import LEVEL_SECONDS, LEVELS, bench_load
from rag.evaluation.metrics import first_hit, percentile, recall_at
from rag.evaluation.questions import default_questions, load_questions
from rag.settings import Settings
from rag.store.vectors.faiss_factory import nlist_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = default_questions()
COLD_QUESTION = "When was New START extended?"
#: Recall@10 an ANN index must reach for its parameter to count as tuned.
TARGET_RECALL = 0.95
#: The 1M-vector target: search p50 (ms), recall@10, index size (bytes).
TARGET_1M = {"search_p50_ms": 2.0, "recall@10": 0.95, "index_bytes": int(0.6 * 2**30)}
EF_SEARCH = (16, 32, 64, 128, 256)
NPROBE = (4, 8, 16, 32, 64, 128, 256)
#: Threads for the timed single-query searches (builds use FAISS's default).
SEARCH_THREADS = 1

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bar(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None, dynamic_ncols=True, leave=False)


# --------------------------------------------------------------------------- processes


def _run_measured(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a process to completion; wall seconds and its own peak RSS (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=str(PROJECT_ROOT))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result: dict[str, Any] = {"seconds": round(seconds, 3), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                  "returncode": proc.returncode,
                  "stdout": out.read().decode("utf-8", "replace"),
                  "stderr": err.read().decode("utf-8", "replace")}
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}… failed ({proc.returncode}): {result['stderr'][-800:]}")
    return result


def _child_env() -> dict[str, str]:
    env = dict(os.environ)  # RAG_* included: the child runs the same settings as we do
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _ingest_in_child(corpus_dir: Path, index_dir: Path) -> dict[str, Any]:
    """``rag ingest`` in a fresh process: wall time, peak RSS and the IngestReport figures."""
    code = ("import json, sys; from rag.settings import Settings; from rag.ingest.run import ingest; "
            "from rag.models.embedding import embedder_from_settings; "
            "s = Settings.from_env(corpus_dir=sys.argv[1], index_dir=sys.argv[2]); "
            "r = ingest(s, embedder_from_settings(s)); "
            "print(json.dumps({'chunks': r.chunks, 'embedded': r.embedded, "
            "'wrote_index': r.wrote_index, 'seconds': r.seconds}))")
    run = _run_measured([sys.executable, "-c", code, str(corpus_dir), str(index_dir)], _child_env())
    report = json.loads(run["stdout"].strip().splitlines()[-1])
    return {"process_seconds": run["seconds"], "peak_rss_mib": run["peak_rss_mib"], **report}


# --------------------------------------------------------------------------- real corpus


def _questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return [q for q in load_questions(path) if q.get("answerable", True) and q.get("evidence")]


def bench_real(settings: Settings, questions: list[dict[str, Any]], *, embedder: Any = None,
               quick: bool = False, log: Log = _stderr) -> dict[str, Any]:
    """Ingest, re-ingest, cold start and warm latency of the default pipeline on the real
    corpus, over the index in ``settings.index_dir`` (built here, from scratch)."""
    from rag.answer.pipeline import Pipeline

    out: dict[str, Any] = {"corpus_dir": str(settings.corpus_dir), "questions": len(questions)}
    log("real corpus: ingest in a fresh process (empty embedding cache)...")
    first = _ingest_in_child(settings.corpus_dir, settings.index_dir)
    first["chunks_per_s"] = round(first["chunks"] / first["seconds"], 2) if first["seconds"] else None
    first["texts_embedded_per_s"] = round(first["embedded"] / first["seconds"], 2) if first["seconds"] else None
    out["ingest"] = first
    log("real corpus: the embedder's raw rate on the same texts...")
    out["embedder_raw"] = raw_embedding_rate(settings, embedder, runs=1 if quick else 2)
    if first["texts_embedded_per_s"] and out["embedder_raw"]["texts_per_s"]:
        out["ingest"]["ratio_to_raw"] = round(first["texts_embedded_per_s"] / out["embedder_raw"]["texts_per_s"], 3)
    log("real corpus: re-ingest of the unchanged corpus...")
    out["reingest_unchanged"] = _ingest_in_child(settings.corpus_dir, settings.index_dir)

    log("real corpus: cold start of `rag ask`...")
    runs = []
    for _ in range(1 if quick else 3):
        runs.append(_run_measured([sys.executable, "-m", "rag.cli", "--corpus", str(settings.corpus_dir),
                                   "--index", str(settings.index_dir), "--translator", settings.translator,
                                   "ask", COLD_QUESTION, "--json"],
                                  _child_env()))
    answer = json.loads(runs[-1]["stdout"].strip().splitlines()[-1])
    out["cold_start_ask"] = {"runs": len(runs), "question": COLD_QUESTION,
                             "seconds_median": round(statistics.median(r["seconds"] for r in runs), 3),
                             "seconds_all": [r["seconds"] for r in runs],
                             "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                             "abstained": answer.get("abstained")}

    log("real corpus: warm latency and recall over the question set...")
    pipeline = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        for q in questions[:3]:  # warm-up: BM25 built, caches filled
            pipeline.ask(q["q"], q.get("history") or None)
        k = 4
        ranks, retrieve_ms, ask_ms = [], [], []
        for q in questions:
            history = q.get("history") or None
            t0 = time.perf_counter()
            passages = pipeline.retrieve(q["q"], history, k=k)
            retrieve_ms.append((time.perf_counter() - t0) * 1000)
            ranks.append(first_hit((p.text for p in passages), q["evidence"]))
            t0 = time.perf_counter()
            pipeline.ask(q["q"], history)
            ask_ms.append((time.perf_counter() - t0) * 1000)
        out["warm"] = {"retrieve_ms_p50": percentile(retrieve_ms, 50), "retrieve_ms_p95": percentile(retrieve_ms, 95),
                       "ask_ms_p50": percentile(ask_ms, 50), "ask_ms_p95": percentile(ask_ms, 95),
                       "chunks": len(pipeline.store), "retrieve_k": k, "ask_k": settings.top_k}
        out["recall"] = {"recall@3": recall_at(ranks, 3), "recall@4": recall_at(ranks, 4)}
    finally:
        pipeline.close()
    return out


def index_texts(settings: Settings) -> list[str]:
    """Every text an ingest of ``settings.index_dir``'s corpus embeds, in the ingest's order:
    each chunk's embedding text, then its sentences (``rag.ingest.run``'s own helper)."""
    from rag.ingest.embed import batch_texts
    from rag.store.index_store import IndexStore

    store = IndexStore.load(settings.index_dir)
    try:
        texts: list[str] = []
        for doc in store.documents():
            _, chunk_texts, _, sentence_texts = batch_texts([(doc, store.chunks_of(doc.doc_id))], settings)
            texts += chunk_texts + sentence_texts
        return list(dict.fromkeys(texts))  # the cache embeds a repeated text once
    finally:
        store.close()


def raw_embedding_rate(settings: Settings, embedder: Any = None, runs: int = 2) -> dict[str, Any]:
    """The embedding model alone on the texts the index needs, in the ingest's batch size
    (``RAG_EMBED_BATCH_SIZE``), loaded and warmed first: the rate an ingest can reach at
    best. Best of ``runs``."""
    from rag.models.embedding import embedder_from_settings

    embedder = embedder or embedder_from_settings(settings)
    texts = index_texts(settings)
    batch = max(1, settings.embed_batch_size)
    embedder.embed_passages(texts[:2])
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for i in range(0, len(texts), batch):
            embedder.embed_passages(texts[i:i + batch])
        best = min(best, time.perf_counter() - t0)
    return {"texts": len(texts), "batch_size": batch, "seconds": round(best, 3),
            "texts_per_s": round(len(texts) / best, 2) if best else None}


class EmbedderAdapter:
    """Our :class:`~rag.models.embedding.Embedder` as LangChain ``Embeddings``."""

    def __new__(cls, embedder: Any) -> Any:
        from langchain_core.embeddings import Embeddings

        class _Adapter(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return embedder.embed_passages(texts).tolist()

            def embed_query(self, text: str) -> list[float]:
                return embedder.embed_query(text).tolist()

        return _Adapter()


def bench_baseline(corpus_dir: Path, questions: list[dict[str, Any]], embedder: Any,
                   log: Log = _stderr) -> dict[str, Any]:
    """Plain LangChain RAG retrieval: RecursiveCharacterTextSplitter(1000, 200) over the
    same cleaned documents, LangChain's FAISS store, same embedder, similarity_search(k=4).
    Queries are the same standalone questions ours retrieves with (follow-ups condensed)."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.answer.followup import condense
    from rag.ingest.corpus import load_corpus

    log("baseline: LangChain splitter + FAISS vector store...")
    docs, _ = load_corpus(Path(corpus_dir))
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents([LCDocument(page_content=d.text, metadata={"doc_id": d.doc_id})
                                       for d in docs])
    t0 = time.perf_counter()
    store = FAISS.from_documents(chunks, EmbedderAdapter(embedder))
    build_s = time.perf_counter() - t0
    store.similarity_search("warm-up", k=4)
    ranks, lat = [], []
    for q in questions:
        query = condense(q["q"], q.get("history") or None)
        t0 = time.perf_counter()
        found = store.similarity_search(query, k=4)
        lat.append((time.perf_counter() - t0) * 1000)
        ranks.append(first_hit((d.page_content for d in found), q["evidence"]))
    return {"chunks": len(chunks), "build_seconds": round(build_s, 3),
            "chunks_per_s": round(len(chunks) / build_s, 2) if build_s else None,
            "search_ms_p50": percentile(lat, 50), "search_ms_p95": percentile(lat, 95),
            "recall@3": recall_at(ranks, 3), "recall@4": recall_at(ranks, 4)}


# --------------------------------------------------------------------------- synthetic vectors


def corpus_vectors(index_dir: Path) -> np.ndarray:
    """Every unit vector of a built index: its chunk vectors (FAISS reconstruct) and the
    stored sentence vectors — the seeds of the synthetic data."""
    from rag.store.index_store import IndexStore

    store = IndexStore.load(index_dir)
    try:
        n = len(store)
        vecs = [store.index.reconstruct_n(0, n)]
        vecs += [v for _, v in store.sentences(list(range(n))).values()]
    finally:
        store.close()
    out = np.concatenate(vecs).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _noisy(centres: np.ndarray, rel: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors ``normalise(c + rel · z/√d)``, z ~ N(0, I): ``rel`` is the noise norm
    relative to the unit centre (cosine to the centre ≈ 1/√(1 + rel²))."""
    d = centres.shape[1]
    noise = rng.standard_normal(centres.shape, dtype=np.float32)
    noise *= (np.asarray(rel, np.float32).reshape(-1, 1) / np.float32(math.sqrt(d)))
    x = centres + noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class ClusteredSource:
    """Synthetic "passages" around real embeddings, in three levels:

    1. *topics* (``n/1000``, at least 8): a random real vector (chunk or sentence of the
       corpus) + Gaussian noise of relative norm 0.6 (cosine ≈ 0.86 to its seed);
    2. *stories* (``n/20``): a random topic + noise 0.4 (cosine ≈ 0.93);
    3. *passages*: a random story + noise of a per-passage random relative norm drawn
       uniformly in [0.1, 0.5] (cosine 0.89–0.995), then normalised.

    Queries are held-out passages drawn the same way (not in the index). Vectors come in
    float32 blocks so 1M × 384 never needs more than the 1.5 GB result.
    """

    def __init__(self, seeds: np.ndarray, n: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim = seeds.shape[1]
        topics = _noisy(seeds[self.rng.integers(0, len(seeds), max(8, n // 1000))], 0.6, self.rng)
        self.stories = _noisy(topics[self.rng.integers(0, len(topics), max(16, n // 20))], 0.4, self.rng)

    def draw(self, n: int, block: int = 100_000) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        for i in range(0, n, block):
            m = min(block, n - i)
            centres = self.stories[self.rng.integers(0, len(self.stories), m)]
            out[i:i + m] = _noisy(centres, self.rng.uniform(0.1, 0.5, m), self.rng)
        return out


def uniform_vectors(n: int, dim: int, rng: np.random.Generator, block: int = 100_000) -> np.ndarray:
    """Uniformly random unit vectors (the ANN worst case: no structure at all)."""
    out = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, block):
        m = min(block, n - i)
        x = rng.standard_normal((m, dim), dtype=np.float32)
        out[i:i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


# --------------------------------------------------------------------------- scale


def scale_configs(n: int, dim: int) -> list[dict[str, Any]]:
    """The factory strings compared at size ``n``, with the knob each one is tuned by."""
    nlist = nlist_for(n)
    m = dim // 8 if dim % 8 == 0 else dim // 4
    return [
        {"factory": "Flat", "knob": None},
        {"factory": "HNSW32", "knob": "efSearch"},
        {"factory": "HNSW32,SQ8", "knob": "efSearch"},
        {"factory": f"IVF{nlist},SQ8", "knob": "nprobe"},
        {"factory": f"IVF{nlist},PQ{m}", "knob": "nprobe"},
        {"factory": f"IVF{nlist},PQ{m},Refine(SQ8)", "knob": "nprobe"},
    ]


def _recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def _single_query_ms(index: Any, queries: np.ndarray, k: int = 10) -> list[float]:
    """One query at a time, on one thread (what a process serving a question does)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(SEARCH_THREADS)
    lat = []
    try:
        for q in queries:
            q = q.reshape(1, -1)
            t0 = time.perf_counter()
            index.search(q, k)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        faiss.omp_set_num_threads(threads)
    return lat


def _downcast(index: Any) -> Any:
    """The concrete FAISS index (HNSW, IVF, Refine), whose fields the stubs do not know."""
    import faiss

    return faiss.downcast_index(index)


def _set_knob(index: Any, knob: str | None, value: int | None) -> None:
    import faiss

    if knob is None or value is None:
        return
    if knob == "efSearch":
        _downcast(index).hnsw.efSearch = value
    else:
        ivf: Any = faiss.extract_index_ivf(index)
        ivf.nprobe = value


def _build(factory: str, x: np.ndarray, train: np.ndarray, centroids: np.ndarray | None) -> Any:
    """Build an inner-product index; IVF variants reuse ``centroids`` (one k-means per size)."""
    import faiss

    index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if factory.startswith("IVF"):
        ivf = _downcast(faiss.extract_index_ivf(index))
        if centroids is not None and len(centroids) == ivf.nlist:
            ivf.quantizer.add(centroids)  # a trained quantizer holding nlist centroids is kept
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False  # minutes of annealing, unused by our searches
    if "Refine" in factory:
        _downcast(index).k_factor = 4.0
    if not index.is_trained:
        # the coarse quantizer is trained already; 10k points train the PQ/SQ codes
        index.train(train[:10_000] if ",PQ" in factory else train)
    for i in range(0, len(x), 100_000):
        index.add(x[i:i + 100_000])
    return index


def bench_index(factory: str, knob: str | None, x: np.ndarray, queries: np.ndarray,
                truth: np.ndarray, train: np.ndarray, centroids: np.ndarray | None,
                grid: Sequence[int]) -> tuple[dict[str, Any], Any]:
    """Build one index and sweep its knob: build time, serialized size, recall@10 and
    single-query p50 per knob value; the chosen value is the smallest reaching
    :data:`TARGET_RECALL`, else the best recall."""
    import faiss

    t0 = time.perf_counter()
    index = _build(factory, x, train, centroids)
    build_s = time.perf_counter() - t0
    size = len(faiss.serialize_index(index))
    sweep: list[dict[str, Any]] = []
    values: Sequence[int | None] = grid if knob else [None]
    for value in values:
        _set_knob(index, knob, value)
        _, found = index.search(queries, 10)
        lat = _single_query_ms(index, queries)
        sweep.append({"param": value, "recall@10": round(_recall_at(found, truth), 4),
                      "search_ms_p50": percentile(lat, 50), "search_ms_p95": percentile(lat, 95)})
        if knob and sweep[-1]["recall@10"] >= 0.999:
            break  # higher values only cost time
    ok = [s for s in sweep if s["recall@10"] >= TARGET_RECALL]
    chosen = ok[0] if ok else max(sweep, key=lambda s: s["recall@10"])
    return ({"factory": factory, "knob": knob, "build_seconds": round(build_s, 2),
             "index_bytes": size, "index_mib": round(size / 2**20, 1),
             "chosen": chosen, "met_recall": bool(ok), "sweep": sweep}, index)


def bench_scale(seeds: np.ndarray, sizes: Sequence[int], *, quick: bool = False,
                n_queries: int = 200, build_limit_s: float = 300.0, uniform_at: Sequence[int] = (100_000,),
                log: Log = _stderr) -> dict[str, Any]:
    """Every factory of :func:`scale_configs` at every size, on clustered synthetic vectors
    (and on uniform random ones at the ``uniform_at`` sizes). A configuration whose build
    time, projected from the previous size, exceeds ``build_limit_s`` is skipped and says so."""
    import faiss

    dim = seeds.shape[1]
    grid_ef = EF_SEARCH[:3] if quick else EF_SEARCH
    grid_np = NPROBE[:4] if quick else NPROBE
    rows: list[dict[str, Any]] = []
    last_build: dict[tuple[str, str], tuple[int, float]] = {}
    datasets = [(n, "clustered") for n in sorted(sizes)] + \
        [(n, "uniform") for n in sorted(sizes) if n in uniform_at]
    for n, kind in datasets:
        t0 = time.perf_counter()
        rng = np.random.default_rng(n)
        if kind == "clustered":
            source = ClusteredSource(seeds, n, seed=n)
            x = source.draw(n)
            queries = source.draw(n_queries)
        else:
            x = uniform_vectors(n, dim, rng)
            queries = uniform_vectors(n_queries, dim, rng)
        gen_s = time.perf_counter() - t0
        train = x[rng.choice(n, min(n, 100_000, max(30 * nlist_for(n), 10_000)), replace=False)]
        exact = faiss.IndexFlatIP(dim)
        exact.add(x)
        _, truth = exact.search(queries, 10)
        del exact
        centroids = None
        nlist = nlist_for(n)
        t1 = time.perf_counter()
        km = faiss.Kmeans(dim, nlist, niter=12, spherical=True, seed=1, max_points_per_centroid=10_000)
        km.train(train)
        centroids = km.centroids
        kmeans_s = time.perf_counter() - t1
        log(f"scale: {kind} n={n:,}: vectors in {gen_s:.1f} s, IVF k-means ({nlist} lists) in {kmeans_s:.1f} s")
        configs = scale_configs(n, dim)
        bar = _bar(len(configs), f"{kind} {n:,}")
        for config in configs:
            factory = config["factory"]
            family = factory.replace(str(nlist), "")
            base: dict[str, Any] = {"n": n, "data": kind, "dim": dim}
            prev = last_build.get((kind, family))
            if prev is not None and factory != "Flat":
                projected = prev[1] * (n / prev[0]) * 1.3
                if projected > build_limit_s:
                    rows.append(base | {"factory": factory, "knob": config["knob"], "skipped":
                                        f"projected build time {projected:.0f} s (from {prev[1]:.0f} s at "
                                        f"{prev[0]:,}) exceeds the {build_limit_s:.0f} s limit"})
                    log(f"scale: {factory} at {n:,} skipped: {rows[-1]['skipped']}")
                    bar.update(1)
                    continue
            grid: Sequence[int] = grid_ef if config["knob"] == "efSearch" else grid_np
            if config["knob"] == "nprobe":
                grid = [p for p in grid if p <= nlist]
            row, index = bench_index(factory, config["knob"], x, queries, truth, train, centroids, grid)
            if factory.startswith("IVF"):
                row["ivf_kmeans_seconds"] = round(kmeans_s, 2)  # shared; not in build_seconds
            del index
            last_build[(kind, family)] = (n, row["build_seconds"])  # k-means: on a capped sample
            rows.append(base | row)
            c = row["chosen"]
            log(f"scale: {kind} {n:,} {factory}: build {row['build_seconds']} s, {row['index_mib']} MiB, "
                f"{config['knob'] or ''}{'=' + str(c['param']) if c['param'] else ''} "
                f"recall@10 {c['recall@10']}, p50 {c['search_ms_p50']} ms")
            bar.update(1)
        bar.close()
        del x
    return {"rows": rows, "queries": n_queries, "dim": dim, "seeds": int(len(seeds)),
            "build_threads": faiss.omp_get_max_threads(), "search_threads": SEARCH_THREADS,
 "build_limit_s": build_limit_s,
            "grids": {"efSearch": list(grid_ef), "nprobe": list(grid_np)}}


def target_check(scale: dict[str, Any], n: int = 1_000_000) -> dict[str, Any]:
    """Which configurations meet the 1M target (p50 ≤ 2 ms, recall@10 ≥ 0.95, ≤ 0.6 GiB)."""
    rows = [r for r in scale.get("rows", []) if r["n"] == n and r["data"] == "clustered" and "chosen" in r]
    met = [r["factory"] for r in rows
           if r["chosen"]["search_ms_p50"] <= TARGET_1M["search_p50_ms"]
           and r["chosen"]["recall@10"] >= TARGET_1M["recall@10"] and r["index_bytes"] <= TARGET_1M["index_bytes"]]
    return {"n": n, "measured": bool(rows), "target": TARGET_1M, "met_by": met}


# --------------------------------------------------------------------------- plots


def plot(results: dict[str, Any], out_dir: Path) -> list[str]:
    """``latency_vs_size.png`` and ``recall_vs_latency.png``; the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results.get("scale", {}).get("rows", []) if "chosen" in r and r["data"] == "clustered"]
    if not rows:
        return []
    factories = list(dict.fromkeys(r["factory"].replace(str(nlist_for(r["n"])), "{nlist}") for r in rows))
    written = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fam in factories:
        pts = sorted((r["n"], r["chosen"]["search_ms_p50"], r["chosen"]["recall@10"]) for r in rows
                     if r["factory"].replace(str(nlist_for(r["n"])), "{nlist}") == fam)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=fam)
    ax.axhline(TARGET_1M["search_p50_ms"], color="grey", ls="--", lw=0.8, label="target p50 2 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors (clustered synthetic, 384-d)")
    ax.set_ylabel("single-query search p50 (ms)")
    ax.set_title("Search latency vs corpus size (tuned to recall@10 ≥ 0.95 where reachable)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "latency_vs_size.png", dpi=110)
    plt.close(fig)
    written.append("latency_vs_size.png")

    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.2), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        for r in (r for r in rows if r["n"] == n):
            sw = r["sweep"]
            ax.plot([s["search_ms_p50"] for s in sw], [s["recall@10"] for s in sw], marker="o", label=r["factory"])
        ax.axhline(TARGET_RECALL, color="grey", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("search p50 (ms)")
        ax.set_ylabel("recall@10")
        ax.set_title(f"{n:,} vectors")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Recall@10 vs latency per index type (sweep of efSearch / nprobe)")
    fig.tight_layout()
    fig.savefig(out_dir / "recall_vs_latency.png", dpi=110)
    plt.close(fig)
    written.append("recall_vs_latency.png")
    return written


# --------------------------------------------------------------------------- run


def _scale_in_child(seeds: Path, sizes: Sequence[int], quick: bool, build_limit_s: float,
                    out: Path) -> dict[str, Any]:
    """:func:`bench_scale` in a fresh process, so that its memory is measured alone and
    OpenMP starts with ``OMP_WAIT_POLICY=PASSIVE``: threads that spin while they wait are
    ruinous on a shared machine (measured here with other jobs running: a 10k Flat
    single-query search took 16 ms instead of 0.7 ms, a PQ training 28 s instead of 8 s).
    Its progress goes straight to our stderr."""
    env = _child_env()
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = [sys.executable, "-m", "benchmarks.bench", "--scale-worker", str(seeds), ",".join(map(str, sizes)),
            "1" if quick else "0", str(build_limit_s), str(out)]
    proc = subprocess.Popen(argv, env=env, cwd=str(PROJECT_ROOT))
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the scale benchmark failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads(out.read_text())
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    return result


def _scale_worker(argv: Sequence[str]) -> None:
    seeds, sizes, quick, limit, out = argv
    result = bench_scale(np.load(seeds), [int(n) for n in sizes.split(",") if n], quick=quick == "1",
                         n_queries=50 if quick == "1" else 200, build_limit_s=float(limit),
                         uniform_at=[n for n in (int(n) for n in sizes.split(",") if n) if n == 100_000])
    result["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    Path(out).write_text(json.dumps(result))


def _machine() -> dict[str, Any]:
    import faiss

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "faiss": faiss.__version__,
            "platform": platform.platform(), "loadavg_at_start": [round(x, 2) for x in load] if load else None,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _ensure_index(settings: Settings, embedder: Any) -> None:
    """Build the temporary index when no part before has built it."""
    from rag.ingest.run import ingest
    from rag.store.generations import current_generation

    if current_generation(settings.index_dir) is None:
        ingest(settings, embedder)


def run(settings: Settings | None = None, sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
        out_dir: Path = Path("benchmarks/results"), quick: bool = False, *, skip_scale: bool = False,
        skip_baseline: bool = False, skip_real: bool = False, embedder: Any = None,
        questions_path: Path = QUESTIONS, build_limit_s: float = 300.0, skip_load: bool = False,
        load_seconds: float = LEVEL_SECONDS, load_levels: Sequence[int] = LEVELS,
        log: Log = _stderr) -> dict[str, Any]:
    """Run the benchmark; writes ``bench.json`` and the plots into ``out_dir`` and returns
    the results. The user's index is never touched: everything is built in a temporary
    folder from ``settings.corpus_dir``."""
    from rag.models.embedding import embedder_from_settings

    settings = settings or Settings.from_env()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results: dict[str, Any] = {"machine": _machine(), "quick": quick, "sizes": list(sizes)}
    questions = _questions(questions_path)
    if quick:
        questions = questions[:20]
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        # What is timed is the answer as it is first shown, the quote: a translation of an
        # English question's French quote follows it ~2 s later and is timed apart
        # (benchmarks/reader/translation.py, benchmarks/README.md#translations).
        run_settings = settings.replace(index_dir=tmp / "index", translator="none")
        embedder = embedder or embedder_from_settings(settings)
        if not skip_real:
            results["real"] = bench_real(run_settings, questions, embedder=embedder, quick=quick, log=log)
        if not skip_baseline:
            base = bench_baseline(settings.corpus_dir, questions, embedder, log=log)
            results["baseline"] = base
            if "real" in results:
                ours = results["real"]
                base["ours_retrieve_ms_p50"] = ours["warm"]["retrieve_ms_p50"]
                base["latency_ratio_ours_over_baseline"] = round(
                    ours["warm"]["retrieve_ms_p50"] / base["search_ms_p50"], 2) if base["search_ms_p50"] else None
                base["ours_recall@3"] = ours["recall"]["recall@3"]
                base["ours_recall@4"] = ours["recall"]["recall@4"]
        if not skip_load:
            _ensure_index(run_settings, embedder)
            results["load"] = bench_load(run_settings, [q["q"] for q in questions if not q.get("history")],
                                         env=_child_env(), cwd=PROJECT_ROOT, levels=load_levels,
                                         seconds=load_seconds, log=log)
        if not skip_scale and sizes:
            _ensure_index(run_settings, embedder)
            np.save(tmp / "seeds.npy", corpus_vectors(run_settings.index_dir))
            results["scale"] = _scale_in_child(tmp / "seeds.npy", sizes, quick, build_limit_s, tmp / "scale.json")
            results["target_1m"] = target_check(results["scale"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    results["peak_rss_mib_bench_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    try:
        results["plots"] = plot(results, out_dir)
    except ImportError:
        results["plots"] = []
        log("plots skipped: matplotlib is not installed (pip install matplotlib)")
    (out_dir / "bench.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--scale-worker"]:
        _scale_worker(sys.argv[2:])
    else:
        sys.exit("Run the benchmarks with: rag bench [OPTIONS] (see rag bench --help).")
