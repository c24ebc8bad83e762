"""Front matter: an article file's own title, date, outlet, author and url — read, winning
over cleaning, kept out of the cleaned text, stored in the index and carried into citations;
and an index written before documents had a url still loading."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from helpers import CORPUS_FILES

from rag import Answer, Citation, Pipeline
from rag.cli import format_answer
from rag.ingest.corpus import parse_document
from rag.ingest.frontmatter import FrontMatter, format_front_matter, split_front_matter
from rag.ingest.run import ingest
from rag.store.generations import current_generation
from rag.store.index_store import IndexStore
from rag.store.manifest import Manifest, file_checksum

FRONT = ('---\n'
         'title: "Peskov : un dialogue « intense »"\n'
         'date: 2021-02-03\n'
         "outlet: 'Le Test d''Ici'\n"
         'author: Marie Dupont   # the byline\n'
         'url: https://news.example.org/peskov?id=3\n'
         'tags:\n'
         '  - kremlin\n'
         '- biden\n'
         '# a comment\n'
         '\n'
         '---\n')


def test_front_matter_fields_are_read_and_cut_off():
    meta, body = split_front_matter(FRONT + "Le texte.\n", "a.md")
    assert meta == FrontMatter(title="Peskov : un dialogue « intense »", date="2021-02-03",
                               outlet="Le Test d'Ici", author="Marie Dupont",
                               url="https://news.example.org/peskov?id=3")
    assert body == "Le texte.\n"


def test_front_matter_with_windows_line_ends_and_a_closing_dots_line():
    meta, body = split_front_matter("---\r\ntitle: Sommet\r\ndate: 16 juin 2021\r\n...\r\nTexte.", "a.txt")
    assert (meta.title, meta.date, body) == ("Sommet", "2021-06-16", "Texte.")


@pytest.mark.parametrize("text", [
    "---\nUne ligne de texte entre deux filets.\n---\nSuite.",    # prose: a rule, not front matter
    "---\ntitle: jamais fermé\nLe texte commence.",                 # never closed
    "---\n" + "x: 1\n" * 60 + "---\nTexte.",                        # closed too late
    "---\n---\nTexte.",                                              # empty
    "Texte.\n---\ntitle: pas en tête\n---\n",                       # not at the top
])
def test_what_is_not_front_matter_stays_text(text):
    meta, body = split_front_matter(text, "a.md")
    assert not meta and body == text


def test_only_markdown_and_text_files_have_front_matter():
    assert not split_front_matter(FRONT + "x", "page.html")[0]
    assert split_front_matter(FRONT + "x", "note.markdown")[0].author == "Marie Dupont"


def test_a_bad_date_or_a_non_web_url_is_dropped_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="rag")
    meta, _ = split_front_matter("---\ndate: bientôt\nurl: javascript:alert(1)\ntitle: T\n---\nx", "a.md")
    assert (meta.date, meta.url, meta.title) == (None, None, "T")
    assert "a.md: the front matter's date 'bientôt' is not a date" in caplog.text
    assert "a.md: the front matter's url 'javascript:alert(1)' is not an http(s) address" in caplog.text
    for url in ("file:///etc/passwd", "data:text/html,x", "ftp://example.org/a", "//example.org/a"):
        assert split_front_matter(f"---\nurl: {url}\n---\nx", "a.md")[0].url is None


def test_front_matter_written_reads_back():
    meta = FrontMatter(title='Le "sommet" \\ de Genève\n(suite)', date="2021-06", outlet="RT France",
                       author=None, url="https://example.org/a#b")
    back, body = split_front_matter(format_front_matter(meta) + "Texte.", "a.md")
    assert back == FrontMatter(title='Le "sommet" \\ de Genève (suite)', date="2021-06", outlet="RT France",
                               url="https://example.org/a#b")
    assert body == "Texte."


def test_front_matter_wins_over_cleaning_and_is_not_in_the_text():
    article = ("date 2021-01 Le porte-parole du Kremlin a parlé\n\n"
               "Selon Sputnik, le porte-parole du Kremlin a salué un dialogue pragmatique entre les deux pays.")
    plain = parse_document(article.encode(), "a.md")
    assert plain.date == "2021-01" and plain.outlet == "Sputnik" and plain.url is None and plain.author is None
    doc = parse_document((FRONT + article).encode(), "a.md")
    assert (doc.title, doc.date, doc.outlet) == ("Peskov : un dialogue « intense »", "2021-02-03", "Le Test d'Ici")
    assert (doc.author, doc.url) == ("Marie Dupont", "https://news.example.org/peskov?id=3")
    assert doc.text == plain.text  # offsets point into the same cleaned text
    assert "title:" not in doc.text and "---" not in doc.text
    # a field the front matter leaves out is still read from the text
    partial = parse_document(("---\nauthor: A. B.\n---\n" + article).encode(), "a.txt")
    assert (partial.date, partial.outlet, partial.author) == ("2021-01", "Sputnik", "A. B.")


def _as_written_before_urls(index_dir: Path) -> None:
    """Make the live generation look like one written before documents had url and author:
    the documents table without those columns, the manifest's checksum of the store updated."""
    gen = current_generation(index_dir)
    assert gen is not None
    db = sqlite3.connect(gen / "store.sqlite")
    with db:
        db.execute("CREATE TABLE old AS SELECT doc_id, source, text, title, date, outlet, sha256 FROM documents")
        db.execute("DROP TABLE documents")
        db.execute("ALTER TABLE old RENAME TO documents")
    db.execute("VACUUM")
    db.close()
    manifest = Manifest.load(gen / "manifest.json")
    manifest.checksums["store.sqlite"] = file_checksum(gen / "store.sqlite")
    (gen / "manifest.json").write_text(manifest.to_json())


