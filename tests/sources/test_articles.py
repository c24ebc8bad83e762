"""From a fetched page or feed to a file of the corpus: rag.sources.extract (trafilatura on
a page with a real site's furniture), rag.sources.feeds (RSS and Atom, feedparser) and
rag.sources.store (``<slug>.md`` with front matter, each article once)."""

from __future__ import annotations

import pytest
from helpers import CORPUS_DIR

from rag.errors import FetchError
from rag.ingest.corpus import load_document, parse_document
from rag.ingest.frontmatter import FrontMatter, split_front_matter
from rag.sources.extract import extract_article
from rag.sources.feeds import read_feed
from rag.sources.fetch import Fetched, Fetcher
from rag.sources.store import ArticleStore, slug


def fetched(site, path: str) -> Fetched:
    with Fetcher(timeout=5.0, max_bytes=1 << 20, allow_private=True) as f:
        return f.feed(site.url(path)) if path.endswith(".xml") else f.page(site.url(path))


def test_the_article_is_read_without_the_sites_furniture(news_site):
    article = extract_article(fetched(news_site, "/articles/peskov-new-start"))
    original = load_document(CORPUS_DIR / "peskov-dialogue-new-start.txt", "x.txt")
    for furniture in ("cookies", "Accueil", "À lire aussi", "Sommet de Genève", "Tous droits réservés",
                      "Partager", "Mentions légales", "dataLayer"):
        assert furniture not in article.text, furniture
    # every paragraph of the article is there, in order
    paragraphs = original.text.split("\n\n")[1:]
    positions = [article.text.index(p) for p in paragraphs]
    assert positions == sorted(positions)
    assert article.title == original.title
    assert (article.date, article.author, article.outlet) == ("2021-01-31", "Marie Dupont", news_site.outlet)
    assert article.url == news_site.url("/articles/peskov-new-start")


def test_a_page_may_not_claim_another_sites_address(news_site):
    page = fetched(news_site, "/articles/appel-ukraine")
    claimed = page.body.replace(news_site.url("/articles/appel-ukraine").encode(), b"https://other.example/story")
    article = extract_article(Fetched(page.url, page.final_url, page.content_type, page.charset, claimed))
    assert article.url == news_site.url("/articles/appel-ukraine")


def test_the_site_name_is_kept_as_the_page_writes_it(news_site):
    # trafilatura alone capitalises a name written in lower case ("Franceinfo")
    page = fetched(news_site, "/articles/appel-ukraine")
    body = page.body.replace(f'content="{news_site.outlet}"'.encode(), b'content="franceinfo"')
    assert extract_article(Fetched(page.url, page.final_url, page.content_type, page.charset, body)).outlet == "franceinfo"


def test_a_page_without_article_text_is_said():
    page = Fetched("http://a.example/", "http://a.example/", "text/html", "utf-8",
                   b"<html><head><title>Accueil</title></head><body><script>app()</script></body></html>")
    with pytest.raises(FetchError, match=r"^http://a.example/: no article text found on the page") as caught:
        extract_article(page)
    assert caught.value.kind == "no-text"


def test_rss_and_atom_entries(news_site):
    rss = read_feed(fetched(news_site, "/feed.xml"), max_entries=100)
    assert rss.title == news_site.outlet and len(rss.entries) == 11 and rss.skipped == []
    first = rss.entries[0]
    assert first.link == news_site.url("/articles/peskov-new-start")
    assert (first.published, first.author) == ("2021-01-31", "Marie Dupont")
    assert first.title and first.title.startswith("Selon le porte-parole du Kremlin")
    atom = read_feed(fetched(news_site, "/atom.xml"), max_entries=100)
    # relative links are read against the feed's address
    assert [e.link for e in atom.entries] == [news_site.url("/go/kremlin"), news_site.url("/syndication/premier-appel")]
    assert (atom.entries[0].published, atom.entries[0].author) == ("2022-02-14", "Paul Bernard")
    few = read_feed(fetched(news_site, "/feed.xml"), max_entries=2)
    assert len(few.entries) == 2 and "more than 2 entries" in few.skipped[0]


