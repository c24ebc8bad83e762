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

``--rag-from`` runs the ingest of another checkout (its ``rag`` package) on the same
corpora, for a before/after figure.
"""

from __future__ import annotations

import argparse
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


def ingest_once(corpus: Path, index: Path) -> dict:
    """Ingest ``corpus`` into a new ``index`` in this process; its figures, with the
    highest resident memory seen in each stage the ingest reports (sampled every 0.1 s;
    "writing…" runs to the end: the FAISS and BM25 builds and the switch), and the size
    on disk of the index the ingest wrote (its FAISS and BM25 files: what a search holds)."""
    from benchmarks.load import rss_mib
    from rag.index import current_generation
    from rag.ingest import ingest
    from rag.settings import Settings

    stage = ["starting"]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), (rss_mib(os.getpid()) or 0.0))

    def progress(_done: int, _total: int, what: str) -> None:
        stage[0] = what

    base = (rss_mib(os.getpid()) or 0.0)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    report = ingest(Settings(corpus_dir=corpus, index_dir=index), HashEmbedder(), progress=progress)
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
            "rss_before_mib": round(base, 1),
            "peak_rss_by_stage_mib": {k: round(v, 1) for k, v in peaks.items()},
            "index_files_mib": {k: round(v, 1) for k, v in files.items()}}


def measure(sizes: Sequence[int], rag_from: Path | None = None, work: Path | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for size in sizes:
            corpus = Path(tmp) / f"corpus-{size}"
            make_corpus(corpus, size)
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            if rag_from:
                env["PYTHONPATH"] = str(rag_from)
            proc = subprocess.run([sys.executable, __file__, "--one", str(corpus), str(Path(tmp) / f"index-{size}")],
                                  capture_output=True, text=True, env=env, cwd=rag_from or ROOT, check=True)
            row = {"articles": size, **json.loads(proc.stdout.strip().splitlines()[-1])}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="articles per corpus, comma-separated")
    parser.add_argument("--rag-from", type=Path, help="ingest with the rag package of this checkout")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--one", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(ingest_once(Path(args.one[0]), Path(args.one[1]))))
        return
    rows = measure([int(s) for s in args.sizes.split(",")], args.rag_from)
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
