"""benchmarks/fetch.py's site and clock, small: the feed's articles are stored, its failing
pages fail for the reason they stand for, and each page's time is counted by its outcome
(the benchmark's figures are only as good as these)."""

from __future__ import annotations

from benchmarks.fetch import Page, PageClock, build_site, rss, served
from rag.library import add_urls


def test_the_benchmarks_site_gives_what_it_says(tmp_path, settings):
    pages, items = build_site(tmp_path / "synthetic", 6, 2, 1, 1, page_kb=20, slow_seconds=1.0,
                              big_bytes=200_000)
    assert len(items) == 10 and all(len(pages[path].body) >= 20 * 1024 for path, _, _ in items
                                    if path.startswith("/articles/"))
    local = settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", fetch_timeout=0.5,
                             max_file_mb=0.1)
    with served(pages) as base:
        pages["/feed.xml"] = Page(200, rss(base, items), "application/rss+xml")
        clock = PageClock()
        report = add_urls(local, feeds=[f"{base}/feed.xml"], allow_private=True, notify=clock, index=False)
    assert report.summary().startswith("6 added, 0 updated, 0 unchanged, 4 failed; 10 pages in ")
    assert {kind: len(times) for kind, times in clock.seconds.items()} == {
        "feed": 1, "added": 6, "failed: 404": 2, "failed: too slow": 1, "failed: too big": 1}
    assert 0.5 <= sum(clock.seconds["failed: too slow"]) < 1.0
    assert len({p.read_text(encoding="utf-8") for p in (tmp_path / "corpus").glob("*.md")}) == 6
