"""Many users at once: questions asked from several threads get exactly the answers the
same questions get one after the other (real models, real index), and the page's
admission rules (a bounded queue for a language model, corpus changes alone) hold."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from rag import Pipeline, Settings
from rag.errors import Cancelled
from rag.web.serving import INGEST_NICE, BusyError, Gate, Service

THREADS = 8


def _comparable(answer: Any) -> dict[str, Any]:
    data = answer.to_dict()
    data.pop("timings_ms", None)
    return data


@pytest.fixture(scope="module")
def asked(questions: list[dict[str, Any]]) -> list[str]:
    return [q["q"] for q in questions if not q.get("history")][:40]


def test_the_embedder_is_reentrant(embedder, asked: list[str]):
    one_by_one = [embedder.embed_query(q) for q in asked]
    with ThreadPoolExecutor(THREADS) as pool:
        at_once = list(pool.map(embedder.embed_query, asked * 2))
    assert all(np.array_equal(a, b) for a, b in zip(one_by_one * 2, at_once))


def test_threads_get_the_answers_of_sequential_asks(settings: Settings, embedder, ingest_report,
                                                     asked: list[str]):
    # a fresh pipeline: its BM25 index is read from its file by whichever thread needs it first
    fresh = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        barrier = threading.Barrier(THREADS)  # questions start THREADS at a time, together

        def ask(question: str) -> dict[str, Any]:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            return _comparable(fresh.ask(question))

        with ThreadPoolExecutor(THREADS) as pool:
            at_once = list(pool.map(ask, asked))
        one_by_one = [_comparable(fresh.ask(q)) for q in asked]
    finally:
        fresh.close()
    assert len(asked) % THREADS == 0 and at_once == one_by_one
    assert any(not a["abstained"] for a in at_once)


def test_gate_admits_its_limit_queues_the_next_and_refuses_beyond():
    gate = Gate(limit=1, queue=1, what="the llamacpp:model.gguf reader")
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        with gate.slot():
            order.append("first")
            inside.set()
            release.wait(10)

    def wait_turn() -> None:
        with gate.slot():
            order.append("second")

    first = threading.Thread(target=hold)
    first.start()
    inside.wait(10)
    second = threading.Thread(target=wait_turn)
    second.start()
    while gate.admitted < 2:  # the second one is waiting in the queue
        time.sleep(0.01)
    with pytest.raises(BusyError, match=r"llamacpp:model\.gguf reader is busy: it answers one question at a time and one more is waiting\. Please try again"), gate.slot():
        pass
    release.set()
    first.join(10)
    second.join(10)
    assert order == ["first", "second"] and gate.admitted == 0
    with gate.slot():  # free again
        pass


def test_service_refuses_a_busy_language_model_but_not_the_offline_readers(pipeline: Pipeline):
    service = Service(generative_queue=0)

    class Streaming:
        name = "llamacpp:model.gguf"
        streams = True

    with service.answering(Streaming()):
        with pytest.raises(BusyError, match="busy"), service.answering(Streaming()):
            pass
        with service.answering(pipeline.reader):  # learned: never queued behind the model
            assert pipeline.ask("When was New START extended?").citations


def test_a_corpus_change_runs_at_a_lower_priority_and_only_its_session_cancels_it():
    service = Service(generative_queue=0)
    started, priority = threading.Event(), []

    def work(progress) -> str:
        priority.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        started.set()
        for n in range(1000):
            progress(n, 1000, "embedding")
            time.sleep(0.01)
        return "done"

    job = service.start("session-a", work, "test-job")
    assert started.wait(10)
    assert priority[0] >= INGEST_NICE  # the questions' threads get the cores first
    assert not service.cancel("session-b")  # another session's button reaches nothing
    assert service.cancel("session-a")
    polled: list[tuple[int, int, str]] = []
    with pytest.raises(Cancelled):
        job.wait(poll=lambda *state: polled.append(state), every=0.01)
    assert polled and polled[-1][2] == "embedding"
    assert not service.cancel("session-a")  # ended: nothing left to cancel

    quick = service.start("session-a", lambda progress: (progress(1, 1, "done"), "ok")[1], "test-job")
    assert quick.wait() == "ok" and quick.state == (1, 1, "done")

    # pages fetched from the web are kept once stored: their job cannot be cancelled
    release = threading.Event()
    kept = service.start("session-a", lambda progress: (release.wait(10), progress(1, 1, "fetched"), "kept")[2],
                         "test-job", cancellable=False)
    assert not service.cancel("session-a")
    release.set()
    assert kept.wait() == "kept" and kept.state == (1, 1, "fetched")
