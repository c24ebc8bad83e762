"""Train the neural reader's cross-encoder on a packed data folder; choose on its dev sets.

    # on a GPU machine (torch, numpy, safetensors and transformers; nothing of newsrag's
    # other dependencies): the folder neural_data.py pack wrote, results to OUT
    python benchmarks/reader/neural_train.py --data CARRY_DIR --out OUT --variants 12:16,6:16
    # a CPU smoke run on a slice: the loss falls and the adapter loads back
    python benchmarks/reader/neural_train.py --data CARRY_DIR --out /tmp/smoke --variants 2:4 \\
        --limit 60 --epochs 3 --device cpu

Each variant ``LAYERS:RANK`` fine-tunes LoRA adapters of that rank on the first LAYERS
layers of multilingual-e5-small (their LayerNorms and a linear head trained in full, the
embeddings frozen) over every fit question's candidates: a pointwise loss (does this
sentence answer?) plus a listwise one (which of the question's sentences answers?). After
each epoch the dev sets are scored as the reader will read them, and the best epoch of the
best variant is kept; on it, the dev sets choose how many passages the reader reads (3 to
8: reranking), how many of the learned reader's best sentences it rescores, how much of the
learned reader's logit is mixed in, and the abstention threshold (the highest keeping false
abstentions on answerable dev questions at or under ``--max-false-abstention``). Writes
``OUT/neural.safetensors`` (the chosen adapter, its choices in its metadata) and
``OUT/train_log.json`` (every epoch's and choice's figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

# The model code lives in the package; loaded by path, since the GPU machine has torch
# and transformers but not the product's other dependencies (the type checker reads it
# as the package's module, which it is).
if TYPE_CHECKING:
    from rag.answer.readers import cross_encoder as ce
else:
    _spec = importlib.util.spec_from_file_location(
        "cross_encoder", Path(__file__).resolve().parents[2] / "rag" / "answer" / "readers" / "cross_encoder.py")
    assert _spec is not None and _spec.loader is not None
    ce = importlib.util.module_from_spec(_spec)
    sys.modules["cross_encoder"] = ce
    _spec.loader.exec_module(ce)

PASSAGES = (3, 5, 8)          # passages read (the retriever's top k)
CANDIDATES = (4, 6, 8, 12, 0)   # learned reader's best sentences rescored (0: all)
LEARNED_WEIGHTS = (0.0, 0.5, 1.0)


class Data:
    """The packed sets: token ids of every text, questions and their candidates."""

    def __init__(self, folder: Path, limit: int = 0) -> None:
        d = np.load(folder / "data.npz", allow_pickle=False)
        self.meta = json.loads((folder / "data.json").read_text(encoding="utf-8"))
        self.tokens, self.offsets = d["tokens"], d["offsets"]
        self.q = {k[2:]: d[k] for k in d.files if k.startswith("q_")}
        self.c = {k[2:]: d[k] for k in d.files if k.startswith("c_")}
        self.roles = [name.split(":", 1)[0] for name in self.meta["set_names"]]
        self.specials = self.meta["specials"]
        self.limit = limit

    def text(self, i: int) -> list[int]:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]].tolist()

    def questions(self, role: str) -> dict[str, list[int]]:
        """Question indices of each set of ``role``, by set name (``limit`` of each)."""
        out: dict[str, list[int]] = {}
        for s, name in enumerate(self.meta["set_names"]):
            if self.roles[s] == role:
                idx = np.flatnonzero(self.q["set"] == s).tolist()
                out[name] = idx[:self.limit] if self.limit else idx
        return out

    def candidates(self, qi: int) -> range:
        first = int(self.q["first"][qi])
        return range(first, first + int(self.q["count"][qi]))

    def inputs(self, cands: list[int], layout: ce.Layout) -> list[list[int]]:
        c, sp = self.c, self.specials
        return [ce.pair_ids(self.text(int(self.q["text"][int(c["question"][j])])),
                            self.text(int(c["sentence"][j])), self.text(int(c["title"][j])),
                            self.text(int(c["prev"][j])), layout, sp["bos"], sp["eos"], sp["sep"])
                for j in cands]


def load_base(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The base weights of ``base.safetensors``: codes × scales for the 4-bit matrices."""
    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    with safe_open(str(folder / "base.safetensors"), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
        raw = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (a safetensors file, not a dict)
    for name, value in raw.items():
        if name.endswith(".scales"):
            continue
        if name.endswith(".codes"):
            base = name[:-len(".codes")]
            scales = raw[base + ".scales"].to(torch.float32)
            rows = value.shape[0]
            weight = (value.to(torch.float32).view(rows, -1, 32) * scales.view(rows, -1, 1)).view(rows, -1)
            state[base] = weight
        else:
            state[name] = value.to(torch.float32)
    return config, state


def batches(data: Data, questions: list[int], per_batch: int, negatives: int, hard: float, rng: random.Random):
    """Lists of (question, its sampled candidates): every positive and up to ``negatives``
    negatives, the share ``hard`` of them the learned reader's most probable (the ones the
    reader must beat), the rest at random."""
    order = questions[:]
    rng.shuffle(order)
    learned = data.c["learned"]
    for i in range(0, len(order), per_batch):
        group = []
        for qi in order[i:i + per_batch]:
            cands = list(data.candidates(qi))
            pos = [j for j in cands if data.c["label"][j]]
            neg = sorted((j for j in cands if not data.c["label"][j]), key=lambda j: -float(learned[j]))
            top = int(round(hard * negatives))
            rest = neg[top:]
            rng.shuffle(rest)
            chosen = pos + neg[:top] + rest[:negatives - top]
            if chosen:
                group.append((qi, chosen))
        if group:
            yield group


class LowerStates:
    """The frozen lower layers' token states of every question and candidate text, computed
    once (split variants: only the upper layers run while training and scoring)."""

    def __init__(self, model: ce.CrossEncoder, data: Data, questions: list[int], layout: ce.Layout,
                 device: str, batch: int = 128) -> None:
        self.data, self.device = data, device
        sp = data.specials
        q_keys = sorted({int(data.q["text"][qi]) for qi in questions})
        c_keys = sorted({self.key(j) for qi in questions for j in data.candidates(qi)})
        q_rows = {k: ce.question_ids(data.text(k), layout, sp["bos"], sp["eos"]) for k in q_keys}
        c_rows = {k: ce.candidate_ids(data.text(k[0]), data.text(k[1]), data.text(k[2]), layout,
                                      sp["bos"], sp["eos"], sp["sep"]) for k in c_keys}
        t0 = time.time()
        self.q = self._run(model, q_rows, batch)
        self.c = self._run(model, c_rows, batch)
        print(f"lower states of {len(self.q)} questions and {len(self.c)} candidates "
              f"({time.time() - t0:.0f} s)", flush=True)

    def key(self, j: int) -> tuple[int, int, int]:
        c = self.data.c
        return int(c["sentence"][j]), int(c["title"][j]), int(c["prev"][j])

    @torch.no_grad()
    def _run(self, model: ce.CrossEncoder, rows: dict, batch: int) -> dict:
        model.eval()
        keys = sorted(rows, key=lambda k: len(rows[k]))
        out = {}
        for i in range(0, len(keys), batch):
            part = keys[i:i + batch]
            ids, mask = ce.pad_batch([rows[k] for k in part], self.data.specials["pad"])
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.device.startswith("cuda")):
                states = model.lower(ids.to(self.device), mask.to(self.device)).float()
            for n, k in enumerate(part):
                out[k] = states[n, :len(rows[k])].clone()
        model.train()
        return out

    def parts(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate ``j``'s question states and its own."""
        return self.q[int(self.data.q["text"][int(self.data.c["question"][j])])], self.c[self.key(j)]

    def length(self, j: int) -> int:
        return sum(len(x) for x in self.parts(j))

    def pairs(self, cands: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Joined lower states (question's, then candidate's, no padding between: the upper
        layers add no positions), their mask and the candidate's tokens, one row per candidate."""
        qs, cs = zip(*(self.parts(j) for j in cands), strict=True)
        width = max(len(q) + len(c) for q, c in zip(qs, cs, strict=True))
        states = torch.zeros(len(cands), width, qs[0].shape[1], device=self.device)
        mask = torch.zeros(len(cands), width, dtype=torch.long, device=self.device)
        candidate = torch.zeros_like(mask)
        for n, (q, c) in enumerate(zip(qs, cs, strict=True)):
            states[n, :len(q)], states[n, len(q):len(q) + len(c)] = q, c
            mask[n, :len(q) + len(c)] = 1
            candidate[n, len(q):len(q) + len(c)] = 1
        return states, mask, candidate


def logits_of(model: ce.CrossEncoder, data: Data, cands: list[int], layout: ce.Layout, device: str,
              lower: LowerStates | None, micro: int = 32) -> torch.Tensor:
    """The model's logits for candidates ``cands``; split variants run the upper layers over
    the cached lower states, by pieces of similar length (less padding on CPU)."""
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        if lower is None:
            ids, mask = ce.pad_batch(data.inputs(cands, layout), data.specials["pad"])
            return model(ids.to(device), mask.to(device)).float()
        if device.startswith("cuda"):
            micro = len(cands)
        order = sorted(range(len(cands)), key=lambda n: lower.length(cands[n]))
        pieces = [model.upper(*lower.pairs([cands[n] for n in order[i:i + micro]])).float()
                  for i in range(0, len(order), micro)]
        return torch.cat(pieces)[torch.as_tensor(np.argsort(order), device=device)]


def loss_of(logits: torch.Tensor, labels: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Pointwise BCE over all pairs + listwise CE over each question that has a positive."""
    point = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    lists, start = [], 0
    for n in sizes:
        lg, lb = logits[start:start + n], labels[start:start + n]
        if lb.any():
            lists.append(torch.logsumexp(lg, 0) - torch.logsumexp(lg[lb > 0], 0))
        start += n
    return point + (torch.stack(lists).mean() if lists else 0.0 * point)


@torch.no_grad()
def score(model: ce.CrossEncoder, data: Data, questions: list[int], layout: ce.Layout, device: str,
          lower: LowerStates | None = None, batch: int = 256) -> dict[int, np.ndarray]:
    """Logits of every candidate of ``questions``."""
    model.eval()
    flat = [j for qi in questions for j in data.candidates(qi)]
    logits = np.zeros(len(flat), np.float32)
    for i in range(0, len(flat), batch):
        logits[i:i + batch] = logits_of(model, data, flat[i:i + batch], layout, device, lower).cpu().numpy()
    out: dict[int, np.ndarray] = {}
    pos = 0
    for qi in questions:
        n = len(data.candidates(qi))
        out[qi] = logits[pos:pos + n]
        pos += n
    model.train()
    return out


def read_as_reader(data: Data, qi: int, logits: np.ndarray, passages: int, candidates: int,
                   learned_weight: float) -> tuple[bool, float]:
    """What the reader would do for question ``qi``: (its best sentence answers, its probability)."""
    cands = np.array(list(data.candidates(qi)))
    keep = data.c["rank"][cands] < passages
    if not keep.any():
        return False, 0.0
    cands, lg = cands[keep], logits[keep]
    learned = np.clip(data.c["learned"][cands].astype(np.float64), 1e-6, 1 - 1e-6)
    if candidates:
        top = np.argsort(-learned)[:candidates]
        cands, lg, learned = cands[top], lg[top], learned[top]
    mixed = lg + learned_weight * np.log(learned / (1 - learned))
    best = int(np.argmax(mixed))
    return bool(data.c["label"][cands[best]]), 1.0 / (1.0 + math.exp(-float(mixed[best])))


def evaluate(data: Data, sets: dict[str, list[int]], logits: dict[int, np.ndarray], passages: int,
             candidates: int, learned_weight: float, threshold: float | None = None,
             max_false: float = 0.04) -> dict:
    """Per dev set: top-1 on answerable questions, false abstentions and near-miss abstention
    at ``threshold`` (chosen here over all sets when None)."""
    rows = {name: [(read_as_reader(data, qi, logits[qi], passages, candidates, learned_weight),
                    bool(data.q["answerable"][qi])) for qi in qs] for name, qs in sets.items()}
    if threshold is None:
        answerable_p = sorted(p for r in rows.values() for (_, p), a in r if a)
        threshold = answerable_p[int(max_false * len(answerable_p))] if answerable_p else 0.5
        threshold = float(np.nextafter(threshold, 0))
    out: dict = {"threshold": round(threshold, 5)}
    for name, r in rows.items():
        ans = [(hit, p) for (hit, p), a in r if a]
        unans = [p for (_, p), a in r if not a]
        out[name] = {"top1": round(float(np.mean([h for h, _ in ans])), 4) if ans else None,
                     "answer_accuracy": round(float(np.mean([h and p >= threshold for h, p in ans])), 4)
                     if ans else None,
                     "false_abstention": round(float(np.mean([p < threshold for _, p in ans])), 4) if ans else None,
                     "near_miss_abstention": round(float(np.mean([p < threshold for p in unans])), 4)
                     if unans else None,
                     "answerable": len(ans), "unanswerable": len(unans)}
    out["mean_top1"] = round(float(np.mean([v["top1"] for k, v in out.items()
                                             if isinstance(v, dict) and v["top1"] is not None])), 4)
    return out


def variant_name(layers: int, rank: int, split: int, head: str) -> str:
    return f"L{layers}r{rank}" + (f"s{split}" if split else "") + ("c" if head == "compare" else "")


def train_variant(data: Data, base: tuple[dict, dict[str, torch.Tensor]], layers: int, rank: int, split: int,
                  args: argparse.Namespace, log: dict) -> tuple[float, ce.CrossEncoder, dict, ce.AdapterConfig]:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = args.device
    config, state = base
    model = ce.CrossEncoder(ce.bert_from_state(config, state, layers), split, args.head)
    model.add_adapters(rank, 2.0 * rank)
    model.to(device).train()
    layout = ce.Layout()
    fit = [qi for name, qs in data.questions("fit").items() for qi in qs
           if not args.fit_sets or any(part in name for part in args.fit_sets.split(","))]
    dev = data.questions("dev")
    lower = LowerStates(model, data, fit + [qi for qs in dev.values() for qi in qs], layout, device) if split else None
    params = [p for p in model.parameters() if p.requires_grad]
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("head.")]
    rest = [p for p in params if all(p is not h for h in head)]
    opt = torch.optim.AdamW([{"params": rest, "lr": args.lr}, {"params": head, "lr": args.lr * 5}],
                            weight_decay=0.01)
    steps = args.epochs * math.ceil(len(fit) / args.questions_per_batch)
    warm = max(1, steps // 16)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    name = variant_name(layers, rank, split, args.head)
    best: tuple[float, dict | None, dict] = (-1.0, None, {})
    step, t0 = 0, time.time()
    for epoch in range(args.epochs):
        losses = []
        for group in batches(data, fit, args.questions_per_batch, args.negatives, args.hard_negatives, rng):
            cands = [j for _, js in group for j in js]
            labels = torch.tensor([float(data.c["label"][j]) for j in cands], device=device)
            logits = logits_of(model, data, cands, layout, device, lower)
            loss = loss_of(logits, labels, [len(js) for _, js in group])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            step += 1
            if step % args.log_every == 0:
                print(f"{name} epoch {epoch} step {step}/{steps} loss {np.mean(losses[-args.log_every:]):.4f} "
                      f"({time.time() - t0:.0f} s)", flush=True)
        dev_logits = score(model, data, [qi for qs in dev.values() for qi in qs], layout, device, lower)
        figures = evaluate(data, dev, dev_logits, 3, 0, 0.0)
        entry = {"variant": name, "epoch": epoch, "loss": round(float(np.mean(losses)), 4),
                 "seconds": round(time.time() - t0, 1), "dev": figures}
        log.setdefault("epochs", []).append(entry)
        print(json.dumps(entry), flush=True)
        if figures["mean_top1"] > best[0]:
            best = (figures["mean_top1"], {k: v.detach().clone() for k, v in model.trained_state().items()},
                    dev_logits)
    assert best[1] is not None, "no epoch was trained"  # the first epoch's figures beat -1.0
    model.load_state_dict(best[1], strict=False)
    adapter = ce.AdapterConfig(layers=layers, rank=rank, alpha=2.0 * rank, layout=layout, split=split,
                               head=args.head)
    return best[0], model, best[2], adapter


def choose(data: Data, logits: dict[int, np.ndarray], max_false: float, log: dict) -> dict:
    """The reading choices with the best mean dev top-1, then the threshold at that point."""
    dev = data.questions("dev")
    grid = []
    for passages in PASSAGES:
        for candidates in CANDIDATES:
            for weight in LEARNED_WEIGHTS:
                figures = evaluate(data, dev, logits, passages, candidates, weight, max_false=max_false)
                grid.append({"passages": passages, "candidates": candidates, "learned_weight": weight,
                             "dev": figures})
    log["choices"] = grid
    return max(grid, key=lambda g: (g["dev"]["mean_top1"], -g["passages"], -g["candidates"] or 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default="12:16",
                        help="LAYERS:RANK[@SPLIT],… (first layers kept, LoRA rank or 0 for whole layers, "
                             "layers reading question and candidate apart)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--questions-per-batch", type=int, default=16)
    parser.add_argument("--negatives", type=int, default=15, help="negatives sampled per question and step")
    parser.add_argument("--head", default="mean", choices=ce.HEADS, help="'compare' needs a split (@SPLIT)")
    parser.add_argument("--fit-sets", default="", help="fit only on sets whose name holds one of these (a,b,…)")
    parser.add_argument("--hard-negatives", type=float, default=0.0,
                        help="share of the negatives taken among the learned reader's most probable")
    parser.add_argument("--max-false-abstention", type=float, default=0.04)
    parser.add_argument("--limit", type=int, default=0, help="questions per set (smoke runs)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = Data(args.data, args.limit)
    base = load_base(args.data)
    log: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"), "args": vars(args) | {
        "data": str(args.data), "out": str(args.out)}, "sets": data.meta["sets"],
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"}
    results = []
    for spec in args.variants.split(","):
        shape, _, cut = spec.partition("@")
        layers, rank = (int(x) for x in shape.split(":"))
        split = int(cut or 0)
        top1, model, logits, adapter = train_variant(data, base, layers, rank, split, args, log)
        choice = choose(data, logits, args.max_false_abstention, log)
        adapter = replace(adapter, threshold=choice["dev"]["threshold"], passages=choice["passages"],
                          candidates=choice["candidates"], learned_weight=choice["learned_weight"])
        path = args.out / f"neural-{variant_name(layers, rank, split, args.head)}.safetensors"
        ce.save_adapter(model, adapter, path)
        results.append({"variant": spec, "path": path.name, "dev_top1_epoch": top1, "choice": choice})
        print(json.dumps(results[-1]), flush=True)
        (args.out / "train_log.json").write_text(json.dumps(log | {"results": results}, indent=1) + "\n")
    log["results"] = results
    log["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1) + "\n")


if __name__ == "__main__":
    main()
