"""``rag ingest`` with a sources file, end to end through ``rag.cli.main`` against the
``news_site`` fixture (a real HTTP server on 127.0.0.1): the RSS feed (filtered) and the Atom
feed polled, the articles kept stored and indexed with the folder's own; a second run
adding nothing; a changed page indexed again while a feed that is down is named and the
rest indexed; ``--no-poll`` reading no feed; a broken sources file refused before anything
is fetched; the library's poll without the CLI."""

from __future__ import annotations

import shutil

import pytest
from helpers import CORPUS_DIR, free_port

from rag.cli import main
from rag.ingest.frontmatter import split_front_matter
from rag.ingest.run import ingest
from rag.library import poll_sources
from rag.store.generations import current_name
from rag.store.index_store import IndexStore

#: The shipped article already in the corpus before any feed is read (the site publishes the others).
KEPT = "poutine-interagir-constructive.txt"
#: The filter of the RSS feed: 2 of its 11 entries have Biden in their title (the 8 pages
#: that go wrong, and Peskov's, are left out).
FILTER = "BIDEN"


def sources_file(tmp_path, site, *extra: str) -> str:
    """A sources file naming the site's RSS feed (filtered) and its Atom feed, then ``extra`` entries."""
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[[feed]]
name = "Le Test Quotidien"
url = "{site.url('/feed.xml')}"
filter = "{FILTER}"

