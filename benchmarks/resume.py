"""What an ingest killed with SIGKILL costs: the time lost, and the index it leaves.

A synthetic corpus (``benchmarks.ray_ingest.make_corpus``: the five shipped articles cut
into ``--articles`` new ones, every chunk text new) is first ingested in one go by a
``rag ingest`` child process from scratch (empty embedding cache), with the real model.
Then, for each ``--at`` fraction of that time, a fresh index folder: ``rag ingest`` is
started, killed with SIGKILL after that fraction of the uninterrupted time, checked (the
folder holds no live index yet, or the previous one, and nothing half-written is loaded)
and started again to the end. Per kill: the texts embedded before the kill (rows of the
embedding cache, committed batch by batch), those the second run embedded, and the time
lost = (time until the kill + the second run) − the uninterrupted run. The resumed index
is compared with the uninterrupted one (chunks, offsets, documents, vectors).

    python -m benchmarks.resume --articles 120 --at 0.25,0.5,0.75
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench import _child_env
from benchmarks.ray_ingest import make_corpus, snapshot

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "resume.json"
_EMBEDDED = re.compile(r"\((\d+) texts newly embedded\)")


def _argv(corpus: Path, index: Path) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "--corpus", str(corpus), "--index", str(index), "ingest"]


def run_to_end(corpus: Path, index: Path) -> dict[str, Any]:
    """One ``rag ingest`` to completion: wall seconds (process included) and texts embedded."""
    t0 = time.perf_counter()
    done = subprocess.run(_argv(corpus, index), capture_output=True, text=True, env=_child_env(), cwd=ROOT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"rag ingest failed ({done.returncode}): {done.stderr[-800:]}")
    found = _EMBEDDED.search(done.stdout + done.stderr)
    return {"seconds": round(seconds, 2), "embedded": int(found.group(1)) if found else None}


def cached_texts(index: Path) -> int:
    """Rows of the embedding cache: the texts whose vectors survived the kill."""
    path = index / "embeddings.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)


def kill_after(corpus: Path, index: Path, seconds: float) -> float:
    """Start ``rag ingest`` and SIGKILL it after ``seconds``; the seconds it ran."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(_argv(corpus, index), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_child_env(), cwd=ROOT)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return time.perf_counter() - t0


def run(articles: int, fractions: Sequence[float], workdir: Path) -> dict[str, Any]:
    corpus = workdir / "corpus"
    make_corpus(corpus, articles)
    out: dict[str, Any] = {"articles": articles,
                           "at": dt.datetime.now().isoformat(timespec="seconds"),
                           "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    whole = run_to_end(corpus, workdir / "whole")
    out["uninterrupted"] = whole | {"cached": cached_texts(workdir / "whole")}
    reference = snapshot(workdir / "whole")
    out["kills"] = []
    for f in fractions:
        index = workdir / f"killed-{f:g}"
        ran = kill_after(corpus, index, f * whole["seconds"])
        kept = cached_texts(index)
        resumed = run_to_end(corpus, index)
        got = snapshot(index)
        out["kills"].append({
            "at_fraction": f, "killed_after_s": round(ran, 2), "texts_cached_at_kill": kept,
            "resume": resumed,
            "time_lost_s": round(ran + resumed["seconds"] - whole["seconds"], 2),
            "same_index": got["chunks"] == reference["chunks"] and got["docs"] == reference["docs"]
            and bool(np.array_equal(got["vectors"], reference["vectors"])),
        })
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=120, help="synthetic articles (default 120)")
    parser.add_argument("--at", default="0.25,0.5,0.75",
                        help="when to kill, as fractions of the uninterrupted ingest's time")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    fractions = [float(x) for x in args.at.split(",") if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.articles, fractions, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
