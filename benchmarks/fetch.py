"""Fetching a feed's articles (``rag add --feed``): articles a second, failures, and the
ingest that follows, timed apart.

A news site is served on a free port of 127.0.0.1 (http.server in a thread; nothing leaves
the machine): an RSS feed of ``--articles`` article pages, each a synthetic article
(``benchmarks.ray_ingest.make_corpus``: the shipped articles' paragraphs, every text new, so
none is a copy of another) inside a news page's furniture (menu, cookie banner, byline,
"read also" links, footer, scripts; about ``--page-kb`` KB of HTML), and pages that fail:
404s, pages slower than the fetch limit (``--timeout``) and pages over the size limit.
The shipped corpus is indexed first (not timed); then :func:`rag.library.add_urls` reads the
feed, fetches, extracts and stores each page (timed by its report and by its progress
lines, page by page) and ingests the new articles (timed apart). A second pass over the
same feed finds every article stored already (fetched and read again, nothing written nor
indexed).

    python -m benchmarks.fetch                             # 200 articles, 10 + 5 + 5 failing pages
    python -m benchmarks.fetch --articles 50 --slow 2 --out /tmp/fetch.json

Writes ``benchmarks/results/fetch.json`` (or ``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.ray_ingest import make_corpus
from rag.errors import CorpusError
from rag.ingest.corpus import load_document
from rag.ingest.report import IngestReport
from rag.ingest.run import ingest
from rag.models.embedding import Embedder, embedder_from_settings
from rag.settings import Settings
from rag.sources.fetch import Fetched, Fetcher

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "fetch.json"
OUTLET = "Le Banc d'Essai"
_PROGRESS = re.compile(r"^\[\d+/\d+\] (added|updated|unchanged|failed|warning)")


@dataclass
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0


def article_page(n: int, title: str, paragraphs: list[str], day: str, page_kb: int) -> bytes:
    """A synthetic article as a news site serves it, padded to about ``page_kb`` KB with the
    furniture real pages carry: a "most read" block of links (markup trafilatura must walk
    through, not a script it skips whole)."""
    e = html.escape
    related = "".join(f'<li><a href="/articles/related-{n}-{k}">Les enjeux du dossier, épisode {k} : ce qu\'il '
                      f"faut retenir de la semaine</a></li>" for k in range(12))
    body = "\n".join(f"<p>{e(p)}</p>" for p in paragraphs)
    page = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{e(title)} | {OUTLET}</title>
<meta property="og:site_name" content="{OUTLET}"><meta property="og:title" content="{e(title)}">
<meta name="author" content="Rédaction"><meta property="article:published_time" content="{day}T08:00:00+01:00">
<script>window.dataLayer = [{{"page": "article", "id": {n}}}];</script>
</head><body>
<header><a class="logo" href="/">{OUTLET}</a><nav><ul><li><a href="/">Accueil</a></li><li><a href="/monde">Monde</a></li>
<li><a href="/economie">Économie</a></li><li><a href="/culture">Culture</a></li></ul></nav></header>
<div id="cookie-banner"><p>Nous utilisons des cookies pour vous offrir la meilleure expérience sur notre
site. En poursuivant votre navigation, vous acceptez leur utilisation.</p><button>Accepter</button></div>
<main><article><h1>{e(title)}</h1><p class="byline">Par la rédaction — publié le {day}</p>
{body}
<div class="share">Partager : <a href="#">Facebook</a> <a href="#">E-mail</a></div></article>
<aside class="related"><h2>À lire aussi</h2><ul>{related}</ul></aside></main>
<footer><p>© 2026 {OUTLET}</p><a href="/mentions">Mentions légales</a></footer>
"""
    links: list[str] = []
    size = len(page.encode()) + 60
    while size < page_kb * 1024:
        k = len(links)
        links.append(f'<li class="most-read"><a href="/articles/{n}/read-{k}">Le plus lu n° {k} : la réaction '
                     f"du Kremlin et de Washington</a> <span>{k % 60} min</span></li>\n")
        size += len(links[-1].encode())
    return (page + f'<div class="most-read-block"><ul>{"".join(links)}</ul></div></body></html>').encode()


def rss(base: str, items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{html.escape(title)}</title><link>{base}{path}</link>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(day).replace(hour=8, tzinfo=UTC))}</pubDate>"
        "<description>Résumé.</description></item>"
        for path, title, day in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{OUTLET}</title>'
            f"<link>{base}/</link><description>Les dernières nouvelles</description>{entries}</channel></rss>").encode()