[[feed]]
name = "Le Test Quotidien (Atom)"
url = "{site.url('/atom.xml')}"
""" + "".join(extra), encoding="utf-8")
    return str(path)


def stored(corpus) -> dict[str, tuple]:
    """The files the feeds wrote: name -> (front matter, text after it)."""
    return {p.name: split_front_matter(p.read_text(encoding="utf-8"), p.name) for p in sorted(corpus.glob("*.md"))}


def indexed(settings) -> set[str]:
    store = IndexStore.load(settings.index_dir)
    try:
        return {d.source for d in store.documents()}
    finally:
        store.close()


@pytest.mark.slow
def test_rag_ingest_polls_the_sources_file_then_indexes_once(news_site, make_settings, tmp_path, embedder,
                                                             environment, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy2(CORPUS_DIR / KEPT, corpus / KEPT)
    settings = make_settings(corpus_dir=corpus)
    ingest(settings, embedder)
    sources = sources_file(tmp_path, news_site)
    argv = ["--corpus", str(corpus), "--index", str(settings.index_dir), "ingest", "--sources", sources]

    # first run: the filtered RSS feed's 2 articles and the Atom feed's new one stored and indexed
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "feed Le Test Quotidien: 11 article(s), 9 left out by its filter" in err, err
    assert "feed Le Test Quotidien (Atom): 2 article(s)" in err and "left out by its filter\n" not in err[
        err.index("(Atom)"):]
    for left_out in ("/articles/peskov-new-start", "/articles/missing", "/articles/slow", "/private/memo"):
        assert left_out not in news_site.paths_seen()
    files = stored(corpus)
    urls = {meta.url for meta, _ in files.values()}
    assert urls == {news_site.url("/articles/appel-ukraine"), news_site.url("/articles/premier-appel"),
                    news_site.url("/articles/kremlin-avantage", host="localhost")}, err
    assert (f"sources: 2 feed(s) of {sources}: 3 added, 0 updated, 0 unchanged, 1 same text as another URL, "
            "0 failed, 9 left out by filters") in out
    assert "3 added, 0 changed, 0 removed, 1 unchanged" in out  # the ingest's own summary, once
    assert indexed(settings) == {KEPT, *files}

    # second run: nothing new, nothing written, nothing indexed again
    generation = current_name(settings.index_dir)
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "0 added, 0 updated, 3 unchanged, 1 same text as another URL, 0 failed" in out
    assert "0 added, 0 changed, 0 removed, 4 unchanged" in out and "index already up to date" in out
    assert current_name(settings.index_dir) == generation and stored(corpus) == files

    # a changed page is stored again and indexed, while a feed that is down is named and skipped
    route = news_site.routes["/articles/appel-ukraine"]
    added = "Le Kremlin a annoncé un second entretien téléphonique pour le mois de mai entre les deux présidents."
    route.body = route.body.replace(b'<div class="share">', f"<p>{added}</p>\n<div class=\"share\">".encode())
    down = f"http://127.0.0.1:{free_port()}/rss"
    sources = sources_file(tmp_path, news_site, f'\n[[feed]]\nname = "Fermé"\nurl = "{down}"\n')
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"failed: feed Fermé: {down}: its site's robots.txt: the server cannot be reached" in err
    assert f"1 failed:\n  feed Fermé: {down}: its site's robots.txt: the server cannot be reached" in err
    assert "0 added, 1 updated, 2 unchanged, 1 same text as another URL, 1 failed" in out
    assert "0 added, 1 changed, 0 removed, 3 unchanged" in out
    name = next(n for n, (meta, _) in stored(corpus).items() if meta.url == news_site.url("/articles/appel-ukraine"))
    assert added in stored(corpus)[name][1]
    assert indexed(settings) == {KEPT, *files}  # nothing indexed before is lost

    # --no-poll: no feed read, the folder indexed as it is
    seen = len(news_site.requests)
    (corpus / KEPT).unlink()
    assert main([*argv, "--no-poll"]) == 0
    out, err = capsys.readouterr()
    assert len(news_site.requests) == seen and "sources:" not in out and "feed " not in err
    assert "0 added, 0 changed, 1 removed, 3 unchanged" in out


def test_a_broken_sources_file_stops_rag_ingest_before_anything_is_fetched(news_site, tmp_path, environment,
                                                                           capsys):
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[feed]]\nname = "RT"\nurl = "{news_site.url("/feed.xml")}"\nfilter = "(Biden"\n',
                       encoding="utf-8")
    index = tmp_path / "index"
    argv = ["--corpus", str(tmp_path / "corpus"), "--index", str(index), "ingest", "--sources", str(sources)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: The sources file {sources}, feed 1 ('RT'): the filter '(Biden' is not a valid" in err
    assert news_site.requests == [] and not index.exists()


def test_rag_ingest_help_shows_a_sources_file(capsys):
    assert main(["ingest", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "rag ingest --sources" in shown and "[[feed]]" in shown and 'filter = "Russie|Biden"' in shown
    assert "--no-poll" in shown and "RAG_SOURCES" in shown


def test_the_library_polls_the_feeds_without_indexing_when_asked(news_site, settings, tmp_path):
    corpus = tmp_path / "corpus"
    local = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "index", fetch_timeout=2.0,
                             sources=tmp_path / "sources.toml")
    assert poll_sources(local, index=False).feeds == 0  # no sources file: no feeds, nothing fetched
    (tmp_path / "sources.toml").write_text(
        f'[[feed]]\nname = "Atom"\nurl = "{news_site.url("/atom.xml")}"\nfilter = "kremlin"\n', encoding="utf-8")
    refused = poll_sources(local, index=False)  # the default refuses this machine's addresses
    assert [(e.kind, line.startswith("feed Atom: ")) for e, line in zip(refused.failed, refused.failures(),
                                                                       strict=True)] == [("private", True)]
    lines: list[str] = []
    report = poll_sources(local, index=False, allow_private=True, notify=lines.append)
    assert lines[0] == "feed Atom: 2 article(s), 1 left out by its filter"
    assert [s.url for s in report.added] == [news_site.url("/articles/kremlin-avantage", host="localhost")]
    assert report.ingest is None and not (tmp_path / "index").exists()
    again = poll_sources(local, index=False, allow_private=True)
    assert (len(again.added), len(again.unchanged), again.left_out) == (0, 1, 1)
