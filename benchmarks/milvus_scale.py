"""FAISS against Milvus Lite at 100k and 1M synthetic passages (issue: Milvus for the index).

The vectors are ``rag bench``'s clustered synthetic ones (``benchmarks.bench.ClusteredSource``,
seeded by the shipped corpus's real chunk and sentence vectors), drawn from a fixed seed so
both stores get the same ``n`` vectors and the same 200 held-out queries. Each (store, size)
runs in its own child process, whose peak resident memory — with every process it starts
(Milvus Lite runs its database in a child of its own) — is sampled every 0.2 s; the memory
of the vectors themselves, held before the store is built, is reported apart.

* **FAISS**: the index the product builds for ``n`` vectors (``rag.store.vectors.faiss_factory.auto_factory``,
  ``IVF{4·√n},SQ8`` above 50k) searched with the product's ``nprobe``
  (``rag.store.vectors.faiss_factory.search_parameters``); build = train + add.
* **Milvus Lite**: the collection the product makes (``AUTOINDEX``, inner product), with the
  vector and a primary key, created with its index, filled in batches of 10,000 and
  flushed (as the product's writer does), then loaded once every row is indexed; build =
  all of that. ``--stores milvus:IVF_FLAT,milvus:HNSW`` tries other index types.

Search: 200 single-query searches (k=10, one query a call: what a server does); recall@10
against exact inner-product search (``IndexFlatIP``) of the same queries.

    python -m benchmarks.milvus_scale --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench import _child_env
from benchmarks.load import tree_rss_mib

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "milvus_scale.json"
QUERIES = 200
K = 10
INSERT_BATCH = 10_000
#: How long to wait for Milvus to index every row before searching anyway (the row count
#: indexed by then is in the results).
INDEX_WAIT_S = 1800


def _vectors(n: int, index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from benchmarks.bench import ClusteredSource, corpus_vectors

    source = ClusteredSource(corpus_vectors(index_dir), n, seed=7)
    return source.draw(n), source.draw(QUERIES)


def _search_ms(search: Any, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    found = np.full((len(queries), K), -1, np.int64)
    times = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        found[i] = search(q)
        times.append((time.perf_counter() - t0) * 1000)
    return times, found


def _faiss(x: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    import faiss

    from rag.store.vectors.faiss import build_faiss
    from rag.store.vectors.faiss_factory import auto_factory, search_parameters

    factory = auto_factory(len(x), x.shape[1])
    t0 = time.perf_counter()
    index = build_faiss(x, factory)  # the product's own build: trained on an even sample
    build = time.perf_counter() - t0
    params = search_parameters(factory, len(x))
    if params:
        faiss.ParameterSpace().set_index_parameters(index, params)  # type: ignore[arg-type]  # faiss takes "nprobe=16"
    faiss.omp_set_num_threads(1)

    def search(q: np.ndarray) -> np.ndarray:
        return index.search(q[None, :], K)[1][0]

    times, found = _search_ms(search, queries)
    return {"index": factory, "search_parameters": params, "build_s": round(build, 1),
            "times": times, "found": found}


#: Milvus index types tried (``--milvus-index``), with their build and search parameters:
#: the product's AUTOINDEX, and IVF_FLAT / HNSW given FAISS's own list count and nprobe.
MILVUS_INDEXES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "AUTOINDEX": ({}, {}),
    "IVF_FLAT": ({"nlist": "auto"}, {"nprobe": 16}),
    "HNSW": ({"M": 32, "efConstruction": 200}, {"ef": 64}),
}


def _milvus(x: np.ndarray, queries: np.ndarray, folder: Path, kind: str = "AUTOINDEX",
            reindex: bool = False) -> dict[str, Any]:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri=str(folder / "bench.db"))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=x.shape[1])
    build_params, search_params = MILVUS_INDEXES[kind]
    if build_params.get("nlist") == "auto":
        from rag.store.vectors.faiss_factory import auto_factory

        lists = auto_factory(len(x), x.shape[1]).removeprefix("IVF").split(",")[0]
        build_params = {"nlist": int(lists) if lists.isdigit() else 1024}
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=build_params)
    t0 = time.perf_counter()
    # as the product's writer: the collection made with its index, filled, flushed, loaded;
    # with reindex, the index is then dropped and made again over the filled collection
    client.create_collection("bench", schema=schema, index_params=index)
    for i in range(0, len(x), INSERT_BATCH):
        block = x[i:i + INSERT_BATCH]
        client.insert("bench", [{"id": i + j, "vector": v} for j, v in enumerate(block.tolist())])
    inserted = time.perf_counter() - t0
    client.flush("bench")  # sealed segments get the index
    if reindex:
        client.release_collection("bench")
        client.drop_index("bench", "vector")
        try:
            client.create_index("bench", index)
        except Exception:  # noqa: BLE001 - pymilvus's retry of a long call finds it made (rag.store.vectors.milvus)
            if client.describe_index("bench", "vector").get("index_type") != kind:
                raise
    deadline = time.monotonic() + INDEX_WAIT_S
    while (int(client.describe_index("bench", "vector").get("indexed_rows", 0)) < len(x)
           and time.monotonic() < deadline):
        time.sleep(1)
    client.load_collection("bench")
    build = time.perf_counter() - t0
    described = client.describe_index("bench", "vector")

    def search(q: np.ndarray) -> np.ndarray:
        hits = client.search("bench", data=[q.tolist()], limit=K,
                             search_params={"metric_type": "IP", "params": search_params})[0]
        out = np.full(K, -1, np.int64)
        out[:len(hits)] = [h["id"] for h in hits]
        return out

    search(queries[0])
    times, found = _search_ms(search, queries)
    client.close()
    return {"index": kind, "reindexed": reindex, "index_params": build_params, "search_params": search_params,
            "index_described": {k: str(v) for k, v in described.items()},
            "insert_s": round(inserted, 1), "build_s": round(build, 1), "times": times, "found": found}


def worker(store: str, n: int, index_dir: Path) -> dict[str, Any]:
    """One (store, size), in this process: the figures, with the peak memory of this
    process and its children while the store is built and searched."""
    import faiss

    x, queries = _vectors(n, index_dir)
    data_rss = tree_rss_mib(os.getpid())
    peak = [data_rss]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_mib(os.getpid()))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with tempfile.TemporaryDirectory() as tmp:
        kind, _, variant = store.partition(":")
        variant, _, after = variant.partition("+")
        got = (_faiss(x, queries) if kind == "faiss"
               else _milvus(x, queries, Path(tmp), variant or "AUTOINDEX", reindex=after == "reindex"))
    done.set()
    watcher.join()
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    truth = exact.search(queries, K)[1]
    found, times = got.pop("found"), got.pop("times")
    recall = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))
    return {"store": store, "n": n, **got, "search_ms_p50": round(float(np.percentile(times, 50)), 3),
            "search_ms_p95": round(float(np.percentile(times, 95)), 3), "recall@10": round(recall, 4),
            "rss_with_vectors_mib": round(data_rss, 1), "peak_rss_mib": round(peak[0], 1),
            "store_rss_mib": round(peak[0] - data_rss, 1)}


def measure(store: str, n: int, index_dir: Path) -> dict[str, Any]:
    """``worker`` in a child process (a fresh heap for each store and size)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks.milvus_scale", "--worker", store, str(n),
                           "--index", str(index_dir)], stdout=subprocess.PIPE, text=True, env=_child_env(),
                          cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{store} at {n}: the worker failed ({done.returncode})")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    row["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    return row


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="passages, comma-separated")
    parser.add_argument("--stores", default="faiss,milvus",
                        help="comma-separated: faiss, milvus (AUTOINDEX, as the product), "
                             "milvus:IVF_FLAT, milvus:HNSW; +reindex (milvus:AUTOINDEX+reindex) "
                             "makes the index again once the collection is filled")
    parser.add_argument("--index", type=Path, default=ROOT / "index",
                        help="a built index whose vectors seed the synthetic ones (default ./index)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--worker", nargs=2, metavar=("STORE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.index)))
        return
    rows: dict[str, Any] = {"at": dt.datetime.now().isoformat(timespec="seconds"),
                            "loadavg_before": [round(v, 2) for v in os.getloadavg()], "rows": []}
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        for store in args.stores.split(","):
            print(f"{store} at {n:,}...", file=sys.stderr, flush=True)
            rows["rows"].append(measure(store, n, args.index))
            print(json.dumps(rows["rows"][-1]), file=sys.stderr, flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
