"""BM25 saved with each index generation (``rag.store.bm25``): the scores ``rank_bm25`` gave,
a file with no pickle in it, counts carried over instead of tokenised again, and a
generation written before the file existed still answering.

Everything runs on the real corpus, the real model and real indexes.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

import rag.store.bm25
from rag import Pipeline
from rag.ingest.run import ingest
from rag.store.bm25 import BM25_FILE, TOKENIZER, BM25Index, TermCounts, tokenize
from rag.store.generations import current_generation
from rag.store.index_store import IndexStore
from rag.store.manifest import file_checksum

FRENCH = "Quand le traité New START a-t-il été prolongé ?"
ARRAYS = ("vocab", "indptr", "rows", "counts", "lengths")


def same_arrays(a: BM25Index, b: BM25Index) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ARRAYS)


def test_scores_are_rank_bm25s_to_the_bit(pipeline, questions):
    """The same formula in the same float64 operations: every question's scores over the
    real index equal rank_bm25's BM25Okapi, which newsrag used before."""
    store = pipeline.store
    reference = BM25Okapi([tokenize(c.text) for _, c in store.iter_chunks()])
    bm25 = store.bm25()
    assert bm25.n == len(store) == 26
    for q in questions:
        tokens = tokenize(q["q"])
        assert np.array_equal(bm25.scores(tokens), reference.get_scores(tokens)), q["q"]


def test_search_is_best_first_ties_by_row(pipeline):
    bm25 = pipeline.store.bm25()
    scores = bm25.scores(tokenize(FRENCH))
    hits = bm25.search(FRENCH, 5)
    expected = sorted(np.flatnonzero(scores > 0).tolist(), key=lambda r: (-scores[r], r))[:5]
    assert [row for row, _ in hits] == expected
    assert [s for _, s in hits] == [float(scores[r]) for r in expected]
    assert bm25.search("zzzzz qqqqq", 5) == [] and bm25.search(FRENCH, 0) == []


def test_the_file_is_checked_by_the_manifest_and_holds_no_pickle(pipeline):
    store = pipeline.store
    path = store.path / BM25_FILE
    assert store.manifest.checksums[BM25_FILE] == file_checksum(path)
    assert store.manifest.bm25_tokenizer == TOKENIZER and store.has_bm25_file
    with np.load(path, allow_pickle=False) as saved:
        assert all(saved[name].dtype != object for name in saved.files)


def test_a_file_holding_a_pickled_array_is_refused(tmp_path):
    path = tmp_path / BM25_FILE
    np.savez(path, vocab=np.array(["ab", {"x": 1}], dtype=object), indptr=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="allow_pickle"):
        BM25Index.load(path)


def test_save_and_load_give_the_same_index(pipeline, tmp_path):
    bm25 = pipeline.store.bm25()
    bm25.save(tmp_path / BM25_FILE)
    again = BM25Index.load(tmp_path / BM25_FILE)
    assert same_arrays(bm25, again) and again.tokenizer == TOKENIZER
    assert again.search(FRENCH, 10) == bm25.search(FRENCH, 10)


@pytest.mark.parametrize("spooled", [False, True])
def test_building_block_by_block_gives_the_term_by_row_matrix(pipeline, tmp_path, monkeypatch, spooled):
    """The builder transposes the counts a block at a time (blocks of 37 counts here, so a
    block ends mid-term and most terms span blocks): the arrays are the transposition
    scipy gives of the whole row-by-term matrix, and the index the ingest saved."""
    import scipy.sparse as sp

    texts = [c.text for _, c in pipeline.store.iter_chunks()]
    monkeypatch.setattr(rag.store.bm25, "BUILD_BLOCK", 37)
    builder = rag.store.bm25.BM25Builder(tmp_path if spooled else None)
    for start in range(0, len(texts), 5):
        builder.add(TermCounts.of_texts(texts[start:start + 5]))
    built = builder.build()
    assert same_arrays(built, pipeline.store.bm25())
    counts = TermCounts.of_texts(texts)
    vocab = sorted(set(counts.terms.tolist()))
    col = {t: i for i, t in enumerate(vocab)}
    matrix = sp.csr_matrix((counts.counts, [col[t] for t in counts.terms.tolist()], counts.offsets),
                           shape=(len(texts), len(vocab))).tocsc()
    assert built.vocab.tolist() == vocab
    assert np.array_equal(built.indptr, matrix.indptr) and np.array_equal(built.rows, matrix.indices)
    assert np.array_equal(built.counts, matrix.data)
    assert list(tmp_path.iterdir()) == []  # the spooled counts are removed