def build_site(folder: Path, articles: int, missing: int, slow: int, big: int, *, page_kb: int,
               slow_seconds: float, big_bytes: int) -> tuple[dict[str, Page], list[tuple[str, str, str]]]:
    """The site's pages (path -> :class:`Page`) and the feed's items (path, title, day):
    the articles, then the failing pages, interleaved so that failures fall all along the run.
    A synthetic article whose text is all a scraped cookie banner, or whose cleaned text
    another's is (what cleaning leaves of it is one photo caption), is left out (one in 25 and
    one in 70), so that every page stored is an article the ingest indexes."""
    make_corpus(folder, articles + articles // 10 + 5)
    readable = []
    texts: set[str] = set()
    for file in sorted(folder.glob("*.txt")):
        try:
            text = load_document(file, file.name).text
        except CorpusError:
            continue
        if text not in texts:
            texts.add(text)
            readable.append(file)
    if len(readable) < articles:
        raise RuntimeError(f"only {len(readable)} readable synthetic articles of {articles}")
    pages: dict[str, Page] = {"/robots.txt": Page(200, b"User-agent: *\nAllow: /\n", "text/plain")}
    items: list[tuple[str, str, str]] = []
    first_day = datetime(2026, 1, 1)
    for n, file in enumerate(readable[:articles]):
        # a line of the text a <p>: as the file is read (a photo credit on its own line is dropped alone)
        title, *paragraphs = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        day = (first_day + timedelta(days=n % 300)).date().isoformat()
        pages[f"/articles/{n}"] = Page(200, article_page(n, title, paragraphs, day, page_kb))
        items.append((f"/articles/{n}", title, day))
    failing = ([(f"/gone/{k}", Page(404, b"<html><body>Page introuvable</body></html>")) for k in range(missing)]
               + [(f"/slow/{k}", Page(200, pages["/articles/0"].body, delay=slow_seconds)) for k in range(slow)]
               + [(f"/big/{k}", Page(200, b"<html><body>" + b"<p>x</p>" * (big_bytes // 8) + b"</body></html>"))
                  for k in range(big)])
    step = max(1, len(items) // max(1, len(failing)))
    for k, (path, page) in enumerate(failing):
        pages[path] = page
        items.insert(min(len(items), (k + 1) * step + k), (path, f"Cas {path}", "2026-01-01"))
    return pages, items


@contextmanager
def served(pages: dict[str, Page]) -> Iterator[str]:
    """The pages on a free port of 127.0.0.1 (a thread per request); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            page = pages.get(self.path) or Page(404, b"")
            time.sleep(page.delay)
            try:
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)
            except (BrokenPipeError, ConnectionResetError):  # the fetcher gave up (too slow, too big)
                pass

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # the slow pages' threads are not waited for
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class PageClock:
    """``notify`` for :func:`rag.library.add_urls`: the seconds each progress line's page
    took (since the line before), by what happened to it."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.seconds: dict[str, list[float]] = {}
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        now = time.perf_counter()
        found = _PROGRESS.match(line)
        if found:
            kind = found.group(1)
            if kind == "failed":
                kind = "failed: " + _failure(line)
            self.seconds.setdefault(kind, []).append(now - self.last)
        else:
            self.seconds.setdefault("feed", []).append(now - self.last)
        self.lines.append(line)
        self.last = now


def _failure(line: str) -> str:
    for words, kind in (("answered 404", "404"), ("no complete answer", "too slow"), ("over the", "too big")):
        if words in line:
            return kind
    return "other"


def _times(clock: PageClock) -> dict[str, Any]:
    return {kind: {"pages": len(s), "seconds": round(sum(s), 2), "per_page_ms": round(1000 * sum(s) / len(s), 1)}
            for kind, s in sorted(clock.seconds.items())}


class TimedFetcher(Fetcher):
    """The fetcher ``rag add`` uses, timing its HTTP part for the pages that came (what is
    left of their time is trafilatura's reading and the store's writing)."""

    seconds = 0.0

    def page(self, url: str) -> Fetched:
        t0 = time.perf_counter()
        fetched = super().page(url)
        self.seconds += time.perf_counter() - t0
        return fetched


class TimedIngest:
    """``reindex`` for :func:`rag.library.add_urls`: the incremental ingest, timed apart."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings, self.embedder = settings, embedder
        self.report: IngestReport | None = None
        self.seconds = 0.0

    def __call__(self) -> IngestReport:
        t0 = time.perf_counter()
        self.report = ingest(self.settings, self.embedder)
        self.seconds = time.perf_counter() - t0
        return self.report


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from rag.library import add_urls

    pages, items = build_site(workdir / "synthetic", args.articles, args.missing, args.slow, args.big,
                              page_kb=args.page_kb, slow_seconds=args.timeout + 1.0,
                              big_bytes=int(args.max_mb * 1024 * 1024) + 100_000)
    corpus = workdir / "corpus"
    shutil.copytree(ROOT / "corpus", corpus, ignore=shutil.ignore_patterns(".*"))
    settings = Settings(corpus_dir=corpus, index_dir=workdir / "index", translator="none",
                        fetch_timeout=args.timeout, max_file_mb=args.max_mb, max_feed_entries=len(items),
                        users=workdir / "users.toml")
    embedder = embedder_from_settings(settings)
    first = ingest(settings, embedder)  # the shipped corpus: not what is measured
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "articles": args.articles, "failing": {"404": args.missing, "too slow": args.slow, "too big": args.big},
        "page_kb": args.page_kb, "fetch_timeout_s": args.timeout, "max_file_mb": args.max_mb,
        "corpus_before": len(first.added),
    }
    timed = TimedIngest(settings, embedder)

    with served(pages) as base:
        page_bytes = sum(len(p.body) for path, p in pages.items() if path.startswith("/articles/"))
        pages["/feed.xml"] = Page(200, rss(base, items), "application/rss+xml")
        feed = f"{base}/feed.xml"
        fetching, again_fetching = (TimedFetcher(timeout=settings.fetch_timeout, max_bytes=settings.max_file_bytes,
                                      allow_private=True) for _ in range(2))
        with fetching:
            clock = PageClock()
            report = add_urls(settings, feeds=[feed], notify=clock, reindex=timed, fetcher=fetching)
        with again_fetching:  # a new fetcher, as a new run of rag add has: robots.txt read again
            again_clock = PageClock()
            again = add_urls(settings, feeds=[feed], notify=again_clock, index=False, fetcher=again_fetching)
    stored = len(report.added)
    added_seconds = sum(clock.seconds.get("added", []))
    indexed = timed.report
    if indexed is None:
        raise RuntimeError(f"nothing was stored, so nothing was indexed: {report.summary()}")
    out["first_pass"] = {
        "summary": report.summary(), "pages": report.pages, "seconds": round(report.seconds, 2),
        "pages_per_s": round(report.rate, 2), "stored": stored, "failed": len(report.failed),
        "failures": dict(Counter(_failure(str(e)) for e in report.failed)),
        "stored_per_s_alone": round(stored / added_seconds, 2) if added_seconds else None,
        "article_html_kb": round(page_bytes / args.articles / 1024, 1),
        "http_seconds": round(fetching.seconds, 2),
        "by_outcome": _times(clock),
    }
    out["ingest"] = {"summary": indexed.summary(), "seconds": round(timed.seconds, 2), "added": len(indexed.added),
                     "chunks": indexed.chunks, "embedded": indexed.embedded}
    out["second_pass"] = {
        "summary": again.summary(), "pages": again.pages, "seconds": round(again.seconds, 2),
        "pages_per_s": round(again.rate, 2), "unchanged": len(again.unchanged),
        "http_seconds": round(again_fetching.seconds, 2), "by_outcome": _times(again_clock),
    }
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=200, help="article pages the feed lists (default 200)")
    parser.add_argument("--missing", type=int, default=10, help="pages that answer 404 (default 10)")
    parser.add_argument("--slow", type=int, default=5, help="pages slower than the fetch limit (default 5)")
    parser.add_argument("--big", type=int, default=5, help="pages over the size limit (default 5)")
    parser.add_argument("--page-kb", type=int, default=60, help="an article page's HTML, KB (default 60)")
    parser.add_argument("--timeout", type=float, default=2.0, help="the fetch limit, seconds (default 2)")
    parser.add_argument("--max-mb", type=float, default=1.0, help="the size limit, MB (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    result["command"] = "python -m benchmarks.fetch " + " ".join(argv if argv is not None else sys.argv[1:])
    text = json.dumps(result, indent=2, ensure_ascii=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
