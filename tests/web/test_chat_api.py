"""The library calls the chat page is built on: filters, streaming, corpus management,
highlighting from offsets. Real models, real index."""

from __future__ import annotations

import html

import pytest

from rag import Filters, Pipeline
from rag.errors import CorpusError, RagError
from rag.web.chatview import growing
from rag.web.highlight import article_html, citation_html

NEW_START = "When was New START extended?"


def test_a_fast_readers_answer_comes_whole_and_the_page_shows_it_growing(pipeline: Pipeline):
    parts = list(pipeline.stream(NEW_START))
    final = pipeline.ask(NEW_START)
    assert len(parts) == 1  # composed in milliseconds: no partial answers from the pipeline
    assert parts[-1].answer == final.answer and parts[-1].citations == final.citations
    grown = [*growing(final), final]  # what the page shows, a few words at a time
    assert len(grown) > 2
    texts = [p.answer for p in grown]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # each step extends the last
    for p in grown:  # a partial answer carries exactly the citations its text refers to
        assert {c.n for c in p.citations} == {c.n for c in final.citations if f"[{c.n}]" in p.answer}


def test_stream_of_an_unanswerable_question_is_one_abstention(pipeline: Pipeline):
    parts = list(pipeline.stream("Who won the 2022 World Cup?"))
    assert len(parts) == 1 and parts[0].abstained and parts[0].citations == []


def test_article_filter_restricts_retrieval(pipeline: Pipeline):
    only = "rt-premier-appel-poutine-biden.txt"
    passages = pipeline.retrieve(NEW_START, k=5, filters=Filters(doc_ids=frozenset({only})))
    assert passages and all(p.chunk.doc_id == only for p in passages)
    answer = pipeline.ask(NEW_START, filters=Filters(doc_ids=frozenset({only})))
    assert all(c.doc_id == only for c in answer.citations)


def test_date_filter_restricts_retrieval(pipeline: Pipeline):
    passages = pipeline.retrieve(NEW_START, k=10, filters=Filters(date_from="2021-03", date_to="2021-12"))
    assert passages and {p.document.date for p in passages} == {"2021-04"}
    # the answer is in the January article: out of range, the bot must not cite it
    answer = pipeline.ask(NEW_START, filters=Filters(date_from="2022-01-01"))
    assert "5 février 2026" not in answer.answer
    assert all(c.date and c.date >= "2022" for c in answer.citations)


def test_filter_admitting_nothing_abstains(pipeline: Pipeline):
    answer = pipeline.ask(NEW_START, filters=Filters(doc_ids=frozenset()))
    assert answer.abstained and answer.citations == []


@pytest.mark.parametrize("date,expected", [("2021-01", True), ("2021-01-20", True), ("2021", True),
                                           ("2021-02-02", False), ("2020-12", False), (None, False)])
def test_partial_dates_count_as_their_whole_period(date, expected):
    from rag.types import Document

    f = Filters(date_from="2021-01-15", date_to="2021-02-01")
    assert f.admits(Document("d", "d.txt", "x", date=date)) is expected


def test_articles_lists_metadata_and_chunk_counts(pipeline: Pipeline):
    listed = pipeline.library.articles()
    assert len(listed) == 5
    by_source = {d.source: (d, n) for d, n in listed}
    doc, n = by_source["sputnik-kremlin-avantage-biden.txt"]
    assert doc.outlet == "Sputnik France" and doc.date == "2022-02-14" and n == len(pipeline.store.chunks_of(doc.doc_id))
    assert pipeline.document(doc.doc_id).text.startswith("Le Kremlin révèle")
    with pytest.raises(RagError):
        pipeline.document("no-such-article.txt")


def test_upload_and_remove_articles(make_settings, corpus_copy, embedder, tmp_path):
    settings = make_settings(corpus_dir=corpus_copy)
    p = Pipeline.from_settings(settings, embedder=embedder)
    upload = tmp_path / "tmpupload123"  # browsers' temp names do not carry the suffix
    upload.write_text("<html><head><title>Sommet de l'Arctique</title></head><body><article>"
                      "<h1>Sommet de l'Arctique</h1><p>Le sommet de l'Arctique s'est tenu à Reykjavik "
                      "le 3 mars 2022. Les ministres y ont parlé de la fonte des glaces et des routes "
                      "maritimes du Grand Nord.</p><script>alert('x')</script></article></body></html>",
                      encoding="utf-8")
    report = p.library.add_articles([upload], names=["arctique.html"])
    assert report.added == ["arctique.html"] and report.wrote_index
    assert (corpus_copy / "arctique.html").is_file()
    doc = p.document("arctique.html")
    assert doc.title == "Sommet de l'Arctique" and "alert" not in doc.text
    answer = p.ask("Où s'est tenu le sommet de l'Arctique ?")
    assert not answer.abstained and answer.citations[0].doc_id == "arctique.html"
    # the same file again is not duplicated
    assert p.library.add_articles([upload], names=["arctique.html"]).added == []
    # removal: out of the index, file kept aside, not deleted
    report = p.library.remove_article("arctique.html")
    assert report.removed == ["arctique.html"]
    assert not (corpus_copy / "arctique.html").exists()
    assert (corpus_copy / ".removed" / "arctique.html").is_file()
    assert all(d.source != "arctique.html" for d, _ in p.library.articles())
    p.close()


@pytest.mark.parametrize("name,content,message", [
    ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not an article file"),
    ("binary.txt", b"abc\x00\x01\x02" * 10, "binary"),
    ("empty.txt", b"   \n\n", "no article text"),
])
def test_broken_uploads_are_refused_with_the_file_name(make_settings, corpus_copy, embedder, tmp_path,
                                                       name, content, message):
    settings = make_settings(corpus_dir=corpus_copy)
    p = Pipeline.from_settings(settings, embedder=embedder)
    upload = tmp_path / "upload"
    upload.write_bytes(content)
    with pytest.raises(CorpusError, match=message) as err:
        p.library.add_articles([upload], names=[name])
    assert name in str(err.value)
    assert not (corpus_copy / name).exists()
    p.close()


def test_removing_an_unknown_article_is_a_clear_error(pipeline: Pipeline):
    with pytest.raises(CorpusError, match="no such article"):
        pipeline.library.remove_article("../../etc/passwd")


def test_highlight_comes_from_offsets_and_is_escaped(pipeline: Pipeline):
    answer = pipeline.ask(NEW_START)
    c = answer.citations[0]
    doc = pipeline.document(c.doc_id)
    shown = citation_html(doc, c)
    marked = shown.split("<mark>")[1].split("</mark>")[0]
    assert html.unescape(marked) == c.quote == doc.text[c.quote_start:c.quote_end]
    page = article_html(doc, (c.start, c.end), (c.quote_start, c.quote_end))
    assert page.count('id="cited-passage"') == 1 and html.unescape(page.split("<mark>")[1].split("</mark>")[0]) == c.quote


def test_article_text_cannot_inject_html():
    from rag.types import Document

    doc = Document("x", "x.txt", 'Titre\n\n<script>alert("x")</script> et <img src=x onerror=alert(1)>.')
    page = article_html(doc, (0, len(doc.text)), (7, 40))
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page