def test_an_index_written_before_urls_loads_answers_and_is_read_again_once(make_settings, corpus_copy, embedder,
                                                                          answer_schema):
    settings = make_settings(corpus_dir=corpus_copy)
    ingest(settings, embedder)
    _as_written_before_urls(settings.index_dir)

    store = IndexStore.load(settings.index_dir)
    try:
        assert not store.has_links
        assert all(d.url is None and d.author is None for d in store.documents())
        assert all(d.url is None for d, _ in store.articles())
    finally:
        store.close()
    pipeline = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        data = pipeline.ask("When was New START extended?").to_dict()
    finally:
        pipeline.close()
    jsonschema.validate(data, answer_schema)
    assert data["citations"] and all("url" not in c and "author" not in c for c in data["citations"])

    # the next ingest reads every file again once (front matter was text before), then none
    name = "peskov-dialogue-new-start.txt"
    (corpus_copy / name).write_text(FRONT + (corpus_copy / name).read_text(encoding="utf-8"), encoding="utf-8")
    report = ingest(settings, embedder)
    assert sorted(report.changed) == sorted(CORPUS_FILES) and report.added == []
    assert ingest(settings, embedder).changed == []
    pipeline = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        answer = pipeline.ask("When was New START extended?")
    finally:
        pipeline.close()
    cited = [c for c in answer.citations if c.doc_id == name]
    assert cited and cited[0].url == "https://news.example.org/peskov?id=3" and cited[0].author == "Marie Dupont"
    data = answer.to_dict()
    jsonschema.validate(data, answer_schema)
    assert data["citations"][answer.citations.index(cited[0])]["url"] == cited[0].url
    assert "    https://news.example.org/peskov?id=3" in format_answer(answer).splitlines()


def test_the_terminal_prints_a_web_address_under_the_source_line_and_nothing_else():
    def answer_with(url: str | None) -> Answer:
        c = Citation(1, "a.md", "a.md", "Titre", "2021-01", "RT France", "x", 0, 1, "x", 0, 1, 0.8, url=url)
        return Answer("q", "Selon RT France [1]: «x»", False, "fr", [c])

    lines = format_answer(answer_with("https://news.example.org/a")).splitlines()
    assert lines[lines.index("[1] Titre — RT France, 2021-01 (a.md)") + 1] == "    https://news.example.org/a"
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://example.org/\x1b[2J", None):
        shown = format_answer(answer_with(url))
        assert "javascript" not in shown and "file:" not in shown and "\x1b" not in shown and "example" not in shown
    assert "url" not in answer_with(None).to_dict()["citations"][0]
