"""Faults an operator meets: damaged index files, two writers, leftovers of killed
ingests, duplicate articles, a server whose index is rebuilt under it.

Every damaged file of an index is reported by name with the command that repairs it,
and that command (``rag ingest --rebuild``; a plain ``rag ingest`` too) repairs it.
Everything runs on copies of the real corpus and index with the real model.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, clean_env

from benchmarks.upload_latency import one_line_article
from rag import Pipeline
from rag.errors import Cancelled, IndexBusyError, IndexCorruptError, IndexMissingError
from rag.ingest.embed import embedding_text
from rag.ingest.run import ingest
from rag.store.embedding_cache import CACHE, EmbeddingCache
from rag.store.generations import current_generation, read_manifest
from rag.store.index_store import IndexStore
from rag.store.lock import index_lock
from rag.web.chatview import upload_articles
from rag.web.serving import Job

QUESTION = "When was New START extended?"
FIX = "rag ingest --rebuild"


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("gen-"))


def load(settings, embedder) -> Pipeline:
    return Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)


def answer_of(settings, embedder) -> str:
    p = load(settings, embedder)
    try:
        return p.ask(QUESTION).answer
    finally:
        p.close()


@pytest.fixture
def built(make_settings, embedder, corpus_copy):
    """Settings of a freshly built index of a corpus copy, and its answer to QUESTION."""
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    return settings, answer_of(settings, embedder)


# --------------------------------------------------------------------------- damage


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _corrupt(path: Path) -> None:
    """Garbage over the middle of the file, its size unchanged (a torn write, bit rot)."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    for i in range(start, min(len(data), start + 4096)):
        data[i] = (data[i] * 7 + 13) % 256 ^ 0x5A
    path.write_bytes(bytes(data))


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xff\xfe garbage \x13\x37" * 3)


def _delete(path: Path) -> None:
    path.unlink()


DAMAGE = {"truncate": _truncate, "corrupt": _corrupt, "garbage": _garbage, "delete": _delete}


def _target(index_dir: Path, name: str) -> Path:
    return index_dir / name if name in ("CURRENT", CACHE) else current_generation(index_dir) / name


# file, damage, what loading the index says (a substring; None: the index still loads)
FAULTS = [
    ("CURRENT", "truncate", "CURRENT is damaged"),
    ("CURRENT", "garbage", "CURRENT is damaged"),
    ("CURRENT", "delete", "No index"),
    ("manifest.json", "truncate", "manifest.json is damaged"),
    ("manifest.json", "garbage", "manifest.json is damaged"),
    ("manifest.json", "delete", "manifest.json is missing"),
    ("store.sqlite", "truncate", "store.sqlite has"),
    ("store.sqlite", "corrupt", "store.sqlite is damaged"),
    ("store.sqlite", "garbage", "store.sqlite has"),
    ("store.sqlite", "delete", "store.sqlite is missing"),
    ("vectors.faiss", "truncate", "vectors.faiss has"),
    ("vectors.faiss", "corrupt", "vectors.faiss is damaged"),
    ("vectors.faiss", "garbage", "vectors.faiss has"),
    ("vectors.faiss", "delete", "vectors.faiss is missing"),
    ("bm25.npz", "truncate", "bm25.npz has"),
    ("bm25.npz", "corrupt", "bm25.npz is damaged"),
    ("bm25.npz", "garbage", "bm25.npz has"),
    ("bm25.npz", "delete", "bm25.npz is missing"),
]
# the embedding cache is only a shortcut: damaged, it costs the model time of a rebuild
CACHE_FAULTS = [(CACHE, kind, None) for kind in ("truncate", "corrupt", "garbage", "delete")]


@pytest.mark.parametrize(("name", "damage", "message"), FAULTS + [
    pytest.param(*row, marks=pytest.mark.slow) for row in CACHE_FAULTS])