def test_counts_of_rows_are_their_texts_counts(pipeline):
    store = pipeline.store
    rows = [3, 0, 25, 7]
    got = store.bm25().counts_of(rows)
    want = TermCounts.of_texts(c.text for c in store.chunks(rows))
    assert np.array_equal(got.offsets, want.offsets)
    for i in range(len(rows)):
        a, b = slice(got.offsets[i], got.offsets[i + 1]), slice(want.offsets[i], want.offsets[i + 1])
        assert dict(zip(got.terms[a].tolist(), got.counts[a].tolist())) == \
            dict(zip(want.terms[b].tolist(), want.counts[b].tolist()))


def test_changing_one_article_tokenises_only_its_chunks(make_settings, embedder, corpus_copy, monkeypatch):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    edited = corpus_copy / "appel-poutine-biden-ukraine.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nLe Kremlin a confirmé l'appel mardi soir.\n",
                      encoding="utf-8")
    tokenised: list[str] = []
    real = rag.store.bm25.tokenize
    monkeypatch.setattr(rag.store.bm25, "tokenize", lambda text: tokenised.append(text) or real(text))
    report = ingest(settings, embedder)
    monkeypatch.undo()
    assert report.changed == [edited.name] and report.wrote_index
    store = IndexStore.load(settings.index_dir)
    try:
        changed = {c.text for c in store.chunks_of(edited.name)}
        assert tokenised and set(tokenised) <= changed and len(tokenised) == len(changed) < len(store)
        # the counts carried over and the new ones make the index a build from scratch makes
        assert same_arrays(store.bm25(), BM25Index.of_texts(c.text for _, c in store.iter_chunks()))
    finally:
        store.close()


def _make_old(index_dir) -> None:
    """Make the live generation look written before BM25 files: no file, no manifest entry."""
    gen = current_generation(index_dir)
    (gen / BM25_FILE).unlink()
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del manifest["checksums"][BM25_FILE], manifest["bm25_tokenizer"]
    (gen / "manifest.json").write_text(json.dumps(manifest))


def test_a_generation_without_bm25_file_answers_then_ingest_saves_it(make_settings, embedder, corpus_copy,
                                                                     caplog):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)

    def ask() -> tuple[list, str]:
        p = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
        try:
            return p.store.bm25().search(FRENCH, 10), p.ask(FRENCH).answer
        finally:
            p.close()

    expected = ask()
    _make_old(settings.index_dir)
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert ask() == expected
    said = [r.getMessage() for r in caplog.records if "BM25" in r.getMessage()]
    assert len(said) == 1 and "no BM25 file" in said[0] and "`rag ingest`" in said[0] and "\n" not in said[0]

    report = ingest(settings, embedder)  # nothing changed in the corpus, but the file was missing
    assert report.wrote_index and report.embedded == 0
    assert (current_generation(settings.index_dir) / BM25_FILE).is_file()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert ask() == expected
    assert not [r for r in caplog.records if "BM25" in r.getMessage()]
    assert not ingest(settings, embedder).wrote_index  # and now it is up to date


@pytest.mark.slow
def test_the_benchmark_measures_all_three_at_a_tiny_size():
    from benchmarks.bm25 import IMPLEMENTATIONS, measure

    rows = measure([600], IMPLEMENTATIONS, limit=300)
    assert [r["implementation"] for r in rows] == list(IMPLEMENTATIONS)
    for row in rows:
        assert "error" not in row, row
        assert row["passages"] == 600 and row["query_p50_ms"] > 0 and row["peak_rss_mib"] > 0
    ours = rows[0]
    assert ours["stored_counts"] > 600 and ours["file_mib"] > 0 and ours["update_one_s"] >= 0
