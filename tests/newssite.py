"""A news site on 127.0.0.1 for the tests that fetch from the web (``rag add``, ``rag
ingest``'s feeds, the page's "Add from the web"): real HTTP (http.server in a thread),
article pages built from the shipped articles with a real site's furniture around them
(menu, cookie banner, byline, "read also" links, footer), an RSS and an Atom feed listing
them, and the pages that go wrong (404, too slow, too big, not an article, a damaged PDF,
disallowed by robots.txt, redirected in a loop, to another host, to a ``file:`` URL).

What the site serves, and :func:`serve_news_site`; the ``news_site`` fixture (``conftest.py``)
serves it for a test. Nothing leaves the machine. Tests import it as ``from newssite import …``.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers import CORPUS_DIR

from benchmarks.news_pages import STORY_OUTLET
from benchmarks.news_pages import story_page as news_story_page
from rag.ingest.corpus import load_document

#: The shipped articles the site publishes: slug, file, publication day, author.
ARTICLES = (
    ("peskov-new-start", "peskov-dialogue-new-start.txt", "2021-01-31", "Marie Dupont"),
    ("appel-ukraine", "appel-poutine-biden-ukraine.txt", "2021-04-13", "Jean Martin"),
    ("premier-appel", "rt-premier-appel-poutine-biden.txt", "2021-01-26", "Claire Petit"),
    ("kremlin-avantage", "sputnik-kremlin-avantage-biden.txt", "2022-02-14", "Paul Bernard"),
)
OUTLET = STORY_OUTLET
#: Seconds the slow page waits before answering (the tests' fetch limit is below it).
SLOW_SECONDS = 3.0


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0           # seconds before the answer
    trickle: float = 0.0         # seconds between pieces of the body (sent in 10 pieces)
    length: bool = True          # send Content-Length


@dataclass
class Site:
    """The site's routes (path -> :class:`Route`, changeable by a test) and the requests it saw."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    articles: tuple[tuple[str, str, str, str], ...] = ARTICLES
    outlet: str = OUTLET
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (Host, path, User-Agent)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths_seen(self) -> list[str]:
        return [path for _, path, _ in self.requests]

    def rss(self, items: list[tuple[str, str, str | None, str | None]]) -> bytes:
        """An RSS 2.0 feed of the site: (link, title, day, author) per item (see :func:`rss`)."""
        return rss(self, items)


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.site.requests.append((self.headers.get("Host", ""), self.path, self.headers.get("User-Agent", "")))
        route = self.site.routes.get(self.path)
        if route is None:
            route = Route(404, b"<html><body><h1>Page introuvable</h1></body></html>")
        time.sleep(route.delay)
        self.send_response(route.status)
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        for key, value in route.headers.items():
            self.send_header(key, value.replace("{port}", str(self.site.port)))
        if route.length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        try:
            if route.trickle:
                step = max(1, len(route.body) // 10)
                for i in range(0, len(route.body), step):
                    self.wfile.write(route.body[i:i + step])
                    self.wfile.flush()
                    time.sleep(route.trickle)
            else:
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: what the test wants
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


def article_page(slug: str, file: str, day: str, author: str, port: int, text: str | None = None) -> str:
    """A shipped article as a news site serves it (see :func:`story_page`)."""
    doc = load_document(CORPUS_DIR / file, file)
    paragraphs = (text or doc.text).split("\n\n")
    title = doc.title or paragraphs[0]
    if paragraphs[0] == title:
        paragraphs = paragraphs[1:]
    return story_page(slug, title, paragraphs, day, author, port)


def story_page(slug: str, title: str, paragraphs: list[str], day: str, author: str, port: int) -> str:
    """An article as the site serves it at ``/articles/{slug}``
    (:func:`benchmarks.news_pages.story_page`: the extraction benchmark reads the same page)."""
    return news_story_page(title, paragraphs, day, author, f"http://127.0.0.1:{port}/articles/{slug}", OUTLET)


def _rfc822(day: str) -> str:
    return format_datetime(datetime.fromisoformat(day).replace(hour=9, minute=30, tzinfo=UTC))


def rss(site: Site, items: list[tuple[str, str, str | None, str | None]]) -> bytes:
    """An RSS 2.0 feed: (link, title, day, author) per item."""
    entries = "".join(
        f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        + (f"<pubDate>{_rfc822(day)}</pubDate>" if day else "")
        + (f"<author>{html.escape(author)}</author>" if author else "")
        + "<description>Résumé de l'article.</description></item>"
        for link, title, day, author in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{OUTLET}</title>'
            f"<link>{site.url('/')}</link><description>Les dernières nouvelles</description>{entries}"
            "</channel></rss>").encode()


def atom(site: Site, items: list[tuple[str, str, str | None, str | None]]) -> bytes:
    """An Atom feed: (link, title, day, author) per entry; links may be relative."""
    entries = "".join(
        f'<entry><title>{html.escape(title)}</title><link rel="alternate" href="{html.escape(link)}"/>'
        f"<id>{html.escape(link)}</id>"
        + (f"<published>{day}T09:30:00Z</published><updated>{day}T09:30:00Z</updated>" if day else "")
        + (f"<author><name>{html.escape(author)}</name></author>" if author else "")
        + "</entry>"
        for link, title, day, author in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{OUTLET} (Atom)</title><id>{site.url('/atom.xml')}</id><updated>2022-02-14T00:00:00Z</updated>"
            f"{entries}</feed>").encode()


def publish(site: Site) -> None:
    """The site's pages and feeds (see the module)."""
    routes = site.routes
    routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    for slug, file, day, author in ARTICLES:
        routes[f"/articles/{slug}"] = Route(body=article_page(slug, file, day, author, site.port).encode())
    # bad cases
    routes["/articles/slow"] = Route(body=routes["/articles/peskov-new-start"].body, delay=SLOW_SECONDS)
    routes["/articles/big"] = Route(body=b"<html><body><article>" + b"<p>Un paragraphe. </p>" * 10_000
                                    + b"</article></body></html>")
    routes["/articles/big-unannounced"] = Route(body=routes["/articles/big"].body, length=False)
    routes["/files/report.pdf"] = Route(body=b"%PDF-1.7\n" + b"\x00" * 2000, content_type="application/pdf")
    routes["/files/photo.jpg"] = Route(body=b"\xff\xd8\xff\xe0" + b"\x00" * 2000, content_type="image/jpeg")
    routes["/private/memo"] = Route(body=routes["/articles/appel-ukraine"].body)
    for n in range(7):  # a redirect loop: /loop/0 -> /loop/1 -> ... -> /loop/6
        routes[f"/loop/{n}"] = Route(302, b"", headers={"Location": f"/loop/{n + 1}"})
    routes["/go/file"] = Route(302, b"", headers={"Location": "file:///etc/passwd"})
    # another host name for the same server: followed, and its robots.txt read too
    routes["/go/kremlin"] = Route(301, b"", headers={"Location": "http://localhost:{port}/articles/kremlin-avantage"})
    # the same text as /articles/premier-appel under another address
    routes["/syndication/premier-appel"] = Route(body=routes["/articles/premier-appel"].body.replace(
        b'/articles/premier-appel"', b'/syndication/premier-appel"'))
    titles = {slug: load_document(CORPUS_DIR / file, file).title or slug for slug, file, _, _ in ARTICLES}
    good = [(site.url(f"/articles/{slug}"), titles[slug], day, author) for slug, _, day, author in ARTICLES[:3]]
    bad = [(site.url(path), f"Cas {path}", "2022-01-01", None) for path in
           ("/articles/missing", "/articles/slow", "/articles/big", "/articles/big-unannounced",
            "/files/report.pdf", "/private/memo", "/loop/0", "/go/file")]
    routes["/feed.xml"] = Route(body=rss(site, good + bad), content_type="application/rss+xml; charset=utf-8")
    slug, _, day, author = ARTICLES[3]
    routes["/atom.xml"] = Route(body=atom(site, [
        ("/go/kremlin", titles[slug], day, author),
        ("/syndication/premier-appel", titles["premier-appel"], "2021-01-26", None),
    ]), content_type="application/atom+xml")


@contextlib.contextmanager
def serve_news_site() -> Iterator[Site]:
    """The news site, served on a free port of 127.0.0.1 until the block ends."""
    site = Site()
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False  # a test does not wait for the slow page's thread
    site.port = server.server_address[1]
    publish(site)
    thread = threading.Thread(target=server.serve_forever, name="news-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