def test_damaged_file_is_named_and_the_rebuild_repairs_it(built, embedder, name, damage, message):
    settings, expected = built
    target = _target(settings.index_dir, name)
    DAMAGE[damage](target)

    if message is None:
        assert answer_of(settings, embedder) == expected  # answering never reads the cache
    else:
        with pytest.raises((IndexCorruptError, IndexMissingError)) as info:
            load(settings, embedder)
        text = str(info.value)
        assert message in text
        assert (FIX if name != "CURRENT" or damage != "delete" else "rag ingest") in text
        if name != "CURRENT":
            assert str(target) in text  # the broken file, by its path

    report = ingest(settings, embedder, rebuild=True)
    assert report.wrote_index
    assert answer_of(settings, embedder) == expected
    assert len(generations(settings.index_dir)) == 1
    if name == CACHE:  # a new, readable cache holding exactly the live texts again
        cache = EmbeddingCache(settings.index_dir / CACHE)
        try:
            assert len(cache) == report.embedded > 0
        finally:
            cache.close()


@pytest.mark.parametrize(("name", "damage"), [("CURRENT", "garbage"), ("manifest.json", "truncate"),
                                              ("store.sqlite", "corrupt"), ("vectors.faiss", "delete"),
                                              ("bm25.npz", "corrupt")])
def test_plain_ingest_rebuilds_a_damaged_index(built, embedder, name, damage, caplog):
    settings, expected = built
    DAMAGE[damage](_target(settings.index_dir, name))
    with caplog.at_level("WARNING", logger="rag"):
        report = ingest(settings, embedder)
    assert report.wrote_index and report.embedded == 0  # the cache still holds every vector
    assert any(name in r.getMessage() and "Rebuilding" in r.getMessage() for r in caplog.records)
    assert answer_of(settings, embedder) == expected
    assert len(generations(settings.index_dir)) == 1


def test_manifest_records_sizes_and_checksums(built):
    settings, _ = built
    store = IndexStore.load(settings.index_dir)
    try:
        for name in ("store.sqlite", "vectors.faiss", "bm25.npz"):
            got = store.manifest.checksums[name]
            assert got["bytes"] == (store.path / name).stat().st_size
            assert len(got["sha256"]) == 64
    finally:
        store.close()


def test_current_never_names_a_path_outside_the_index(built, embedder):
    settings, _ = built
    (settings.index_dir / "CURRENT").write_text("../../etc\n")
    with pytest.raises(IndexCorruptError, match="CURRENT is damaged"):
        load(settings, embedder)


@pytest.mark.slow
def test_cli_names_the_damage_and_the_rebuild_repairs_it(built):
    settings, expected = built
    _corrupt(_target(settings.index_dir, "store.sqlite"))
    env = clean_env(OMP_NUM_THREADS="1")

    def rag(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag.cli", *args, "--corpus", str(settings.corpus_dir),
                               "--index", str(settings.index_dir)], capture_output=True, text=True,
                              timeout=600, cwd=REPO_ROOT, env=env)

    broken = rag("ask", QUESTION)
    assert broken.returncode == 2, broken.stderr
    assert "store.sqlite is damaged" in broken.stderr and FIX in broken.stderr
    assert "Traceback" not in broken.stderr and "unexpected" not in broken.stderr
    fixed = rag("ingest", "--rebuild")
    assert fixed.returncode == 0, fixed.stderr
    again = rag("ask", QUESTION)
    assert again.returncode == 0 and again.stdout.startswith(expected), again.stderr


# --------------------------------------------------------------------------- one writer


def test_second_writer_waits_or_refuses(built, embedder):
    settings, _ = built
    waited: list[str] = []
    done = threading.Event()
    with index_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="Another ingest .*--no-wait"):
            ingest(settings, embedder, wait=False)
        worker = threading.Thread(target=lambda: (ingest(settings, embedder, on_wait=waited.append), done.set()))
        worker.start()
        time.sleep(1.0)
        assert not done.is_set()  # it waits for the lock...
        assert waited and "Waiting for it to finish" in waited[0] and f"process {os.getpid()}" in waited[0]
    worker.join(timeout=120)
    assert done.is_set()  # ...and runs once the other writer is done


@pytest.mark.slow
def test_cli_no_wait_refuses_while_another_ingest_runs(built):
    settings, _ = built
    with index_lock(settings.index_dir):
        proc = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--no-wait", "--corpus",
                               str(settings.corpus_dir), "--index", str(settings.index_dir)],
                              capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, env=clean_env())
    assert proc.returncode == 2
    assert "Another ingest" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- leftovers, cache


