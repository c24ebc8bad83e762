"""Peak memory of ``rag ingest`` against corpus size (issue: streaming ingest).

Synthetic articles are made from the shipped corpus's own words (sentences of 12–28
words, 3–5 sentences a paragraph, 4–8 paragraphs: about the size of the real articles),
written to a folder, then ingested from scratch in a fresh process whose peak RSS is read
from ``getrusage``. The model is replaced by :class:`HashEmbedder`, a deterministic
stand-in that hashes words into 384 dimensions at a few hundred thousand texts a second:
memory does not depend on the model's speed, and the real model would need about a day
for 100k articles on 2 cores. Everything else (cleaning, chunking, sentence spans, the
cache, SQLite, FAISS) is the product's own code.

    python -m benchmarks.ingest_memory --sizes 1000,10000,100000
    python -m benchmarks.ingest_memory --sizes 1000,10000 --rag-from /path/to/older/checkout
    python -m benchmarks.ingest_memory --sizes 1000,10000 --engine ray --model stand-in

``--rag-from`` runs the ingest of another checkout (its ``rag`` package) on the same
corpora, for a before/after figure.

``--engine ray`` ingests through a local Ray (2 CPUs, started in the measured process, so
its processes are the measured process's children: their memory is counted in
``peak_tree_rss_mib``). Ray's workers load their model by name, so they cannot use the
in-process :class:`HashEmbedder`; ``--model stand-in`` is a sentence-transformers folder
made of the default model's converted files (:func:`rag.models.e5convert.converted_model`) with no
transformer layer left: its token embeddings, mean-pooled. It loads and weighs what the
real model weighs in each worker (the 250k-token vocabulary is most of it) and embeds
~3,000 texts/s a worker, so the corpus's size, not the model's speed, is what varies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


class HashEmbedder:
    """Words hashed (CRC32) into ``dim`` signed buckets, L2-normalised: a fast,
    deterministic stand-in for a model, for measurements that do not depend on it."""

    name = "hash-384-benchmark-stand-in"
    dim = 384

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = zlib.crc32(word.encode())
                out[i, h % self.dim] += 1.0 if h & 0x80000000 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]


def make_corpus(folder: Path, articles: int, seed: int = 7) -> None:
    """``articles`` synthetic articles under ``folder`` (1,000 per subfolder)."""
    words = re.findall(r"[\w’'-]+", " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "corpus").glob("*.txt")))
    rng = random.Random(seed)
    for n in range(articles):
        sub = folder / f"{n // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        title = " ".join(rng.choices(words, k=rng.randint(5, 10))).capitalize()
        paragraphs = []
        for _ in range(rng.randint(4, 8)):
            sentences = [" ".join(rng.choices(words, k=rng.randint(12, 28))).capitalize() + "."
                         for _ in range(rng.randint(3, 5))]
            paragraphs.append(" ".join(sentences))
        (sub / f"a{n:07d}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def stand_in_model(folder: Path) -> Path:
    """The ``--model stand-in`` folder under ``folder`` (see the module's docstring)."""
    from rag.models.e5convert import converted_model

    source = Path(converted_model())
    target = folder / "stand-in-model"
    if not target.exists():
        target.mkdir(parents=True)
        for item in source.iterdir():
            if item.name != "config.json":
                (target / item.name).symlink_to(item)
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        (target / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 0}), encoding="utf-8")
    return target


