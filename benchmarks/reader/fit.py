"""Fit the learned reader's weights: extract features, fit on one split, choose on another.

Two steps, so that the slow one (retrieval over an index) runs once per question set:

    # 1. features of every candidate sentence of every question (real retriever, real index)
    python benchmarks/reader/fit.py extract --index DIR --questions fit.jsonl --out fit.npz
    # 2. fit on the fit sets, choose C and the abstention threshold on the dev sets
    python benchmarks/reader/fit.py fit --fit fit.npz fit_en.npz --dev dev.npz team.npz \\
        --out rag/answer/readers/learned.json

A sentence is labelled 1 when it holds the question's answer (one string of every
answer group, compared as ``rag eval`` does). The sentence model is a logistic regression
over :data:`rag.answer.readers.features.FEATURES`; the abstention model, over
:data:`rag.answer.readers.learned.ABSTAIN_FEATURES` of each question, learns whether the
passages answer at all (answerable questions whose passages hold the answer vs.
unanswerable ones). C is chosen for top-1 accuracy on the dev sets; the abstention
threshold is the highest that keeps false abstentions on the dev sets' answerable
questions at or under ``--max-false-abstention``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.pipeline import Pipeline
from rag.answer.readers.extractive import ExtractiveReader
from rag.answer.readers.features import FEATURES, featurize
from rag.answer.readers.learned import ABSTAIN_FEATURES, LinearModel, Weights, abstain_features
from rag.evaluation.metrics import is_correct
from rag.evaluation.questions import load_questions
from rag.models.embedding import load_embedder
from rag.settings import Settings
from rag.store.index_store import IndexStore


def extract(index: Path, questions_path: Path, out: Path, k: int) -> None:
    settings = Settings.from_env(index_dir=index, reader="extractive")
    embedder = load_embedder(settings.embedding_model)
    store = IndexStore.load(index, embedder.name, embedder.dim)
    pipeline = Pipeline(settings, embedder, store, reader=ExtractiveReader(settings.reader_config))
    rows, labels, qid, answerable, where = [], [], [], [], []
    questions = load_questions(questions_path)
    for n, q in enumerate(questions):
        query = pipeline.query(q["q"], q.get("history") or None)
        passages = pipeline.retriever.retrieve(query.text, k=k)
        cands, x = featurize(query.text, query.language, passages)
        groups = q.get("answer") or []
        ok = q.get("answerable", True)
        for c, feats in zip(cands, x):
            rows.append(feats)
            labels.append(int(bool(ok and groups and is_correct(c.text, groups))))
            qid.append(n)
            where.append((c.passage.rank, c.index))
        answerable.append(int(ok))
        if (n + 1) % 100 == 0:
            print(f"  {n + 1}/{len(questions)}", flush=True)
    np.savez_compressed(out, x=np.array(rows, np.float32).reshape(-1, len(FEATURES)),
                        y=np.array(labels, np.int8), qid=np.array(qid, np.int32),
                        answerable=np.array(answerable, np.int8), where=np.array(where, np.int32).reshape(-1, 2),
                        k=k, source=str(questions_path))
    print(f"{out}: {len(questions)} questions, {len(rows)} candidate sentences")


class Split:
    """The candidates of several feature files, question ids made unique."""

    def __init__(self, paths: list[Path]) -> None:
        xs, ys, qs, ans = [], [], [], []
        offset = 0
        for p in paths:
            d = np.load(p)
            xs.append(d["x"])
            ys.append(d["y"])
            qs.append(d["qid"] + offset)
            ans.append(d["answerable"])
            offset += len(d["answerable"])
        self.x, self.y, self.qid = np.concatenate(xs), np.concatenate(ys), np.concatenate(qs)
        self.answerable = np.concatenate(ans).astype(bool)
        self.groups = [np.flatnonzero(self.qid == i) for i in range(offset)]
        self.names = [p.name for p in paths]

    def has_answer(self) -> np.ndarray:
        return np.array([bool(self.y[g].any()) if len(g) else False for g in self.groups])


def top1(split: Split, probs: np.ndarray) -> float:
    """Share of answerable questions whose best sentence holds the answer."""
    hits = [bool(split.y[g][np.argmax(probs[g])]) if len(g) else False
            for g, a in zip(split.groups, split.answerable) if a]
    return float(np.mean(hits)) if hits else 0.0


def question_features(split: Split, model: LinearModel) -> np.ndarray:
    probs = model.probability(split.x)
    out = []
    for g in split.groups:
        out.append(abstain_features(split.x[g], probs[g]))
    return np.array(out, np.float32)


def linear(names: tuple[str, ...], clf: Any, mean: np.ndarray, scale: np.ndarray) -> LinearModel:
    return LinearModel(names, mean.astype(np.float32), scale.astype(np.float32),
                       clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))


def fit(fit_paths: list[Path], dev_paths: list[Path], out: Path, max_false: float) -> None:
    from sklearn.linear_model import LogisticRegression

    train, dev = Split(fit_paths), Split(dev_paths)
    usable = np.isin(train.qid, [i for i, g in enumerate(train.groups) if len(g) and train.y[g].any()])
    mean, scale = train.x[usable].mean(0), train.x[usable].std(0) + 1e-6
    print(f"  baseline, best cosine: dev top-1 {top1(dev, dev.x[:, FEATURES.index('cos')]):.3f}")
    best = None
    for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit((train.x[usable] - mean) / scale, train.y[usable])
        model = linear(FEATURES, clf, mean, scale)
        acc = top1(dev, model.probability(dev.x))
        print(f"  C={c}: dev top-1 {acc:.3f} (fit {top1(train, model.probability(train.x)):.3f})")
        if best is None or acc > best[0] + 1e-9:
            best = (acc, c, model)
    assert best is not None
    _, c_best, sentence = best

    # the abstention model: do the passages answer? (retrieval misses are left out of fitting)
    qx = question_features(train, sentence)
    keep = ~train.answerable | train.has_answer()
    qy = train.answerable[keep].astype(int)
    qmean, qscale = qx[keep].mean(0), qx[keep].std(0) + 1e-6
    aclf = LogisticRegression(C=1.0, max_iter=2000).fit((qx[keep] - qmean) / qscale, qy)
    abstain = linear(ABSTAIN_FEATURES, aclf, qmean, qscale)

    # the highest threshold whose false abstentions stay within max_false on *every* dev set
    # (a set of another kind — news, English questions — must not pay for the others)
    threshold = 1.0
    for path in dev_paths:
        one = Split([path])
        ans_p = np.sort(abstain.probability(question_features(one, sentence))[one.answerable])
        if len(ans_p):
            threshold = min(threshold, float(ans_p[int(np.floor(max_false * len(ans_p)))]) - 1e-6)
    for path in dev_paths:
        one = Split([path])
        p = abstain.probability(question_features(one, sentence))
        unans = p[~one.answerable]
        print(f"  {path.name}: false abstentions {np.mean(p[one.answerable] < threshold):.3f}, abstention "
              f"on unanswerable {np.mean(unans < threshold) if len(unans) else float('nan'):.3f}")
    print(f"  abstention threshold {threshold:.3f}")
    weights = Weights(sentence, abstain, {
        "fitted": dt.date.today().isoformat(), "fit_sets": train.names, "dev_sets": dev.names,
        "C": c_best, "dev_top1": round(best[0], 4), "min_answerable": round(threshold, 4),
        "max_false_abstention": max_false,
        "data": "PIAF v1.0 (Etalab, MIT licence; French Wikipedia), questions machine-translated to "
                "English for the cross-language features; see docs/readers.md, 'Training and evaluation data'"})
    weights.save(out)
    print(f"wrote {out} (abstention threshold {threshold:.3f}, read by the reader from the file)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract", help="features of every candidate sentence of a question set")
    e.add_argument("--index", type=Path, required=True)
    e.add_argument("--questions", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("-k", type=int, default=Settings().top_k, help="passages per question (the reader's)")
    f = sub.add_parser("fit", help="fit the weights and choose on dev")
    f.add_argument("--fit", type=Path, nargs="+", required=True)
    f.add_argument("--dev", type=Path, nargs="+", required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--max-false-abstention", type=float, default=0.04)
    args = parser.parse_args()
    if args.cmd == "extract":
        extract(args.index, args.questions, args.out, args.k)
    else:
        fit(args.fit, args.dev, args.out, args.max_false_abstention)


if __name__ == "__main__":
    main()
