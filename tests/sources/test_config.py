"""The sources file (rag.sources.config): its feeds read in order with their name and
filter, a missing file meaning none, and each mistake refused with a message naming the
file and the entry; the filter as :class:`rag.sources.feeds.FeedSource` applies it (title
or summary, any case); the setting that names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Settings
from rag.errors import RagError, SourcesFileError
from rag.sources.config import read_sources
from rag.sources.feeds import FeedEntry, FeedSource, read_feed
from rag.sources.fetch import Fetched, Fetcher


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_feeds_are_read_in_order_with_their_name_and_filter(tmp_path):
    path = write(tmp_path, """
# the outlets the team follows
[[feed]]
name = "RT France"                       # shown in progress and messages
url = "https://francais.rt.com/rss"
filter = "Russie|Biden"

[[feed]]
url = "  http://news.example.org/atom.xml "
""")
    assert read_sources(path) == [FeedSource("https://francais.rt.com/rss", name="RT France", filter="Russie|Biden"),
                                  FeedSource("http://news.example.org/atom.xml")]
    assert [f.label for f in read_sources(path)] == ["RT France", "http://news.example.org/atom.xml"]


def test_a_missing_file_means_no_feeds_and_so_does_an_empty_one(tmp_path):
    assert read_sources(tmp_path / "sources.toml") == []
    assert read_sources(write(tmp_path, "# nothing yet\n")) == []


@pytest.mark.parametrize("text,said", [
    ("[[feed]]\nname = 'RT'\nurl = 'https://a.example/rss'\nfilter = 'Russie|(Biden'\n",
     "feed 1 ('RT'): the filter 'Russie|(Biden' is not a valid regular expression (missing ), unterminated"),
    ("[[feed]]\nurl = 'https://a.example/rss'\n[[feed]]\nname = 'B'\n",
     "feed 2 ('B'): no url; give the feed's address"),
    ("[[feed]]\nname = 'A'\nurl = 'ftp://a.example/rss'\n",
     "feed 1 ('A'): url must be an http or https address (got 'ftp://a.example/rss')"),
    ("[[feed]]\nurl = 'javascript:alert(1)'\n", "feed 1: url must be an http or https address"),
    ("[[feed]]\nurl = 42\n", "feed 1: url must be an http or https address (got 42)"),
    ("[[feed]]\nurl = 'https://a.example/rss'\nfiltre = 'Biden'\n",
     "feed 1: unknown key 'filtre' (a feed takes name, url and filter)"),
    ("[[feed]]\nname = 'RT'\nurl = 'https://a.example/rss'\n[[feed]]\nname = 'RT'\nurl = 'https://b.example/rss'\n",
     "feed 2 ('RT'): the name 'RT' is feed 1's too; give each feed its own name"),
    ("[[feed]]\nname = ''\nurl = 'https://a.example/rss'\n", "feed 1: name must be a text"),
    ("[[feed]]\nurl = 'https://a.example/rss'\nfilter = ['Biden']\n", "feed 1: filter must be a regular expression"),
    ("[[feeds]]\nurl = 'https://a.example/rss'\n", "unknown key 'feeds'; it holds [[feed]] tables"),
    ("feed = 'https://a.example/rss'\n", "write each feed as a [[feed]] table with name, url and filter"),
    ("[[feed]]\nurl = https://a.example/rss\n", "is not valid TOML (Invalid value (at line 2, column 7))"),
], ids=["bad filter", "no url", "ftp url", "javascript url", "url not a text", "unknown key", "same name twice",
        "empty name", "filter not a text", "unknown table", "feed not a table", "not TOML"])
def test_a_mistake_is_refused_naming_the_file_and_the_entry(tmp_path, text, said):
    path = write(tmp_path, text)
    with pytest.raises(SourcesFileError) as caught:
        read_sources(path)
    message = str(caught.value)
    assert isinstance(caught.value, RagError)  # the CLI says it as is, exit 2
    assert message.startswith(f"The sources file {path}") and said in message, message
    assert message.endswith("(rag ingest --no-poll indexes the corpus folder without reading the feeds.)")


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_bytes(b"[[feed]]\nname = '\xff'\n")
    with pytest.raises(SourcesFileError, match=f"Cannot read the sources file {path}"):
        read_sources(path)


def test_a_filter_looks_at_the_title_or_the_summary_whatever_the_case():
    feed = FeedSource("https://a.example/rss", filter="russie|biden")
    assert feed.keeps(FeedEntry("https://a.example/1", title="Joe BIDEN à Genève"))
    assert feed.keeps(FeedEntry("https://a.example/2", title="Sommet", summary="La Russie et les États-Unis"))
    assert not feed.keeps(FeedEntry("https://a.example/3", title="Météo", summary="Il pleut"))
    assert not feed.keeps(FeedEntry("https://a.example/4"))
    assert FeedSource("https://a.example/rss").keeps(FeedEntry("https://a.example/4"))
    with pytest.raises(Exception, match="missing"):  # re.error, when built by hand
        FeedSource("https://a.example/rss", filter="(")


def test_a_feed_entry_carries_its_summary_as_plain_text(news_site):
    with Fetcher(timeout=5.0, max_bytes=1 << 20, allow_private=True) as f:
        feed = read_feed(f.feed(news_site.url("/feed.xml")), 100)
    assert {entry.summary for entry in feed.entries} == {"Résumé de l'article."}
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            b'<entry><title>Sommet</title><link href="https://a.example/1"/><summary type="html">'
            b"&lt;p&gt;La &lt;b&gt;Russie&lt;/b&gt; &amp;amp; les\n  &#201;tats-Unis&lt;/p&gt;</summary></entry></feed>")
    feed = read_feed(Fetched("https://a.example/atom", "https://a.example/atom", "application/atom+xml", None,
                             atom), 100)
    assert feed.entries[0].summary == "La Russie & les États-Unis"


def test_the_setting_names_the_file_and_expands_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).sources == tmp_path / "sources.toml"
    assert Settings.from_env({"RAG_SOURCES": "~/news/sources.toml"}).sources == Path.home() / "news" / "sources.toml"
    assert Settings.from_env({}, sources="/etc/newsrag/sources.toml").sources == Path("/etc/newsrag/sources.toml")
