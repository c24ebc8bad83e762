"""Measure the translation path on every cross-language answer of a question set.

    python benchmarks/reader/translation.py --questions rag/data/questions.jsonl \\
        --translator llamacpp:MODEL.gguf [--index index] [--out benchmarks/results/translation.json]

For each question answered from an article in another language than the question's,
the quote is translated and checked both ways (``Translator.check``: names it flags
are looked up in the other language with the same translator). Reported: how many
translations were shown (facts match both ways), why the others were not (the first
mismatch), and the translation's latency (p50/p95). Each row keeps the quote, the
translation and the verdict, so a person can read what was caught.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from rag.answer.framing import is_foreign_quote, passage_language
from rag.answer.pipeline import Pipeline
from rag.answer.translation.opus import MarianTranslator
from rag.answer.translation.registry import load_translator
from rag.evaluation.metrics import percentile
from rag.evaluation.questions import load_questions
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--translator", required=True)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--threads", type=int, help="the opus-mt translator's threads (default rag.models.opus.THREADS)")
    parser.add_argument("--engine", choices=("ctranslate2", "pytorch"),
                        help="the opus-mt translator's engine (default: CTranslate2 when installed)")
    parser.add_argument("--no-vmap", action="store_true",
                        help="the opus-mt translator decodes over its whole vocabulary (not the target language's)")
    args = parser.parse_args()
    pipeline = Pipeline.from_settings(Settings.from_env(index_dir=args.index), ingest_if_missing=False)
    plain = pipeline.with_translator(None)
    translator = load_translator(args.translator)
    translator.cache_size = 0  # every quote translated afresh, repeats too: what a translation costs
    if isinstance(translator, MarianTranslator):
        translator.threads = args.threads or translator.threads
        translator.engine = args.engine or translator.engine
        translator.vmap = translator.vmap and not args.no_vmap
    rows = []
    for q in load_questions(args.questions):
        query = plain.query(q["q"], q.get("history") or None)
        passages = plain.retriever.retrieve(query.text, k=plain.settings.top_k)
        claims = list(plain.reader.answer(query, passages))
        for claim in claims:
            if not is_foreign_quote(claim, query.language):
                continue
            quote = claim.passage.document.text[claim.quote_start:claim.quote_end]
            language = passage_language(claim.passage, query.language)
            t0 = time.perf_counter()  # what the reader waits for: the translation and its check
            translation, problems = translator.translate_checked([quote], language, query.language)[0]
            problems = problems if translation else ["no translation"]
            seconds = time.perf_counter() - t0
            rows.append({"id": q.get("id"), "question": q["q"], "quote": quote, "translation": translation,
                         "shown": not problems, "problems": problems, "seconds": round(seconds, 3)})
            print(f"{'shown ' if not problems else 'HIDDEN'} {seconds:5.1f}s {q['q'][:60]!r}"
                  + ("" if not problems else f" — {problems[0]}"), flush=True)
    latencies = [r["seconds"] for r in rows]
    summary = {"questions": args.questions.name, "translator": translator.name,
               "engine": getattr(translator, "engine", None), "threads": getattr(translator, "threads", None),
               "vmap": getattr(translator, "vmap", None) and getattr(translator, "engine", None) == "ctranslate2",
               "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": [round(x, 1) for x in os.getloadavg()],
               "cross_language_quotes": len(rows),
               "shown": sum(r["shown"] for r in rows),
               "latency_p50_s": percentile(latencies, 50), "latency_p95_s": percentile(latencies, 95)}
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