def test_feed_entries_without_a_web_link_are_left_out_saying_so():
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            b"<item><title>A</title><link>javascript:alert(1)</link></item>"
            b"<item><title>B</title></item>"
            b"<item><title>C</title><link>https://news.example/c</link></item>"
            b"<item><title>C again</title><link>https://NEWS.example/c#top</link></item></channel></rss>")
    feed = read_feed(Fetched("http://f.example/rss", "http://f.example/rss", "application/rss+xml", None, body), 10)
    assert [e.link for e in feed.entries] == ["https://news.example/c"]
    assert len(feed.skipped) == 2 and "entry 1 (A) has no http(s) link (javascript:alert(1))" in feed.skipped[0]


@pytest.mark.parametrize("body", [b"/etc/passwd", b"<html><body>Not a feed</body></html>", b""])
def test_what_is_not_a_feed_is_said_and_never_opened_as_a_file(body):
    page = Fetched("http://f.example/rss", "http://f.example/rss", "text/plain", None, body)
    with pytest.raises(FetchError, match=r"^http://f.example/rss: not an RSS or Atom feed") as caught:
        read_feed(page, 10)
    assert caught.value.kind == "not-a-feed"


def meta(url: str, title: str = "Sommet de Genève : ce qu'il faut retenir") -> FrontMatter:
    return FrontMatter(title=title, date="2021-06-16", outlet="Le Test", author="A. B.", url=url)


def test_an_article_is_stored_once_by_address_and_once_by_text(tmp_path):
    corpus = tmp_path / "corpus"
    store = ArticleStore(corpus, max_bytes=1 << 20)
    text = "Le sommet s'est tenu à Genève.\n\nLes deux présidents ont parlé pendant quatre heures."
    first = store.save(meta("https://news.example/geneve?utm_source=rss"), text)
    assert (first.status, first.source) == ("added", "sommet-de-geneve-ce-qu-il-faut-retenir.md")
    written = (corpus / first.source).read_text(encoding="utf-8")
    front, body = split_front_matter(written, first.source)
    assert front == meta("https://news.example/geneve?utm_source=rss") and body.strip() == text
    doc = parse_document(written.encode(), first.source)
    assert (doc.url, doc.author, doc.date, doc.outlet) == ("https://news.example/geneve?utm_source=rss", "A. B.",
                                                           "2021-06-16", "Le Test")
    assert doc.text == text

    # a new run (a new store reads the folder): the same page, however spelt, with its words re-spaced
    store = ArticleStore(corpus, max_bytes=1 << 20)
    assert store.source_of("HTTPS://news.example/geneve#top") == first.source
    assert store.save(meta("https://news.example/geneve"), text.replace("\n\n", "\n")).status == "unchanged"
    # the same text under another address: not stored again, both addresses said
    twin = store.save(meta("https://mirror.example/geneve", title="Autre titre"), text)
    assert (twin.status, twin.source, twin.same_as) == ("duplicate", first.source,
                                                        "https://news.example/geneve?utm_source=rss")
    # its text changed: the same file, rewritten
    changed = store.save(meta("https://news.example/geneve"), text + "\n\nUn paragraphe ajouté.")
    assert (changed.status, changed.source) == ("updated", first.source)
    assert "Un paragraphe ajouté." in (corpus / first.source).read_text(encoding="utf-8")
    # another article with the same title: a name of its own
    other = store.save(meta("https://news.example/geneve-2"), "Un autre texte sur le même sommet.")
    assert (other.status, other.source) == ("added", "sommet-de-geneve-ce-qu-il-faut-retenir-2.md")
    assert {p.name for p in corpus.iterdir()} == {first.source, other.source}  # no temporary file left


def test_hand_written_files_with_a_url_count_as_stored(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "mine.txt").write_text("---\nurl: https://news.example/a\n---\nMon texte.\n", encoding="utf-8")
    (corpus / "plain.md").write_text("Un texte sans front matter.\n", encoding="utf-8")
    store = ArticleStore(corpus, max_bytes=1 << 20)
    assert store.source_of("https://news.example/a") == "mine.txt"
    assert store.save(meta("https://other.example/b"), "Un texte sans front matter.").status == "added"
    assert store.save(meta("https://news.example/a"), "Mon texte.").status == "unchanged"


def test_slugs():
    assert slug("Poutine : « la Russie et les États-Unis doivent interagir »") == \
        "poutine-la-russie-et-les-etats-unis-doivent-interagir"
    assert len(slug("mot " * 100)) <= 80 and not slug("mot " * 100).endswith("-")
    assert slug("Путин и Байден") == ""  # no Latin letters: the name comes from the URL instead
