"""The page's "Add from the web" (and the API's ``add_url``), through the function both
call, :func:`rag.web.chatview.add_from_web`, without a server: only editors, nothing on a
read-only server, a bounded number of addresses, and never this machine's or the local
network's addresses unless the operator allowed them (the SSRF guard), said so. The
same through a real page server: tests/web/test_sign_in.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Pipeline
from rag.errors import InputError
from rag.web.accounts import EDITOR, READER, Access, Accounts, NotAllowed
from rag.web.chatview import MAX_WEB_URLS, add_from_web, web_addresses

ARTICLE = "/articles/peskov-new-start"


@pytest.fixture
def private(pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    """The session's pipeline over a corpus and index folder of the test's own (nothing
    is indexed: every add here is refused before anything is stored)."""
    settings = pipeline.settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    return Pipeline(settings, pipeline.embedder, pipeline.store)


def test_only_editors_add_from_the_web_and_nothing_is_fetched_for_the_others(news_site, private: Pipeline,
                                                                            tmp_path: Path):
    accounts = Accounts.load(tmp_path / "users.toml")
    accounts.add("alice", EDITOR, "alice password")
    accounts.add("bob", READER, "bob password")
    url = news_site.url(ARTICLE)
    for access, name, said in ((Access(accounts), "bob", "bob is signed in as a reader"),
                               (Access(accounts), "mallory", "Sign in first"),
                               (Access(accounts, read_only=True), "alice", "This server is read-only"),
                               (Access(None, read_only=True), None, "This server is read-only")):
        with pytest.raises(NotAllowed, match=said):
            add_from_web(private, access, name, url)
    assert news_site.requests == [] and not private.settings.corpus_dir.exists()


def test_this_machines_addresses_are_refused_saying_how_the_operator_allows_them(news_site, private: Pipeline):
    url = news_site.url(ARTICLE)
    said: list[str] = []
    result = add_from_web(private, Access(None), None, f"{url}\n\n{url}",
                          progress=lambda done, total, what: said.append(what))
    assert not result.ok and [(e.url, e.kind) for e in result.report.failed] == [(url, "private")]
    message = result.message()
    assert "127.0.0.1 is a loopback address" in message and "RAG\\_ALLOW\\_PRIVATE\\_URLS=1" not in message
    assert "`RAG_ALLOW_PRIVATE_URLS=1`" in message and "`rag serve --allow-private-urls`" in message
    assert message.startswith("**From the web:** 0 added, 0 updated, 0 unchanged, 1 failed; 1 page in ")
    assert any("failed" in line and url in line for line in said)  # the progress heard each page
    # a feed there is refused the same way, before anything is read from it
    feed = add_from_web(private, Access(None), None, "", news_site.url("/feed.xml"))
    assert [e.kind for e in feed.report.failed] == ["private"] and "RAG_ALLOW_PRIVATE_URLS=1" in feed.message()
    assert news_site.requests == [] and feed.report.ingest is None and not private.settings.corpus_dir.exists()


def test_addresses_are_one_per_line_a_few_at_a_time():
    many = "\n".join(f"https://news.example.org/{n}" for n in range(MAX_WEB_URLS + 1))
    with pytest.raises(InputError, match=f"{MAX_WEB_URLS + 1} addresses: at most {MAX_WEB_URLS} are added at a time"):
        web_addresses(many)
    assert len(web_addresses(many.rsplit("\n", 1)[0])[0]) == MAX_WEB_URLS
    assert web_addresses(["https://a.example/1", "https://a.example/1\nhttps://b.example/2"], " ") == (
        ["https://a.example/1", "https://b.example/2"], None)
    assert web_addresses("", "https://a.example/rss.xml") == ([], "https://a.example/rss.xml")
    for urls, feed, said in (("", "", "Give the address of an article page"),
                             (None, None, "Give the address of an article page"),
                             ("https://a.example/1", "https://a.example/rss\nhttps://b.example/rss", "One feed at a time"),
                             ({"url": "https://a.example/1"}, None, "must be text"),
                             (["https://a.example/1", 3], None, "must be text"),
                             ("https://a.example/" + "x" * 3000, None, "Line 1 of the article addresses is 3,018")):
        with pytest.raises(InputError, match=said):
            web_addresses(urls, feed)


@pytest.mark.parametrize("allowed", [False, True])
def test_the_library_is_asked_with_the_operators_allowance_and_a_feed_held_to_a_few_articles(
        private: Pipeline, monkeypatch: pytest.MonkeyPatch, allowed: bool):
    import rag.library
    from rag.sources.collect import AddReport

    asked: list[tuple[list[str], list[str], bool, int, object]] = []

    def add_urls(settings, urls, *, feeds, allow_private, bounded=False, **_: object) -> AddReport:
        asked.append((list(urls), list(feeds), allow_private, settings.max_feed_entries, bounded))
        return AddReport()

    monkeypatch.setattr(rag.library, "add_urls", add_urls)  # what Library.add_urls calls
    page = Pipeline(private.settings.replace(allow_private_urls=allowed), private.embedder, private.store)
    result = add_from_web(page, Access(None), None, "https://a.example/1", "https://a.example/rss.xml")
    assert asked == [(["https://a.example/1"], ["https://a.example/rss.xml"], allowed, MAX_WEB_URLS, True)]
    assert result.ok and result.message() == "**From the web:** 0 added, 0 updated, 0 unchanged, 0 failed."


def test_an_article_longer_to_index_than_an_upload_may_be_is_not_stored(news_site, private: Pipeline):
    """What the page fetches is held to what an upload may cost (RAG_MAX_UPLOAD_TEXTS); the
    operator's own rag add is not."""
    settings = private.settings.replace(allow_private_urls=True, max_upload_texts=5)
    page = Pipeline(settings, private.embedder, private.store)
    url = news_site.url(ARTICLE)
    result = add_from_web(page, Access(None), None, url)
    assert not result.ok and [(e.url, e.kind) for e in result.report.failed] == [(url, "too-costly")]
    said = str(result.report.failed[0])
    assert "over the 5 an article added from the page may hold (RAG_MAX_UPLOAD_TEXTS)" in said, said
    assert said.endswith("The server's operator can add it with rag add.")
    assert not list(settings.corpus_dir.glob("*.md")) and result.report.ingest is None
