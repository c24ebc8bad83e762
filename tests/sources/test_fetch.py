"""rag.sources.fetch against a real HTTP server on 127.0.0.1 (the ``news_site`` fixture):
limits (time, size, redirects), what is taken (HTML, PDF, DOCX: by type, bytes or address),
what is refused (schemes, robots.txt, anything else) and the
SSRF guard — private addresses refused unless allowed, at every hop, every address of a
host checked, the connection made to the address checked."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from documents import docx_bytes
from helpers import free_port

from rag.errors import FetchError, RagError
from rag.sources.fetch import MAX_REDIRECTS, USER_AGENT, Fetcher, refused_address

LIMIT = 50_000  # bytes: the big pages are bigger


def fetcher(allow_private: bool = True, timeout: float = 1.0, **kwargs) -> Fetcher:
    return Fetcher(timeout=timeout, max_bytes=LIMIT, allow_private=allow_private, **kwargs)


def failure(f: Fetcher, url: str, feed: bool = False) -> FetchError:
    with pytest.raises(FetchError) as caught:
        f.feed(url) if feed else f.page(url)
    error = caught.value
    assert isinstance(error, RagError) and str(error).startswith(f"{url}: ")
    return error


def test_a_page_is_fetched_with_newsrags_user_agent_after_robots_txt(news_site):
    with fetcher() as f:
        page = f.page(news_site.url("/articles/peskov-new-start"))
        f.page(news_site.url("/articles/appel-ukraine"))
    assert page.content_type == "text/html" and page.charset == "utf-8"
    assert b"<article" in page.body and page.final_url == page.url
    assert USER_AGENT.startswith("newsrag/") and "robots.txt agent: newsrag" in USER_AGENT
    assert news_site.paths_seen() == ["/robots.txt", "/articles/peskov-new-start", "/articles/appel-ukraine"]
    assert {ua for _, _, ua in news_site.requests} == {USER_AGENT}


@pytest.mark.parametrize("path, kind, said", [
    ("/articles/missing", "status", "the server answered 404 Not Found"),
    ("/articles/big", "too-big", "MB, over the 0.0477 MB limit for an article (raise it with RAG_MAX_FILE_MB=…)"),
    ("/articles/big-unannounced", "too-big", "over the 0.0477 MB limit"),
    ("/files/photo.jpg", "not-html", "not a web page, PDF or DOCX (image/jpeg); skipped."),
    ("/private/memo", "robots", "refused by the site's robots.txt"),
    ("/loop/0", "redirects", f"more than {MAX_REDIRECTS} redirects"),
    ("/go/file", "scheme", "redirected to file:///etc/passwd: only http and https addresses are fetched"),
])
def test_what_goes_wrong_is_said_with_the_url(news_site, path, kind, said):
    with fetcher() as f:
        error = failure(f, news_site.url(path))
    assert error.kind == kind and said in error.reason, error.reason
    if kind == "robots":
        assert "/private/memo" not in news_site.paths_seen()  # never asked for


def test_a_page_slower_than_the_limit_is_skipped_in_time(news_site):
    import time

    news_site.routes["/articles/trickle"] = news_site.routes["/articles/peskov-new-start"]
    trickle = news_site.routes["/articles/trickle"]
    news_site.routes["/articles/trickle"] = type(trickle)(body=trickle.body, trickle=0.3)  # 3 s in 10 pieces
    with fetcher(timeout=1.0) as f:
        for path in ("/articles/slow", "/articles/trickle"):
            t0 = time.monotonic()
            error = failure(f, news_site.url(path))
            assert error.kind == "timeout" and "no complete answer within 1 s (raise the limit with " \
                "RAG_FETCH_TIMEOUT=…)" in error.reason
            assert time.monotonic() - t0 < 2.0


def test_five_redirects_are_followed_six_are_not(news_site):
    news_site.routes["/loop/7"] = news_site.routes["/articles/peskov-new-start"]
    with fetcher() as f:
        assert f.page(news_site.url("/loop/2")).final_url == news_site.url("/loop/7")  # 5 hops
        assert failure(f, news_site.url("/loop/1")).kind == "redirects"               # 6 hops


def test_a_redirect_to_another_host_is_followed_and_its_robots_txt_read(news_site):
    with fetcher() as f:
        page = f.page(news_site.url("/go/kremlin"))
    assert page.final_url == news_site.url("/articles/kremlin-avantage", host="localhost")
    hosts = [(host.split(":")[0], path) for host, path, _ in news_site.requests]
    assert ("localhost", "/robots.txt") in hosts and ("localhost", "/articles/kremlin-avantage") in hosts


def test_a_server_that_is_down_is_said(news_site):
    url = f"http://127.0.0.1:{free_port()}/article"
    with fetcher() as f:
        error = failure(f, url)
    assert error.kind == "down" and "the server cannot be reached" in error.reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a", "javascript:alert(1)",
                                 "gopher://127.0.0.1:70/", "not a url", "http:///nohost"])
def test_only_http_and_https_are_fetched(url):
    seen = []
    with fetcher(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200))) as f:
        assert failure(f, url).kind == "scheme"
    assert seen == []


def test_a_page_without_content_type_is_taken_for_html_only_by_its_first_bytes(news_site):
    routes = news_site.routes
    routes["/bare"] = type(routes["/articles/appel-ukraine"])(body=routes["/articles/appel-ukraine"].body,
                                                             content_type=None)
    routes["/bare-binary"] = type(routes["/bare"])(body=b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, content_type=None)
    with fetcher() as f:
        assert f.page(news_site.url("/bare")).content_type == ""
        assert failure(f, news_site.url("/bare-binary")).kind == "not-html"


def _zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in names:
            z.writestr(name, "x")
    return out.getvalue()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OCTET = "application/octet-stream"


@pytest.mark.parametrize("path, content_type, body, taken", [
    ("/doc/a.pdf", "application/pdf", b"%PDF-1.4 ...", "pdf"),
    ("/doc/a", DOCX, b"PK\x03\x04...", "docx"),  # the reader refuses what is not one, naming the URL
    ("/doc/get?id=1", OCTET, b"%PDF-1.7\n...", "pdf"),  # said by its first bytes
    ("/doc/get?id=2", OCTET, docx_bytes(["Un paragraphe."]), "docx"),  # a zip holding word/
    ("/doc/get?id=3", None, docx_bytes(["Un paragraphe."]), "docx"),
    ("/doc/notes.PDF", OCTET, b"...", "pdf"),  # said by its address
    ("/doc/report.docx", "binary/octet-stream", b"...", "docx"),
    ("/doc/get?id=4", OCTET, _zip(["a.txt", "b/c.xml"]), "not a web page, PDF or DOCX (application/octet-stream)"),
    ("/doc/get?id=5", OCTET, b"\x00\x01 data", "not a web page, PDF or DOCX (application/octet-stream)"),
    ("/doc/b.pdf", "image/png", b"\x89PNG", "not a web page, PDF or DOCX (image/png)"),
])
def test_pdf_and_docx_are_taken_by_their_type_their_bytes_or_their_address(news_site, path, content_type, body,
                                                                            taken):
    news_site.routes[path] = type(news_site.routes["/robots.txt"])(body=body, content_type=content_type)
    with fetcher() as f:
        if taken in ("pdf", "docx"):
            page = f.page(news_site.url(path))
            assert (page.format, page.body) == (taken, body)
        else:
            error = failure(f, news_site.url(path))
            assert error.kind == "not-html" and error.reason == f"{taken}; skipped."


def test_the_size_limit_holds_for_a_pdf(news_site):
    route = type(news_site.routes["/robots.txt"])
    news_site.routes["/doc/big.pdf"] = route(body=b"%PDF-1.7\n" + b"0" * LIMIT, content_type="application/pdf")
    news_site.routes["/doc/big-unannounced"] = route(body=news_site.routes["/doc/big.pdf"].body,
                                                     content_type=OCTET, length=False)
    with fetcher() as f:
        for path in ("/doc/big.pdf", "/doc/big-unannounced"):
            error = failure(f, news_site.url(path))
            assert error.kind == "too-big" and "over the 0.0477 MB limit for an article" in error.reason


# --------------------------------------------------------------------------- the SSRF guard


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"),
    ("10.0.0.5", "private"), ("172.16.3.4", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("240.0.0.1", "reserved"), ("100.64.0.1", "not public"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.1.1.1", "private"), ("64:ff9b::a00:1", "private"),
    ("2002:7f00:1::", "loopback"), ("93.184.216.34", None), ("2606:4700:4700::1111", None), ("8.8.8.8", None),
])
def test_addresses_newsrag_does_not_reach_unless_allowed(address, why):
    assert refused_address(address) == why


def test_the_guard_refuses_this_machine_when_private_addresses_are_not_allowed(news_site):
    for host in ("127.0.0.1", "localhost"):
        url = news_site.url("/articles/peskov-new-start", host=host)
        with fetcher(allow_private=False) as f:
            error = failure(f, url)
        assert error.kind == "private" and "loopback address, which newsrag does not fetch" in error.reason
    assert news_site.requests == []  # not even robots.txt was asked
    with fetcher(allow_private=True) as f:  # what the operator's CLI allows
        assert b"<article" in f.page(news_site.url("/articles/peskov-new-start")).body


class FakeNet:
    """A public news site on the internet, as far as the fetcher can tell: a resolver that
    gives ``news.example`` a public address (and other names what ``dns`` says), and a
    transport that answers for it, recording what was asked."""

    def __init__(self, dns: dict[str, list[str]], pages: dict[str, httpx.Response]) -> None:
        self.dns, self.pages = dns, pages
        self.requests: list[httpx.Request] = []

    def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.dns:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.dns[host]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.pages.get(f"{request.headers['host']}{request.url.path}", httpx.Response(404))


def test_a_redirect_from_a_public_host_into_a_private_one_is_refused(news_site):
    local = news_site.url("/articles/peskov-new-start")
    net = FakeNet({"news.example": ["93.184.216.34"], "127.0.0.1": ["127.0.0.1"],
                   "mixed.example": ["93.184.216.35", "10.0.0.5"], "ok.example": ["93.184.216.36"]},
                  {"news.example/to-local": httpx.Response(302, headers={"Location": local}),
                   "news.example/to-mixed": httpx.Response(302, headers={"Location": "http://mixed.example/a"}),
                   "news.example/to-ok": httpx.Response(301, headers={"Location": "https://ok.example/story"}),
                   "ok.example/story": httpx.Response(200, html="<html><body><p>Le texte.</p></body></html>")})
    with fetcher(allow_private=False, resolve=net.resolve, transport=httpx.MockTransport(net.handle)) as f:
        error = failure(f, "http://news.example/to-local")
        assert error.kind == "private" and error.reason.startswith(f"redirected to {local}: 127.0.0.1 is a loopback")
        error = failure(f, "http://news.example/to-mixed")  # one private address among public ones is enough
        assert error.kind == "private" and "mixed.example (10.0.0.5) is a private address" in error.reason
        page = f.page("http://news.example/to-ok")
        assert page.final_url == "https://ok.example/story"
        assert failure(f, "http://nowhere.example/").kind == "down"
    assert news_site.requests == []
    # each request went to the address that was checked, the host's name kept for Host and TLS
    story = [r for r in net.requests if r.url.path == "/story"][0]
    assert story.url.host == "93.184.216.36" and story.url.scheme == "https"
    assert story.headers["host"] == "ok.example" and story.extensions["sni_hostname"] == "ok.example"
    assert story.headers["user-agent"] == USER_AGENT


def test_robots_txt_answers_are_read_as_robotparser_does():
    statuses = {"a.example": 404, "b.example": 403, "c.example": 503}
    net = FakeNet({host: ["93.184.216.34"] for host in statuses},
                  {f"{host}/robots.txt": httpx.Response(status) for host, status in statuses.items()}
                  | {f"{host}/story": httpx.Response(200, html="<html><p>x</p></html>") for host in statuses})
    with fetcher(allow_private=False, resolve=net.resolve, transport=httpx.MockTransport(net.handle)) as f:
        assert f.page("http://a.example/story").body  # no robots.txt: allowed
        assert failure(f, "http://b.example/story").kind == "robots"  # forbidden robots.txt: disallow all
        error = failure(f, "http://c.example/story")
        assert error.kind == "robots" and "robots.txt answered 503" in error.reason
    asked = [f"{r.headers['host']}{r.url.path}" for r in net.requests]
    assert asked.count("a.example/robots.txt") == 1 and "b.example/story" not in asked


def test_a_feed_given_as_a_page_is_said_to_be_one(news_site):
    with fetcher() as f:
        error = failure(f, news_site.url("/feed.xml"))
    assert error.kind == "not-html" and error.reason == ("not a web page, PDF or DOCX (application/rss+xml) "
                                                         "(a feed? add it with --feed); skipped.")