def ingest_once(corpus: Path, index: Path, engine: str = "process", model: str | None = None) -> dict:
    """Ingest ``corpus`` into a new ``index`` in this process; its figures, with the
    highest resident memory seen in each stage the ingest reports (sampled every 0.1 s;
    "writing…" runs to the end: the FAISS and BM25 builds and the switch), and the size
    on disk of the index the ingest wrote (its FAISS and BM25 files: what a search holds).
    ``model`` is a sentence-transformers folder (else :class:`HashEmbedder`); ``engine``
    ``ray`` ingests through a local Ray of 2 CPUs."""
    from benchmarks.load import pymalloc_mib, rss_mib, rss_parts_mib, tree_rss_mib
    from rag.ingest.run import ingest
    from rag.models.embedding import Embedder, load_embedder
    from rag.settings import Settings
    from rag.store.generations import current_generation

    stage = ["starting"]
    peaks: dict[str, float] = {}
    tree_peak = [0.0]
    parts_peak: dict[str, float] = {}
    heap: dict[str, dict[str, float]] = {}  # stage -> peaks of the heap (anon) and pymalloc's share
    done = threading.Event()

    def watch() -> None:
        ticks = 0
        while not done.wait(0.1):
            ticks += 1
            if ticks % 10 == 0:  # once a second: the allocator's statistics take a few ms
                reading = {"anon": rss_parts_mib(os.getpid()).get("anon", 0.0), **pymalloc_mib()}
                mine = heap.setdefault(stage[0], {})
                for kind, mib in reading.items():
                    mine[kind] = max(mine.get(kind, 0.0), mib)
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), (rss_mib(os.getpid()) or 0.0))
            tree_peak[0] = max(tree_peak[0], tree_rss_mib(os.getpid()))
            for kind, mib in rss_parts_mib(os.getpid()).items():
                parts_peak[kind] = max(parts_peak.get(kind, 0.0), mib)

    def progress(_done: int, _total: int, what: str) -> None:
        stage[0] = what

    settings = Settings(corpus_dir=corpus, index_dir=index)
    if model:
        settings = settings.replace(embedding_model=model)
    # on Ray, as `rag ingest --engine ray`: the workers load the model, this process does not
    embedder: Embedder | None = None if engine == "ray" else load_embedder(model) if model else HashEmbedder()
    base = (rss_mib(os.getpid()) or 0.0)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with contextlib.ExitStack() as stack:
        workers = None
        if engine == "ray":
            from rag.ingest.ray_engine import ray_engine

            workers = stack.enter_context(ray_engine(settings, num_cpus=2))  # its start is not timed
            embedder = workers.embedder()
        assert embedder is not None
        t0 = time.perf_counter()
        report = ingest(settings, embedder, progress=progress, engine=workers)
        seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    generation = current_generation(index)
    assert generation is not None
    files = {name: (generation / name).stat().st_size / 2**20 for name in ("vectors.faiss", "bm25.npz")
             if (generation / name).exists()}
    return {"documents": len(report.added), "chunks": report.chunks, "seconds": round(seconds, 1),
            "chunks_per_s": round(report.chunks / seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_mib": round(base, 1), "engine": engine, "model": "stand-in" if model else "hash",
            "peak_tree_rss_mib": round(tree_peak[0], 1),
            "peak_rss_by_stage_mib": {k: round(v, 1) for k, v in peaks.items()},
            # each kind's own peak (anon: the process's heap; shmem: Ray's object store pages)
            "peak_rss_by_kind_mib": parts_peak,
            # sampled once a second: the heap (anon), pymalloc's arenas in it and the live
            # objects' share of them; the rest of the heap is malloc's (objects over 512 bytes,
            # native libraries)
            "peak_heap_by_stage_mib": heap,
            "index_files_mib": {k: round(v, 1) for k, v in files.items()}}


def measure(sizes: Sequence[int], rag_from: Path | None = None, work: Path | None = None,
            engine: str = "process", model: str = "hash") -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        extra = ["--engine", engine] + (["--model-path", str(stand_in_model(Path(tmp)))] if model == "stand-in" else [])
        for size in sizes:
            corpus = Path(tmp) / f"corpus-{size}"
            make_corpus(corpus, size)
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            if rag_from:
                env["PYTHONPATH"] = str(rag_from)
            proc = subprocess.run([sys.executable, __file__, "--one", str(corpus), str(Path(tmp) / f"index-{size}"),
                                   *extra], capture_output=True, text=True, env=env, cwd=rag_from or ROOT, check=True)
            row = {"articles": size, **json.loads(proc.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="articles per corpus, comma-separated")
    parser.add_argument("--rag-from", type=Path, help="ingest with the rag package of this checkout")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--engine", choices=("process", "ray"), default="process",
                        help="ingest in the process, or through a local Ray of 2 CPUs")
    parser.add_argument("--model", choices=("hash", "stand-in"), default="hash",
                        help="the in-process hash stand-in, or a sentence-transformers stand-in "
                             "(needed by --engine ray: its workers load a model by name)")
    parser.add_argument("--one", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(ingest_once(Path(args.one[0]), Path(args.one[1]), args.engine, args.model_path)))
        return
    if args.engine == "ray" and args.model == "hash":
        parser.error("--engine ray needs --model stand-in (Ray's workers load their model by name)")
    rows = measure([int(s) for s in args.sizes.split(",")], args.rag_from, engine=args.engine, model=args.model)
    if args.out:
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "load": os.getloadavg(),
                                        "rows": rows}, indent=2))
        plot(rows, args.out.with_suffix(".png"))


def plot(rows: Sequence[dict], path: Path) -> None:
    """Peak RSS and the index's files against the corpus's size (log scale), if matplotlib
    is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    chunks = [r["chunks"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(chunks, [r["peak_rss_mib"] for r in rows], "o-", label="peak RSS of the ingest")
    if all("index_files_mib" in r for r in rows):
        ax.plot(chunks, [sum(r["index_files_mib"].values()) for r in rows], "s--",
                label="the index itself (FAISS + BM25 files)")
        ax.plot(chunks, [r["peak_rss_mib"] - sum(r["index_files_mib"].values()) for r in rows], "^:",
                label="peak RSS minus the index")
    ax.set_xscale("log")
    ax.set_xlabel("chunks (synthetic articles × ~5.5)")
    ax.set_ylabel("MiB")
    ax.set_title("rag ingest from scratch: memory against corpus size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
