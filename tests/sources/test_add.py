"""``rag add`` end to end, through ``rag.cli.main``, against the ``news_site`` fixture (a
real HTTP server on 127.0.0.1): a feed's articles stored with their metadata and indexed, a
second run adding nothing, a changed page indexed again, the same text under two URLs
stored once, the pages that go wrong skipped with their reasons while the index keeps its
articles, and an answer citing a fed article with its URL. The library's own default
refuses this machine's addresses (the SSRF guard); the operator's CLI may fetch them."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest
from helpers import CORPUS_DIR

from rag import Pipeline
from rag.cli import main
from rag.ingest.frontmatter import split_front_matter
from rag.ingest.run import ingest
from rag.library import add_urls
from rag.sources.store import slug
from rag.store.generations import current_name
from rag.store.index_store import IndexStore

#: The shipped article already in the corpus before anything is fetched (the site publishes the others).
KEPT = "poutine-interagir-constructive.txt"
#: The feed's pages that go wrong, and what the message about each says.
BAD = {
    "/articles/missing": "the server answered 404 Not Found",
    "/articles/slow": "no complete answer within 1 s",
    "/articles/big": "over the 0.05 MB limit for an article",
    "/articles/big-unannounced": "over the 0.05 MB limit for an article",
    "/files/report.pdf": "not a readable PDF (",
    "/private/memo": "refused by the site's robots.txt",
    "/loop/0": "more than 5 redirects",
    "/go/file": "redirected to file:///etc/passwd: only http and https addresses are fetched",
}


def stored(corpus) -> dict[str, tuple]:
    """The files ``rag add`` wrote: name -> (front matter, text after it)."""
    return {p.name: split_front_matter(p.read_text(encoding="utf-8"), p.name) for p in sorted(corpus.glob("*.md"))}


@pytest.mark.slow
def test_rag_add_feeds_stores_indexes_skips_and_cites(news_site, make_settings, tmp_path, embedder, environment,
                                                     capsys, answer_schema):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy2(CORPUS_DIR / KEPT, corpus / KEPT)
    settings = make_settings(corpus_dir=corpus)
    ingest(settings, embedder)
    rss, atom = news_site.url("/feed.xml"), news_site.url("/atom.xml")
    argv = ["--corpus", str(corpus), "--index", str(settings.index_dir), "add", "--feed", rss, "--feed", atom]

    # first run: the good pages stored with their metadata and indexed, the bad ones said
    assert main(argv) == 0
    out, err = capsys.readouterr()
    files = stored(corpus)
    assert len(files) == 4, (sorted(files), err)
    by_url = {meta.url: (name, meta) for name, (meta, _) in files.items()}
    for slug_, _, day, author in news_site.articles:
        url = news_site.url(f"/articles/{slug_}")
        if slug_ == "kremlin-avantage":  # reached through a redirect to another host name
            url = news_site.url(f"/articles/{slug_}", host="localhost")
        name, meta = by_url[url]
        assert (meta.date, meta.author, meta.outlet) == (day, author, news_site.outlet)
        assert meta.title and name == f"{slug(meta.title)}.md"
        assert f"added: {news_site.url(f'/articles/{slug_}')}" in err or slug_ == "kremlin-avantage"
        assert f"-> {name}" in err
    for path, said in BAD.items():
        assert f"{news_site.url(path)}: " in err and said in err, (path, err)
    assert (f"warning: {news_site.url('/syndication/premier-appel')} holds the same text as "
            f"{news_site.url('/articles/premier-appel')}") in err
    assert "4 added, 0 updated, 0 unchanged, 1 same text as another URL, 8 failed" in out
    assert "index: 4 added, 0 changed, 0 removed, 1 unchanged" in out
    store = IndexStore.load(settings.index_dir)
    try:
        indexed = {d.source: d for d in store.documents()}
    finally:
        store.close()
    assert set(indexed) == {KEPT, *files}  # the article indexed before is still there
    for name, (meta, _) in files.items():
        doc = indexed[name]
        assert (doc.url, doc.author, doc.date, doc.outlet, doc.title) == (meta.url, meta.author, meta.date,
                                                                          meta.outlet, meta.title)
        assert "cookies" not in doc.text and "À lire aussi" not in doc.text

    # second run: nothing new, nothing indexed again (failures only: exit 1)
    generation = current_name(settings.index_dir)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "0 added, 0 updated, 4 unchanged, 1 same text as another URL, 8 failed" in out and "index:" not in out
    assert current_name(settings.index_dir) == generation and stored(corpus) == files

    # a page whose text changed is stored again, in the same file, and indexed again
    route = news_site.routes["/articles/appel-ukraine"]
    added = "Le Kremlin a annoncé un second entretien téléphonique pour le mois de mai entre les deux présidents."
    route.body = route.body.replace(b'<div class="share">', f"<p>{added}</p>\n<div class=\"share\">".encode())
    assert main(argv) == 0
    out, err = capsys.readouterr()
    name = by_url[news_site.url("/articles/appel-ukraine")][0]
    assert "0 added, 1 updated, 3 unchanged" in out and "index: 0 added, 1 changed, 0 removed, 4 unchanged" in out
    assert f"updated: {news_site.url('/articles/appel-ukraine')} -> {name}" in err
    assert added in stored(corpus)[name][1]

    # an answer from a fed article cites it with its address
    pipeline = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    try:
        answer = pipeline.ask("When was New START extended?")
        changed = pipeline.store.document(name)
    finally:
        pipeline.close()
    assert added in changed.text
    assert not answer.abstained and answer.citations
    top = answer.citations[0]
    assert top.doc_id in files and top.url == files[top.doc_id][0].url and top.author
    data = answer.to_dict()
    jsonschema.validate(data, answer_schema)
    assert data["citations"][0]["url"] == top.url and data["citations"][0]["author"] == top.author

    # and `rag ask` says so too, as a user would ask after `rag add --feed`
    assert main(["--corpus", str(corpus), "--index", str(settings.index_dir), "ask", "--json",
                 "When was New START extended?"]) == 0
    asked = json.loads(capsys.readouterr().out)
    jsonschema.validate(asked, answer_schema)
    assert asked["citations"][0]["url"] == top.url and asked["citations"][0]["doc_id"] in files


def test_the_library_refuses_this_machines_addresses_unless_allowed(news_site, tmp_path, settings):
    corpus = tmp_path / "corpus"
    local = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "index", fetch_timeout=2.0)
    url = news_site.url("/articles/peskov-new-start")
    report = add_urls(local, [url])  # what anything reachable from the network must call it with
    assert [(e.url, e.kind) for e in report.failed] == [(url, "private")]
    assert "127.0.0.1 is a loopback address" in str(report.failed[0])
    assert not report.ok and report.ingest is None and not corpus.exists() and news_site.requests == []


def test_rag_add_needs_something_to_add_and_says_what_it_takes(capsys):
    assert main(["add"]) == 2
    assert "give article URLs, or a feed with --feed URL" in capsys.readouterr().err
    assert main(["add", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "rag add --feed https://" in shown and "Exit code: 0 when an article was stored" in shown
