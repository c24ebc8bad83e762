"""BM25 at scale: newsrag's saved sparse BM25 (``rag.store.bm25``) beside ``rank_bm25`` (what
newsrag used before: built in Python from every chunk on first use) and ``bm25s``.

Synthetic passages are made from the shipped corpus's own words (each word drawn with its
frequency in the corpus, 90–130 words a passage: about a 700-character chunk), one word in
ten replaced by a made-up name of a long-tailed (Zipf, a = 1.3) vocabulary of 457k
(the corpus alone cut to 5 letters has only ~650 terms; real news has names, numbers and
rare words), generated batch by batch from a fixed seed, so no implementation needs the
texts all at once.
Queries are the team's question set (86 questions, English and French), tokenised as
newsrag does (``rag.store.bm25.tokenize``) for all three; each is timed alone, top 20.

Each implementation and size runs in a fresh process (peak RSS from ``getrusage``), with a
time limit (``--limit``, 600 s): what does not finish in it is reported as such.

* ``newsrag``: term counts of 512-passage batches spooled to disk (as the ingest does),
  the index built, saved to ``bm25.npz`` and loaded back; then the re-assembly after one
  passage changed: every other passage's counts taken from the loaded index (no
  tokenising), the new one tokenised, built and saved again.
* ``rank_bm25``: ``BM25Okapi`` over the token lists.
* ``bm25s``: ``bm25s.BM25()`` (its default, Lucene's BM25) ``index`` over the token lists;
  an update is a whole ``index`` again (its stored scores depend on every passage).

    python -m benchmarks.bm25 --sizes 100000,1000000 --out benchmarks/results/bm25.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from rag.evaluation.metrics import percentile
from rag.evaluation.questions import default_questions, load_questions

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATIONS = ("newsrag", "rank_bm25", "bm25s")
BATCH = 512
TOP_K = 20


def _words() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt")))
    return re.findall(r"[\w’'-]+", text)


def passages(n: int, seed: int = 11, batch: int = BATCH, clock: list[float] | None = None) -> Iterator[list[str]]:
    """``n`` synthetic passages, ``batch`` at a time (the same ones for every process);
    the seconds spent making them are added to ``clock[0]`` (wall) and ``clock[1]`` (CPU):
    they are not part of any build time."""
    words = np.array(_words(), dtype=object)
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = np.array(["z" + a + b + c + d for a in letters for b in letters for c in letters for d in letters],
                     dtype=object)
    rng = np.random.default_rng(seed)
    for start in range(0, n, batch):
        t0, c0 = time.perf_counter(), _cpu_s()
        out = []
        for _ in range(min(batch, n - start)):
            drawn = words[rng.integers(0, len(words), int(rng.integers(90, 131)))]
            rare = rng.random(len(drawn)) < 0.1
            drawn[rare] = names[(rng.zipf(1.3, int(rare.sum())) - 1) % len(names)]
            out.append(" ".join(drawn))
        if clock is not None:
            clock[0] += time.perf_counter() - t0
            clock[1] += _cpu_s() - c0
        yield out


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process so far (less sensitive than wall time to a busy machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _queries() -> list[list[str]]:
    from rag.store.bm25 import tokenize

    return [tokenize(q["q"]) for q in load_questions(default_questions())]


def _report(row: dict[str, Any]) -> None:
    """The figures so far, one JSON line (the parent keeps the last one it got when the
    process runs out of time)."""
    print(json.dumps(row), flush=True)


def _time_queries(search: Any, queries: list[list[str]]) -> dict[str, float | None]:
    for q in queries[:3]:
        search(q)  # warm
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        lat.append((time.perf_counter() - t0) * 1000)
    return {"query_p50_ms": percentile(lat, 50, digits=2), "query_p95_ms": percentile(lat, 95, digits=2)}


def run_one(impl: str, n: int, work: Path) -> dict[str, Any]:
    """Build, (save, load,) query and update one implementation over ``n`` passages."""
    from rag.store.bm25 import BM25Builder, BM25Index, TermCounts, tokenize

    queries = _queries()
    base = _rss_mib()
    row: dict[str, Any] = {"implementation": impl, "passages": n}
    making = [0.0, 0.0]  # seconds spent making the passages, taken out of the build time
    t0, c0 = time.perf_counter(), _cpu_s()
    if impl == "newsrag":
        builder = BM25Builder(work)
        for texts in passages(n, clock=making):
            builder.add(TermCounts.of_texts(texts))
        index = builder.build()
        path = work / "bm25.npz"
        index.save(path)
        row["build_s"] = round(time.perf_counter() - t0 - making[0], 1)
        row["build_cpu_s"] = round(_cpu_s() - c0 - making[1], 1)
        row["file_mib"] = round(path.stat().st_size / 2**20, 1)
        row["build_peak_rss_mib"] = round(_rss_mib(), 1)  # before loading and updating
        _report(row)
        del index, builder
        t1 = time.perf_counter()
        index = BM25Index.load(path)
        row["load_s"] = round(time.perf_counter() - t1, 2)
        row["stored_counts"] = int(len(index.rows))
        row["vocabulary"] = int(len(index.vocab))

        def search(q: list[str]) -> Any:
            score = index.scores(q)
            found = np.flatnonzero(score > 0)
            if len(found) > TOP_K:
                found = found[np.argpartition(-score[found], TOP_K - 1)[:TOP_K]]
            return found[np.lexsort((found, -score[found]))]

        row |= _time_queries(search, queries)
        # one passage changed: the others' counts carried over, the new one tokenised
        t2 = time.perf_counter()
        again = BM25Builder(work)
        rows = np.arange(n - 1)
        for i in range(0, len(rows), BATCH):
            # counts_of reads its rows through np.asarray: an array slice is what it is fastest
            # with (its signature says Sequence[int], what the ingest passes)
            again.add(index.counts_of(cast(Sequence[int], rows[i:i + BATCH])))
        again.add(TermCounts.of_texts(["Le Kremlin a confirmé l'appel mardi soir, a dit Dmitri Peskov."]))
        again.build().save(work / "bm25-2.npz")
        row["update_one_s"] = round(time.perf_counter() - t2, 1)
    elif impl == "rank_bm25":
        from rank_bm25 import BM25Okapi

        corpus = [tokenize(t) for texts in passages(n, clock=making) for t in texts]
        bm25 = BM25Okapi(corpus)
        del corpus
        row["build_s"] = round(time.perf_counter() - t0 - making[0], 1)
        row["build_cpu_s"] = round(_cpu_s() - c0 - making[1], 1)
        row["build_peak_rss_mib"] = round(_rss_mib(), 1)
        _report(row)

        def search(q: list[str]) -> Any:
            return np.argsort(-bm25.get_scores(q))[:TOP_K]

        # about a second a query at 100k: at 1M, ten of them (the limit is the process's)
        row |= _time_queries(search, queries[:10] if n > 200_000 else queries)
        if n > 200_000:
            row["queries_timed"] = 10
    elif impl == "bm25s":
        import bm25s

        corpus = [tokenize(t) for texts in passages(n, clock=making) for t in texts]
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        del corpus
        row["build_s"] = round(time.perf_counter() - t0 - making[0], 1)
        row["build_cpu_s"] = round(_cpu_s() - c0 - making[1], 1)
        row["build_peak_rss_mib"] = round(_rss_mib(), 1)
        _report(row)
        row["update_one_s"] = row["build_s"]  # a whole index again
        row |= _time_queries(lambda q: retriever.retrieve([q], k=TOP_K, show_progress=False), queries)
    else:
        raise ValueError(impl)
    row["making_passages_s"] = round(making[0], 1)
    row["peak_rss_mib"] = round(_rss_mib(), 1)
    row["rss_before_mib"] = round(base, 1)
    return row


def measure(sizes: Sequence[int], impls: Sequence[str], limit: float) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        for impl in impls:
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bm25", "--one", impl, str(n), tmp],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                        env={**os.environ, "OMP_NUM_THREADS": "1", "DISABLE_TQDM": "1"})
                try:
                    out, err = proc.communicate(timeout=limit)
                    late = None
                except subprocess.TimeoutExpired:  # keep what it measured before the limit
                    proc.kill()
                    out, err = proc.communicate()
                    late = f"not finished in {limit:.0f} s"
                lines = out.strip().splitlines()
                row = json.loads(lines[-1]) if lines else {"implementation": impl, "passages": n}
                if late:
                    row["error"] = late
                elif proc.returncode:
                    row["error"] = (err.strip().splitlines() or ["?"])[-1]
                row["wall_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="passages, comma-separated")
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS), help="implementations, comma-separated")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds one implementation may take at one size")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--one", nargs=3, metavar=("IMPL", "N", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), Path(args.one[2]))))
        return
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = measure([int(s) for s in args.sizes.split(",")], args.impls.split(","), args.limit)
    if args.out:
        old = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
        old["runs"].append({"date": time.strftime("%Y-%m-%d %H:%M"), "uptime_before": uptime,
                            "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
                            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": rows})
        args.out.write_text(json.dumps(old, indent=2))


if __name__ == "__main__":
    main()
