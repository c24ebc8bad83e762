"""Markdown tables of a ``rag bench`` result, for benchmarks/README.md.

    python benchmarks/report.py [benchmarks/results/bench.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tables(r: dict) -> str:
    out = []
    real, base = r.get("real"), r.get("baseline")
    if real:
        w, i, ri, c = real["warm"], real["ingest"], real["reingest_unchanged"], real["cold_start_ask"]
        out += ["| real corpus (5 articles) | |", "|---|---|",
                f"| ingest, empty cache: {i['chunks']} chunks, {i['embedded']} texts embedded | "
                f"{i['seconds']:.1f} s in the library ({i['process_seconds']:.1f} s with the process), "
                f"**{i['chunks_per_s']} chunks/s** ({i['texts_embedded_per_s']} texts/s), peak {i['peak_rss_mib']:.0f} MiB |",
                *([f"| the embedding model alone on the same {real['embedder_raw']['texts']} texts, batches of "
                   f"{real['embedder_raw']['batch_size']} | {real['embedder_raw']['seconds']:.1f} s, "
                   f"{real['embedder_raw']['texts_per_s']} texts/s: the ingest reaches "
                   f"**{i.get('ratio_to_raw', 0):.2f}×** that rate |"] if real.get("embedder_raw") else []),
                f"| re-ingest, nothing changed | {ri['process_seconds']:.2f} s with the process "
                f"({ri['seconds'] * 1000:.0f} ms in the library), {ri['embedded']} texts embedded, peak {ri['peak_rss_mib']:.0f} MiB |",
                f"| `rag ask` cold start, process start to answer (median of {c['runs']}) | "
                f"**{c['seconds_median']:.2f} s**, peak {c['peak_rss_mib']:.0f} MiB |",
                f"| warm retrieval alone (k={w['retrieve_k']}), {real['questions']} questions | "
                f"p50 **{w['retrieve_ms_p50']:.1f} ms**, p95 {w['retrieve_ms_p95']:.1f} ms |",
                f"| warm `ask` (retrieve + answer, k={w['ask_k']}) | p50 **{w['ask_ms_p50']:.1f} ms**, "
                f"p95 {w['ask_ms_p95']:.1f} ms |", ""]
    if base:
        out += ["| retrieval, same embedder, same questions | chunks | recall@3 | recall@4 | search p50 | p95 |",
                "|---|---|---|---|---|---|"]
        if real:
            out.append(f"| **newsrag** (700-char chunks, dense + sentence rerank + BM25) | {real['warm']['chunks']} | "
                       f"{real['recall']['recall@3']:.3f} | {real['recall']['recall@4']:.3f} | "
                       f"{real['warm']['retrieve_ms_p50']:.1f} ms | {real['warm']['retrieve_ms_p95']:.1f} ms |")
        out.append(f"| LangChain baseline (RecursiveCharacterTextSplitter(1000, 200), FAISS store, k=4) | "
                   f"{base['chunks']} | {base['recall@3']:.3f} | {base['recall@4']:.3f} | "
                   f"{base['search_ms_p50']:.1f} ms | {base['search_ms_p95']:.1f} ms |")
        if "latency_ratio_ours_over_baseline" in base:
            out += ["", f"Latency ratio newsrag / baseline (retrieval p50): **{base['latency_ratio_ours_over_baseline']}×**."]
        out.append("")
    load = r.get("load")
    if load:
        out += [f"| clients ({load['reader']} reader, {load['seconds_per_level']:g} s each) | requests/s | p50 | p95 "
                "| errors | server RSS start → end |", "|---|---|---|---|---|---|"]
        for lv in load["levels"]:
            p50, p95 = (f"{x:.0f} ms" if x is not None else "–" for x in (lv["p50_ms"], lv["p95_ms"]))
            out.append(f"| {lv['clients']} | {lv['requests_per_s']} | {p50} | {p95} "
                       f"| {lv['errors']} | {lv['rss_mib_start']:.0f} → {lv['rss_mib_end']:.0f} MiB |")
        out.append("")
    scale = r.get("scale")
    if scale:
        for kind in ("clustered", "uniform"):
            rows = [x for x in scale["rows"] if x["data"] == kind]
            if not rows:
                continue
            out += [f"| {kind} | index | build | size | search p50 | p95 | recall@10 | tuned |",
                    "|---|---|---|---|---|---|---|---|"]
            for x in rows:
                if "skipped" in x:
                    out.append(f"| {x['n']:,} | {x['factory']} | — | — | — | — | — | skipped: {x['skipped']} |")
                    continue
                c = x["chosen"]
                tuned = f"{x['knob']}={c['param']}" if x["knob"] else "exact"
                if x["knob"] and not x["met_recall"]:
                    tuned += " (best; 0.95 not reached)"
                out.append(f"| {x['n']:,} | {x['factory']} | {x['build_seconds']:.1f} s | {x['index_mib']:.0f} MiB | "
                           f"{c['search_ms_p50']:.3f} ms | {c['search_ms_p95']:.3f} ms | {c['recall@10']:.3f} | {tuned} |")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "results" / "bench.json"
    print(tables(json.loads(path.read_text())))