def test_unchanged_ingest_still_sweeps_what_a_killed_ingest_left(built, embedder):
    settings, _ = built
    live = generations(settings.index_dir)
    (settings.index_dir / "gen-20200101-000000-abcdef").mkdir()  # an old generation, never swept
    (settings.index_dir / ".tmp-gen-20200101-000000-abcdef").mkdir()
    (settings.index_dir / ".CURRENT.abcdef").write_text("gen-20200101-000000-abcdef\n")
    (settings.index_dir / ".tmp-plan-abcdef.sqlite").write_bytes(b"")  # a killed ingest's article spool
    report = ingest(settings, embedder)
    assert not report.wrote_index
    assert generations(settings.index_dir) == live
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith((".tmp-", ".CURRENT."))]


def _live_texts(store: IndexStore, settings) -> set[str]:
    texts = set()
    for _, chunk in store.iter_chunks():
        doc = store.document(chunk.doc_id)
        texts.add(embedding_text(chunk, doc, settings.embed_title))
    for row, (spans, _) in store.sentences(list(range(len(store)))).items():
        doc = store.document(store.chunks([row])[0].doc_id)
        texts.update(doc.text[a:b] for a, b in spans)
    return texts


def test_cache_keeps_only_what_the_live_index_uses(built, embedder):
    settings, _ = built
    (settings.corpus_dir / "appel-poutine-biden-ukraine.txt").unlink()
    report = ingest(settings, embedder)
    assert report.removed == ["appel-poutine-biden-ukraine.txt"] and report.pruned > 0
    store = IndexStore.load(settings.index_dir)
    cache = EmbeddingCache(settings.index_dir / CACHE)
    try:
        assert len(cache) == len(_live_texts(store, settings))
    finally:
        cache.close()
        store.close()


# --------------------------------------------------------------------------- duplicates


def test_duplicate_article_is_indexed_once_and_named(built, embedder, caplog):
    settings, _ = built
    original = "peskov-dialogue-new-start.txt"
    (settings.corpus_dir / "zz-copy.txt").write_bytes((settings.corpus_dir / original).read_bytes())
    with caplog.at_level("WARNING", logger="rag"):
        report = ingest(settings, embedder)
    assert report.duplicates == {"zz-copy.txt": original}
    assert any("zz-copy.txt" in r.getMessage() and original in r.getMessage() for r in caplog.records)
    p = load(settings, embedder)
    try:
        assert [d.source for d, _ in p.library.articles()].count(original) == 1
        assert "zz-copy.txt" not in {d.source for d, _ in p.library.articles()}
        sources = [c.source for c in p.ask(QUESTION, k=5).citations]
        assert "zz-copy.txt" not in sources
    finally:
        p.close()

    again = ingest(settings, embedder)  # unchanged: not read again, still reported
    assert not again.wrote_index and again.duplicates == {"zz-copy.txt": original}
    assert "1 duplicate" in again.summary()

    (settings.corpus_dir / original).unlink()  # the copy takes its place
    last = ingest(settings, embedder)
    assert last.wrote_index and last.duplicates == {} and "zz-copy.txt" in last.added


# --------------------------------------------------------------------------- a server follows its index


NEW_ARTICLE = """# Sommet arctique à Reykjavik

Les ministres de dix pays se sont réunis le 3 mars 2023 à Reykjavik pour discuter de la fonte des glaces arctiques et de la navigation dans le Grand Nord, a indiqué le communiqué final.

Selon le communiqué, les participants ont convenu de créer un observatoire commun des glaces, financé à parts égales, qui ouvrira ses portes en 2025 à Tromsø.
"""


