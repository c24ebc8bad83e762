"""Chunking of the real articles: exact offsets, sizes, merged short tails, stable ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag import Settings
from rag.ingest.chunking import chunk_document, default_splitter
from rag.types import Document

DEFAULTS = Settings()


def chunks_of(doc: Document, size: int = DEFAULTS.chunk_size, overlap: int = DEFAULTS.chunk_overlap,
              min_chars: int = DEFAULTS.min_chunk_chars):
    return chunk_document(doc, default_splitter(size, overlap), min_chars)


@pytest.fixture(scope="module")
def all_chunks(corpus_docs):
    return {doc_id: chunks_of(doc) for doc_id, doc in corpus_docs.items()}


def test_every_chunk_is_an_exact_slice_of_its_document(corpus_docs, all_chunks):
    for doc_id, chunks in all_chunks.items():
        text = corpus_docs[doc_id].text
        assert len(chunks) >= 2
        for c in chunks:
            assert c.doc_id == doc_id
            assert 0 <= c.start < c.end <= len(text)
            assert text[c.start:c.end] == c.text
            assert c.text == c.text.strip()


def test_chunks_are_in_text_order_and_cover_the_whole_article(corpus_docs, all_chunks):
    for doc_id, chunks in all_chunks.items():
        text = corpus_docs[doc_id].text
        starts = [c.start for c in chunks]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        covered = [False] * len(text)
        for c in chunks:
            covered[c.start:c.end] = [True] * (c.end - c.start)
        lost = "".join(ch for ch, cov in zip(text, covered) if not cov and not ch.isspace())
        assert lost == "", f"{doc_id}: text in no chunk: {lost[:80]!r}"


def test_chunk_sizes_are_within_bounds(all_chunks):
    size, min_chars = DEFAULTS.chunk_size, DEFAULTS.min_chunk_chars
    for doc_id, chunks in all_chunks.items():
        *body, last = chunks
        for c in body:
            assert len(c.text) <= size, f"{doc_id}: chunk of {len(c.text)} chars > {size}"
        # the last chunk may have absorbed a short closing paragraph
        assert len(last.text) <= size + min_chars, f"{doc_id}: tail chunk of {len(last.text)} chars"


def test_no_chunk_is_shorter_than_min_chunk_chars(all_chunks):
    for doc_id, chunks in all_chunks.items():
        for c in chunks:
            assert len(c.text) >= DEFAULTS.min_chunk_chars, f"{doc_id}: {len(c.text)}-char chunk {c.text[:60]!r}"


def test_a_document_shorter_than_min_chunk_chars_is_one_chunk():
    doc = Document("court", "court.txt", "Titre court\n\nUne seule phrase brève.\n\nEt une autre.")
    (chunk,) = chunks_of(doc)
    assert (chunk.start, chunk.end) == (0, len(doc.text)) and chunk.text == doc.text


def test_closing_short_paragraph_is_not_its_own_chunk(corpus_docs, all_chunks):
    checked = 0
    for doc_id, chunks in all_chunks.items():
        text = corpus_docs[doc_id].text
        closing = text.rsplit("\n\n", 1)[1]
        if len(closing) >= DEFAULTS.min_chunk_chars:
            continue
        checked += 1
        closing_start = len(text) - len(closing)
        assert all(c.text != closing for c in chunks), doc_id
        assert chunks[-1].end == len(text)
        assert chunks[-1].start < closing_start, f"{doc_id}: closing paragraph alone in a chunk"
    # the New START and RT articles end on a paragraph of about 200 characters
    assert checked >= 2


def test_short_heading_is_not_its_own_chunk(corpus_docs, all_chunks):
    heading = "La prorogation du traité New START"
    text = corpus_docs["peskov-dialogue-new-start.txt"].text
    assert f"\n\n{heading}\n\n" in text
    holding = [c for c in all_chunks["peskov-dialogue-new-start.txt"] if heading in c.text]
    assert holding and all(len(c.text) > len(heading) + 100 for c in holding)


def test_chunk_ids_are_deterministic_and_unique(corpus_docs, all_chunks):
    again = {doc_id: chunks_of(doc) for doc_id, doc in corpus_docs.items()}
    assert again == all_chunks
    ids = [c.chunk_id for chunks in all_chunks.values() for c in chunks]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)


@pytest.mark.slow
def test_chunk_ids_are_the_same_in_another_process(corpus_dir, all_chunks):
    """Ids must not depend on the process (hash seeds, dict order): they key the cache."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from rag.ingest.corpus import load_corpus\n"
        "from rag.ingest.chunking import chunk_documents, default_splitter\n"
        "docs, _ = load_corpus(Path(sys.argv[1]))\n"
        "print(json.dumps(sorted(c.chunk_id for c in chunk_documents(docs, default_splitter("
        f"{DEFAULTS.chunk_size}, {DEFAULTS.chunk_overlap}), {DEFAULTS.min_chunk_chars}))))\n")
    out = subprocess.run([sys.executable, "-c", script, str(corpus_dir)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == sorted(c.chunk_id for chunks in all_chunks.values() for c in chunks)


def test_same_text_in_one_article_gets_distinct_ids():
    repeated = "Le même paragraphe revient deux fois dans cet article, mot pour mot, sans changement. " * 2
    middle = "Un paragraphe différent se trouve au milieu, assez long pour former un morceau à lui seul. " * 2
    doc = Document("dup", "dup.txt", "\n\n".join([repeated.strip(), middle.strip(), repeated.strip()]))
    chunks = chunk_document(doc, default_splitter(250, 0), min_chars=50)
    assert [c.text for c in chunks] == [repeated.strip(), middle.strip(), repeated.strip()]
    assert len({c.chunk_id for c in chunks}) == 3
    assert chunk_document(doc, default_splitter(250, 0), min_chars=50) == chunks  # still stable


def test_the_session_index_holds_exactly_these_chunks(pipeline, all_chunks):
    stored = {doc_id: pipeline.store.chunks_of(doc_id) for doc_id in all_chunks}
    assert stored == all_chunks


def test_paragraph_longer_than_chunk_size_is_split_at_sentences():
    sentence = "Le porte-parole du Kremlin a commenté la prorogation du traité New START. "
    doc = Document("long", "long.txt", (sentence * 20).strip())  # one 1,500-char paragraph
    chunks = chunks_of(doc)
    assert len(chunks) >= 2
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert c.text.endswith(".")


@pytest.mark.parametrize("text", ["Une phrase. Une autre phrase.", "Moscou, Washington"])
def test_one_paragraph_document_is_one_chunk(text):
    (chunk,) = chunks_of(Document("breve", "breve.txt", text))
    assert chunk.text == text


def test_real_articles_with_a_smaller_chunk_size(corpus_docs):
    for doc in corpus_docs.values():
        chunks = chunks_of(doc, size=300, overlap=50, min_chars=100)
        assert all(doc.text[c.start:c.end] == c.text for c in chunks)
        # at most chunk_size, plus a short piece merged on each side
        assert all(len(c.text) <= 300 + 2 * 100 for c in chunks)
        assert all(len(c.text) >= 100 for c in chunks)
