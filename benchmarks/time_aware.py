"""Time-aware answers, measured on questions written for them (benchmarks/time/).

Each split (``dev``: built and tuned on; ``report``: held out, run once) is a corpus of
dated articles whose facts change over time, and questions of five kinds (see
benchmarks/time/README.md): ``latest`` (the answer's first citation must come from the
newest article that answers), ``span`` (a good answer cites articles of two dates and says
which is newer), ``past`` (an earlier state asked for: the newest article must not win),
``plain`` (no time in it) and ``none`` (unanswerable: the answer must abstain).

The split's corpus is indexed into a temporary folder with the product's models, then
every question is asked twice on that index: with ``time_aware`` off (the product before
rag.answer.timeline) and on.

    python -m benchmarks.time_aware --split dev
    python -m benchmarks.time_aware --split report --reader learned,extractive
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag.answer.framing import date_lead
from rag.answer.pipeline import Pipeline
from rag.answer.timeline import newer
from rag.evaluation.metrics import holds_evidence, is_correct, percentile
from rag.evaluation.questions import load_questions
from rag.settings import Settings
from rag.types import Answer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "time"
RESULTS = ROOT / "benchmarks" / "results"
KINDS = ("latest", "span", "past", "plain", "none")


def says_newer(answer: Answer) -> bool:
    """The answer cites articles of two dates, one newer, and its newest claim says "as of" that date."""
    dates = {c.date for c in answer.citations if c.date}
    newest = [d for d in dates if not any(newer(o, d) for o in dates)]
    if len(newest) == len(dates):
        return False
    return any(date_lead(d, answer.language, "as_of") in answer.answer for d in newest)


def score(q: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """What one answer got right, by the question's kind."""
    answerable = q.get("answerable", True)
    row: dict[str, Any] = {"id": q["id"], "kind": q.get("kind", "plain"), "lang": q["lang"],
                           "abstained": answer.abstained, "answer": answer.answer,
                           "latency_ms": round(answer.timings_ms["total"], 1)}
    if not answerable:
        row["ok"] = answer.abstained
        return row
    row["correct"] = is_correct(answer.answer, q["answer"]) if q.get("answer") else None
    row["cited_evidence"] = any(holds_evidence(c.passage, q.get("evidence") or []) for c in answer.citations)
    if q.get("first_evidence"):
        row["first_ok"] = bool(answer.citations) and holds_evidence(answer.citations[0].passage,
                                                                     q["first_evidence"])
    row["says_newer"] = says_newer(answer)
    kind = row["kind"]
    row["ok"] = (row.get("first_ok", False) if kind in ("latest", "past")
                 else bool(row["correct"]) and row["says_newer"] if kind == "span"
                 else bool(row["correct"]))
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: questions, the kind's own success (``ok``: first citation right for latest
    and past, correct and saying which is newer for span, correct for plain, abstained
    for none), and the shares of correct answers and cited evidence."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["kind"]].append(r)
    by["all"] = rows

    def share(xs: list[Any]) -> float | None:
        xs = [x for x in xs if x is not None]
        return round(sum(map(bool, xs)) / len(xs), 3) if xs else None

    return {kind: {"questions": len(rs), "ok": share([r["ok"] for r in rs]),
                   "correct": share([r.get("correct") for r in rs]),
                   "cited_evidence": share([r.get("cited_evidence") for r in rs]),
                   "abstained": share([r["abstained"] for r in rs]),
                   "latency_p50_ms": percentile([r["latency_ms"] for r in rs], 50, digits=1)}
            for kind, rs in by.items() if rs}


def changes(off: list[dict[str, Any]], on: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The questions whose answer time-awareness changed: made right, made wrong, changed
    without changing the verdict."""
    out: dict[str, list[str]] = {"fixed": [], "broken": [], "other": []}
    for a, b in zip(off, on):
        if a["answer"] != b["answer"]:
            key = "fixed" if b["ok"] and not a["ok"] else "broken" if a["ok"] and not b["ok"] else "other"
            out[key].append(b["id"])
    return out


def run(split: str, readers: list[str]) -> dict[str, Any]:
    questions = load_questions(DATA / split / "questions.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(corpus_dir=DATA / split / "corpus", index_dir=Path(tmp) / "index",
                                     translator="none")
        base = Pipeline.from_settings(settings)
        out: dict[str, Any] = {}
        try:
            for spec in readers:
                for on in (False, True):
                    pipe = Pipeline(dataclasses.replace(settings, time_aware=on), base.embedder, base.store,
                                    translator=None).with_reader(spec)
                    rows = [score(q, pipe.ask(q["q"], q.get("history") or None)) for q in questions]
                    result: dict[str, Any] = {"summary": summary(rows), "rows": rows}
                    if on:
                        result["changes"] = changes(out[f"{spec} time_aware=off"]["rows"], rows)
                    out[f"{spec} time_aware={'on' if on else 'off'}"] = result
        finally:
            base.close()
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| run | " + " | ".join(f"{k} ok" for k in (*KINDS, "all")) + " | latest p50 ms |",
             "|---|" + "---|" * (len(KINDS) + 2)]
    for name, res in results.items():
        s = res["summary"]
        cells = [f"{s[k]['ok']:.2f} ({s[k]['questions']})" if k in s and s[k]["ok"] is not None else "–"
                 for k in (*KINDS, "all")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s.get('latest', {}).get('latency_p50_ms')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "report"), default="dev")
    parser.add_argument("--reader", default="learned", help="comma-separated reader specs (default: learned)")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/time_aware_SPLIT.json)")
    parser.add_argument("--show", action="store_true", help="print every question's answers, off and on")
    args = parser.parse_args(argv)
    results = run(args.split, [r.strip() for r in args.reader.split(",") if r.strip()])
    print(table(results))
    for name, res in results.items():
        if "changes" in res:
            print(f"{name}: " + "; ".join(f"{k} {len(v)} {' '.join(v)}" for k, v in res["changes"].items()))
    if args.show:
        names = list(results)
        for i, row in enumerate(results[names[0]]["rows"]):
            print(f"\n{row['id']} [{row['kind']}]")
            for name in names:
                r = results[name]["rows"][i]
                print(f"  {name}: ok={r['ok']} {r['answer'][:300]}")
    out = args.out or RESULTS / f"time_aware_{args.split}.json"
    out.write_text(json.dumps({"date": dt.date.today().isoformat(), "load": os.getloadavg()[0],
                               "split": args.split, "results": results}, indent=1, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    print(f"\nwritten: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