def test_running_pipeline_answers_from_a_new_index_at_the_next_question(built, embedder):
    settings, _ = built
    server = load(settings, embedder)  # a running page's pipeline
    try:
        question = "Where will the joint ice observatory open?"
        before = server.ask(question)
        assert not any(c.source == "arctique.txt" for c in before.citations)
        in_flight = server.stream(QUESTION)
        first = next(in_flight)

        (settings.corpus_dir / "arctique.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        other = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
        other.library.ingest()  # another process's ingest: the server's generation folder is deleted
        other.close()

        rest = list(in_flight)  # the question in flight finishes on the generation it started with
        final = rest[-1] if rest else first
        assert not final.abstained and final.citations
        after = server.ask(question)
        assert any(c.source == "arctique.txt" for c in after.citations), after.answer
        assert "Tromsø" in after.answer or "2025" in after.answer
        assert "arctique.txt" in {d.source for d, _ in server.library.articles()}
    finally:
        server.close()


def test_pinned_pipeline_stays_on_its_generation(built, embedder):
    settings, _ = built
    server = load(settings, embedder)
    try:
        pinned = server.pinned()
        (settings.corpus_dir / "arctique.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        ingest(settings, embedder)
        assert "arctique.txt" not in {d.source for d, _ in pinned.store.articles()}
        assert "arctique.txt" in {d.source for d, _ in server.library.articles()}
    finally:
        server.close()


def test_damaged_new_generation_keeps_the_loaded_one_answering(built, embedder):
    settings, expected = built
    server = load(settings, embedder)
    try:
        (settings.corpus_dir / "arctique.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        ingest(settings, embedder)
        _corrupt(_target(settings.index_dir, "vectors.faiss"))
        assert server.ask(QUESTION).answer == expected  # still the old, loaded generation
    finally:
        server.close()


# --------------------------------------------------------------------------- SIGKILL


def _snapshot(settings) -> dict:
    store = IndexStore.load(settings.index_dir)
    try:
        chunks = [(c.chunk_id, c.doc_id, c.start, c.end, c.text) for _, c in store.iter_chunks()]
        docs = [(d.source, d.sha256, d.text) for d in store.documents()]
        vectors = store.index.reconstruct_n(0, len(store))
        return {"chunks": chunks, "docs": docs, "vectors": vectors, "files": store.manifest.files}
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_the_index(built, embedder, make_settings):
    """Ten kills at random moments of real `rag ingest` runs (each after an edit, so each
    run has work to do): the live index always loads and answers, and the next complete
    ingest equals a rebuild from scratch."""
    settings, _ = built
    env = clean_env(OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "rag.cli", "ingest", "--corpus", str(settings.corpus_dir),
               "--index", str(settings.index_dir)]
    rng = random.Random(20261126)
    article = settings.corpus_dir / "arctique.txt"

    def edit(n: int) -> None:
        article.write_text(NEW_ARTICLE + f"\nParagraphe ajouté numéro {n} : la réunion suivante aura lieu "
                           f"le {n + 1} avril 2024 à Oslo, selon le communiqué numéro {n * 37}.\n",
                           encoding="utf-8")

    edit(0)
    t0 = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, env=env, check=True)
    full = time.perf_counter() - t0  # how long one run takes here, now

    kills = 0
    for n in range(1, 11):
        edit(n)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=REPO_ROOT, env=env)
        time.sleep(rng.uniform(0.05, full))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        answer = answer_of(settings, embedder)  # whichever generation is live answers
        assert answer and "New START" in answer or "New Start" in answer, answer
    assert kills >= 5, f"only {kills} of 10 runs were still running when killed"

    ingest(settings, embedder)
    resumed = _snapshot(settings)
    scratch = make_settings(corpus_dir=settings.corpus_dir)
    ingest(scratch, embedder, rebuild=True)
    rebuilt = _snapshot(scratch)
    assert resumed["chunks"] == rebuilt["chunks"] and resumed["docs"] == rebuilt["docs"]
    assert resumed["files"] == rebuilt["files"]
    assert np.allclose(resumed["vectors"], rebuilt["vectors"], atol=1e-6)
    assert len(generations(settings.index_dir)) == 1
    assert sqlite3.connect(settings.index_dir / CACHE).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --------------------------------------------------------------------------- read-only index


def _read_only_prefix(folder: Path) -> list[str]:
    """A command prefix running what follows with ``folder`` read-only: a read-only bind
    mount in a user namespace of its own (root writes through permissions), or, for
    another user, the folder's permissions (restored by the caller)."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is not None and probe.returncode == 0:
        script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" "{folder}" && exec "$@"'
        return ["unshare", "-rm", "sh", "-c", script, "sh"]
    if os.geteuid() == 0:
        pytest.skip("no user namespaces, and root writes through permissions")
    folder.chmod(0o555)
    return []


@pytest.mark.slow
def test_read_only_index_folder_is_named_with_exit_2(built):
    settings, expected = built
    prefix = _read_only_prefix(settings.index_dir)
    try:
        def rag(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*prefix, sys.executable, "-m", "rag.cli", *args, "--corpus",
                                   str(settings.corpus_dir), "--index", str(settings.index_dir)],
                                  capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                                  env=clean_env(OMP_NUM_THREADS="1"))

        (settings.corpus_dir / "arctique.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        out = rag("ingest")
        assert out.returncode == 2, out.stderr
        assert f"The index folder {settings.index_dir} is not writable" in out.stderr
        assert "unexpected" not in out.stderr and "Traceback" not in out.stderr
        asked = rag("ask", QUESTION)  # a read-only index still answers
        assert asked.returncode == 0 and asked.stdout.startswith(expected), asked.stderr
    finally:
        settings.index_dir.chmod(0o755)


# --------------------------------------------------------------------------- uploads: never freeze, cancel, kill


def _indexed(index_dir: Path) -> dict[str, str]:
    """The files the live generation of ``index_dir`` holds."""
    manifest = read_manifest(index_dir)
    return manifest.files if manifest is not None else {}


def _upload_job(server: Pipeline, path: Path, on_step=None) -> Job:
    """The page's upload of ``path`` as a :class:`Job` (``on_step(done, total, what)`` sees
    its progress first)."""
    def work(progress):
        def step(done: int, total: int, what: str) -> None:
            if on_step is not None:
                on_step(done, total, what)
            progress(done, total, what)
        return upload_articles(server, [path], [path.name], progress=step)
    job = Job(work, "upload")
    job.start()
    return job


def test_a_cancelled_upload_leaves_corpus_and_index_as_they_were(built, embedder, tmp_path):
    settings, expected = built
    server = load(settings, embedder)
    try:
        live, files = generations(settings.index_dir), sorted(os.listdir(settings.corpus_dir))
        path = tmp_path / "rapport.txt"
        path.write_text(one_line_article(8), encoding="utf-8")  # ~30 texts: batches to stop between
        embedding = threading.Event()
        job = _upload_job(server, path, lambda done, total, what: what == "embedding" and embedding.set())
        assert embedding.wait(120)
        job.cancel()
        with pytest.raises(Cancelled):
            job.wait()
        assert generations(settings.index_dir) == live
        assert sorted(os.listdir(settings.corpus_dir)) == files  # the upload's copy went again
        assert not [p for p in settings.index_dir.iterdir() if p.name.startswith(".tmp-")]
        assert server.ask(QUESTION).answer == expected and server.library.drift().new == []
    finally:
        server.close()


def test_questions_are_answered_from_the_live_generation_while_an_upload_ingests(built, embedder, tmp_path):
    settings, expected = built
    server = load(settings, embedder)
    try:
        path = tmp_path / "rapport.txt"
        path.write_text(one_line_article(8), encoding="utf-8")
        job = _upload_job(server, path)
        during = []
        while not job.done:
            t0 = time.perf_counter()
            answer = server.ask(QUESTION)
            during.append((time.perf_counter() - t0, job.done, answer.answer))
            time.sleep(0.2)  # a reader's pause: the ingest, at a lower priority, gets the CPU too
        result = job.wait()
        assert result.added == ["rapport.txt"]
        answered_meanwhile = [took for took, done, _ in during if not done]
        assert len(answered_meanwhile) >= 3, during  # never held until the ingest is done
        assert all(text == expected for _, _, text in during)
        assert "rapport.txt" in {d.source for d, _ in server.library.articles()}
    finally:
        server.close()


def test_files_an_interrupted_upload_left_are_noticed_and_indexed_at_start(built, embedder):
    settings, _ = built
    (settings.corpus_dir / "arctique.txt").write_text(NEW_ARTICLE, encoding="utf-8")  # copied, never indexed
    (settings.corpus_dir / "peskov-dialogue-new-start.txt").unlink()  # removed, still indexed
    server = load(settings, embedder)
    try:
        drift = server.library.drift()
        assert drift.new == ["arctique.txt"] and drift.gone == ["peskov-dialogue-new-start.txt"]
        from rag.web.page import build_app

        build_app(server)  # a page starting: indexes them in the background
        deadline = time.monotonic() + 300
        while server.library.drift() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not server.library.drift()
        assert "arctique.txt" in {d.source for d, _ in server.library.articles()}
    finally:
        server.close()


@pytest.mark.slow
def test_kill_during_an_upload_then_restart_indexes_what_it_left(built):
    """An upload's file is in the corpus folder and its ingest is killed (-9) mid-way:
    `rag ask` says so at start, and a restarted server lists it as pending and indexes it
    in the background."""
    from benchmarks.load import served

    settings, _ = built
    env = clean_env(OMP_NUM_THREADS="1")
    (settings.corpus_dir / "rapport.txt").write_text(one_line_article(30), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", "--corpus", str(settings.corpus_dir),
                             "--index", str(settings.index_dir)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO_ROOT, env=env)
    deadline = time.monotonic() + 300
    while not any(p.name.startswith(".tmp-gen-") for p in settings.index_dir.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the ingest ended before it was killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert "rapport.txt" not in IndexStore.load(settings.index_dir).manifest.files

    asked = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--corpus", str(settings.corpus_dir),
                            "--index", str(settings.index_dir)], capture_output=True, text=True, timeout=600,
                           cwd=REPO_ROOT, env=env)
    assert asked.returncode == 0, asked.stderr
    assert "1 file of the corpus folder is not in the index (rapport.txt)" in asked.stderr

    with served(settings, "learned", env, REPO_ROOT, lambda _: None) as (url, _):
        with urllib.request.urlopen(f"{url}/config", timeout=30) as response:
            assert "**Pending:** rapport.txt" in response.read().decode("utf-8")  # the Corpus tab says so
        while "rapport.txt" not in _indexed(settings.index_dir):
            assert time.monotonic() < deadline + 600, "the server did not index the pending file"
            time.sleep(1)


@pytest.mark.slow
def test_a_long_one_line_upload_does_not_hold_questions_back(built, tmp_path):
    """A real server on 127.0.0.1: one client asks while another uploads a long line with
    no full stop; the questions' p95 during the upload stays within their usual p95 plus
    a second (the switch, and a shared machine's noise), where it used to wait for the
    whole ingest."""
    from benchmarks.load import served
    from benchmarks.upload_latency import measure

    settings, _ = built
    article = tmp_path / "rapport-une-ligne.txt"
    article.write_text(one_line_article(30), encoding="utf-8")
    questions = [QUESTION, "Who is the Kremlin spokesman?", "Quand a eu lieu le sommet de Genève ?"]
    with served(settings, "learned", clean_env(OMP_NUM_THREADS="1"), REPO_ROOT, lambda _: None) as (url, _):
        result = measure(url, questions, article)
    alone, during = result["alone"], result["during_upload"]
    assert "**Added:** rapport\\-une\\-ligne.txt" in result["upload_status"], result
    assert during["n"] >= 3, result
    assert during["p95_ms"] <= alone["p95_ms"] + 1000, result


@pytest.mark.slow
def test_an_upload_is_cancelled_from_its_page(built, tmp_path):
    """The page's Cancel button, pressed in the uploading session while the upload's
    ingest writes its generation: the upload says it was cancelled, and the corpus and
    the index are as they were."""
    from benchmarks.load import served
    from benchmarks.upload_latency import PageSession, uploaded
    from rag.web.chatview import UPLOAD_CANCELLED

    settings, _ = built
    files, indexed = sorted(os.listdir(settings.corpus_dir)), _indexed(settings.index_dir)
    article = tmp_path / "rapport.txt"
    article.write_text(one_line_article(60), encoding="utf-8")
    with served(settings, "learned", clean_env(OMP_NUM_THREADS="1"), REPO_ROOT, lambda _: None) as (url, _):
        page = PageSession(url)
        upload = page.start("add", [[uploaded(url, article)], []])
        deadline = time.monotonic() + 300
        while not any(p.name.startswith(".tmp-gen-") for p in settings.index_dir.iterdir()):
            assert time.monotonic() < deadline, "the upload's ingest never started writing"
            time.sleep(0.05)
        cancel = page.run("cancel_upload", [])
        assert "Cancelling the upload" in cancel["output"]["data"][0], cancel
        assert page.wait(upload)["output"]["data"][0] == UPLOAD_CANCELLED
    assert sorted(os.listdir(settings.corpus_dir)) == files and _indexed(settings.index_dir) == indexed
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith(".tmp-")]
