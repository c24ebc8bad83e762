"""Fetch a page or a feed over HTTP, politely and safely (httpx).

A URL given to newsrag may come from a feed, a redirect, or someone on the network, so
every fetch is bounded and checked:

* ``http``/``https`` only, at every hop; at most :data:`MAX_REDIRECTS` redirects, each
  checked like the first address;
* **no private addresses** unless ``allow_private``: a host is resolved, and refused if
  *any* of its addresses is loopback, private, link-local, multicast, reserved or
  otherwise not public (``127.0.0.1``, ``10.…``, ``169.254.169.254``, ``::1``,
  ``::ffff:127.0.0.1``…), again after each redirect. The request then goes to the very
  address that was checked (the name is not resolved a second time, so a DNS answer that
  changes between the check and the connection cannot slip through), with the host's name
  for ``Host`` and TLS (SNI and certificate check). Connections are not kept alive: one is
  never reused for another host. Proxies from the environment are not used (they would
  reach what the check refuses). ``rag add``, run by the operator, allows private
  addresses (an intranet's pages); anything reachable from the network must not, unless
  the operator said so (the page: ``Settings.allow_private_urls``);
* **robots.txt** is asked first (``urllib.robotparser``, fed through this same client, so
  it is held to the same checks), once per site and fetcher;
* a **time limit** for the whole fetch (``Settings.fetch_timeout``: connecting, waiting and
  reading, so a page that trickles is cut too) and a **size limit** (``Settings.max_file_mb``,
  checked on the announced length, then on the bytes as they come, decompressed);
* an article is an HTML page, a PDF or a DOCX, by its media type or, when the server says
  nothing useful (``application/octet-stream``), by its first bytes or its address's suffix
  (:func:`article_format`); a feed is any XML or text type;
* a ``User-Agent`` naming newsrag and where to read about it (:data:`USER_AGENT`).

Every failure is a :class:`~rag.errors.FetchError` naming the URL and the reason.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from rag.errors import FetchError, short
from rag.settings import Settings
from rag.urls import web_url

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("newsrag")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "0"


#: Sent with every request: the product, its version and the name its robots.txt rules
#: go by (no project address is published yet to point at).
USER_AGENT = f"newsrag/{_version()} (news question answering; robots.txt agent: newsrag)"
#: The name robots.txt rules are matched against (``User-agent: newsrag``).
ROBOTS_AGENT = "newsrag"
#: Redirects followed at most, each hop checked like the first address.
MAX_REDIRECTS = 5
#: robots.txt read at most (RFC 9309 asks crawlers to read at least 500 KiB).
MAX_ROBOTS_BYTES = 512 * 1024
#: What an article page may be served as.
HTML_TYPES = ("text/html", "application/xhtml+xml")
#: What an article in a PDF may be served as.
PDF_TYPES = ("application/pdf", "application/x-pdf")
#: What an article in a DOCX (Word) file may be served as.
DOCX_TYPES = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)
#: Media types that say nothing of what a file is: its first bytes decide, else its address's suffix.
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream", "application/zip", "application/x-zip-compressed")
#: The ``Accept`` header of an article's fetch: a page first, a PDF or DOCX taken too.
ARTICLE_ACCEPT = (f"text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.8,{DOCX_TYPES[0]};q=0.8,"
                  "*/*;q=0.1")
_REDIRECTS = (301, 302, 303, 307, 308)
#: Resolves a host name and port to its IP addresses (tests give their own).
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives ``host`` (IPv4 and IPv6), in its order."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def refused_address(address: str) -> str | None:
    """Why newsrag must not connect to ``address`` unless told it may (``loopback``,
    ``private``, ``link-local``…), or None for a public address. An IPv4 address written
    inside an IPv6 one (``::ffff:127.0.0.1``, 6to4, NAT64) is judged as itself.

    >>> [refused_address(a) for a in ("93.184.216.34", "127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:192.168.1.1")]
    [None, 'loopback', 'private', 'link-local', 'private']
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone is not the address
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            ip = inner
    for word, test in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if test:
            return word
    return None if ip.is_global else "not public"


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Fetched:
    """A fetched page or feed: the address asked for, the one that answered (after
    redirects), its media type (lower case, no parameters), charset and bytes; for an
    article (:meth:`Fetcher.page`), its ``format``: ``html``, ``pdf`` or ``docx``
    (:func:`article_format`)."""

    url: str
    final_url: str
    content_type: str
    charset: str | None
    body: bytes
    format: str | None = None


class Fetcher:
    """An HTTP client held to newsrag's rules (see the module): use one per run, so that
    each site's robots.txt is read once; close it (or use ``with``) when done.

    ``verify``: what an https server's certificate is checked against, by default the
    certificates ``certifi`` ships (a :class:`ssl.SSLContext` trusting a company's own
    authority, say); never False outside a test. ``resolve`` and ``transport`` are for tests
    (a fake resolver, ``httpx.MockTransport``).
    """

    def __init__(self, *, timeout: float, max_bytes: int, allow_private: bool = False,
                 resolve: Resolver = system_resolver, transport: httpx.BaseTransport | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self._resolve = resolve
        self._robots: dict[str, RobotFileParser] = {}
        self._client = httpx.Client(
            follow_redirects=False, trust_env=False, transport=transport, verify=verify,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),  # a connection is never reused for another host
            headers={"User-Agent": USER_AGENT, "Accept-Language": "fr, en;q=0.9, *;q=0.5"})

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_private: bool) -> Fetcher:
        """A fetcher with ``settings``' time limit (``fetch_timeout``) and size limit (``max_file_mb``)."""
        return cls(timeout=settings.fetch_timeout, max_bytes=settings.max_file_bytes, allow_private=allow_private)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ public

    def page(self, url: str) -> Fetched:
        """An article: an HTML page, a PDF or a DOCX (:func:`article_format` tells which, and
        sets ``format``), under the size limit, allowed by robots.txt."""
        fetched = self.fetch(url, accept=_may_be_article, what=ARTICLE_WHAT, accept_header=ARTICLE_ACCEPT)
        found = article_format(fetched.content_type, fetched.body, fetched.final_url)
        if found is None:  # a zip that holds no Word document, say
            raise FetchError(url, f"not {ARTICLE_WHAT} ({fetched.content_type or 'no content type'}); skipped.",
                             "not-html")
        return replace(fetched, format=found)

    def feed(self, url: str) -> Fetched:
        """An RSS or Atom feed (any XML or text media type: feeds are often mislabelled)."""
        return self.fetch(url, accept=_is_feed_type, what="a feed",
                          accept_header="application/rss+xml,application/atom+xml,application/xml;q=0.9,"
                                        "text/xml;q=0.9,*/*;q=0.1")

    def fetch(self, url: str, *, accept: Callable[[str, bytes, str], bool], what: str,
              accept_header: str = "*/*") -> Fetched:
        """``url``'s body, after the robots.txt of every site on the way allowed it, when
        ``accept(media type, first bytes, address that answered)`` takes it (asked first
        without bytes); :class:`FetchError` otherwise."""
        deadline = time.monotonic() + self.timeout
        with self._open(url, deadline, robots=True, accept_header=accept_header) as (final, response):
            if response.status_code >= 400:
                raise FetchError(url, f"the server answered {response.status_code} "
                                      f"{response.reason_phrase or ''}".rstrip() + "; not fetched.", "status")
            media = _media_type(response)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(url, self._too_big(int(length)), "too-big")
            chunks = response.iter_bytes()
            head = b""
            if not accept(media, b"", final):
                head = self._first(url, chunks)
                if not accept(media, head, final):
                    kind = "not-a-feed" if what == "a feed" else "not-html"
                    hint = " (a feed? add it with --feed)" if kind == "not-html" and "xml" in media else ""
                    raise FetchError(url, f"not {what} ({media or 'no content type'}){hint}; skipped.", kind)
                if len(head) > self.max_bytes:
                    raise FetchError(url, self._too_big(None), "too-big")
            body = head + self._read(url, chunks, deadline, self.max_bytes - len(head), limit_error=True)
            return Fetched(url=url, final_url=final, content_type=media, charset=response.charset_encoding,
                           body=body)

    # ------------------------------------------------------------------ the rules

    @contextmanager
    def _open(self, url: str, deadline: float, *, robots: bool, accept_header: str = "*/*",
              named: str | None = None, what: str = "") -> Iterator[tuple[str, httpx.Response]]:
        """The response (streamed, headers read) at ``url`` after its redirects, each hop
        checked: scheme, every address of its host, then robots.txt (``robots``). Yields
        the address that answered and the response. Errors name ``named`` (by default
        ``url``: robots.txt's errors name the page it was read for), ``what`` saying which
        fetch failed."""
        named = named or url
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            where = what + ("" if current == url else f"redirected to {current}: ")
            target = httpx.URL(self._checked_scheme(named, current, where))
            address = self._checked_address(named, target, where)
            if robots and not self._robots_allow(named, current, deadline):
                raise FetchError(named, f"{where}refused by the site's robots.txt (it disallows this page "
                                        f"to {ROBOTS_AGENT}); not fetched.", "robots")
            host = target.raw_host.decode("ascii")
            shown_host = f"[{host}]" if ":" in host else host
            request = self._client.build_request(
                "GET", target.copy_with(host=address),
                headers={"Host": shown_host + (f":{target.port}" if target.port else ""), "Accept": accept_header},
                extensions={"sni_hostname": host}, timeout=httpx.Timeout(self._left(named, deadline)))
            response = self._send(named, request, what)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if hop == MAX_REDIRECTS:
                        raise FetchError(named, f"{what}more than {MAX_REDIRECTS} redirects; not fetched.",
                                         "redirects")
                    current = urljoin(current, location.strip())
                    continue
                yield current, response
                return
            finally:
                response.close()

    def _checked_scheme(self, url: str, current: str, where: str) -> str:
        checked = web_url(current)
        if checked is None:
            raise FetchError(url, f"{where}only http and https addresses are fetched; not fetched.", "scheme")
        return checked

    def _checked_address(self, url: str, target: httpx.URL, where: str) -> str:
        """The address to connect to: the first of the host's, when all are allowed."""
        host = target.raw_host.decode("ascii")  # IDNA-encoded: what DNS knows
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            addresses = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(url, f"{where}the host name {host} is unknown ({short(exc)}); not fetched.",
                             "down") from None
        if not addresses:
            raise FetchError(url, f"{where}the host name {host} has no address; not fetched.", "down")
        if not self.allow_private:
            for address in addresses:
                why = refused_address(address)
                if why is not None:
                    shown = host if host == address else f"{host} ({address})"
                    raise FetchError(url, f"{where}{shown} is a {why} address, which newsrag does not fetch "
                                          "from here; refused.", "private")
        return addresses[0]

    def _robots_allow(self, url: str, current: str, deadline: float) -> bool:
        """Whether the robots.txt of ``current``'s site lets :data:`ROBOTS_AGENT` fetch it
        (read once per site: 2xx parsed; 401/403 disallow all and other 4xx allow all, as
        :mod:`urllib.robotparser` does; a 5xx is a :class:`FetchError`)."""
        site = httpx.URL(current)
        key = f"{site.scheme}://{site.netloc.decode('ascii')}"
        parser = self._robots.get(key)
        if parser is None:
            robots_url = key + "/robots.txt"
            parser = RobotFileParser(robots_url)
            with self._open(robots_url, deadline, robots=False, accept_header="text/plain,*/*;q=0.5",
                            named=url, what="its site's robots.txt: ") as (_, response):
                status = response.status_code
                if status in (401, 403):
                    parser.parse(["User-agent: *", "Disallow: /"])
                elif 400 <= status < 500:
                    parser.parse([])  # no robots.txt: every page allowed
                elif status >= 500:
                    raise FetchError(url, f"its site's robots.txt answered {status}: the site may not be "
                                          "crawled now; not fetched.", "robots")
                else:
                    raw = self._read(url, response.iter_bytes(), deadline, MAX_ROBOTS_BYTES, limit_error=False)
                    parser.parse(raw.decode(response.charset_encoding or "utf-8", "replace").splitlines())
            self._robots[key] = parser
        return parser.can_fetch(ROBOTS_AGENT, current)

    def _send(self, url: str, request: httpx.Request, what: str = "") -> httpx.Response:
        try:
            return self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError(url, what + self._slow(), "timeout") from None
        except httpx.TransportError as exc:
            refused = _certificate_error(exc)
            if refused is not None:
                host = request.extensions.get("sni_hostname") or request.url.host
                raise FetchError(url, f"{what}the server's TLS certificate is not accepted for {host} "
                                      f"({refused}); not fetched.", "tls") from None
            raise FetchError(url, f"{what}the server cannot be reached ({short(exc)}); not fetched.", "down") from None

    def _first(self, url: str, chunks: Iterator[bytes]) -> bytes:
        """The first piece of a body (to tell what it is when its media type does not say)."""
        with self._errors(url):
            return next(chunks, b"")

    def _read(self, url: str, chunks: Iterator[bytes], deadline: float, limit: int, *, limit_error: bool) -> bytes:
        """The rest of a body, decompressed, read as it comes: over ``limit`` bytes is a
        :class:`FetchError` (``limit_error``) or cut there; past the deadline, a timeout."""
        parts: list[bytes] = []
        size = 0
        with self._errors(url):
            for part in chunks:
                size += len(part)
                if size > limit:
                    if limit_error:
                        raise FetchError(url, self._too_big(None), "too-big")
                    parts.append(part[:len(part) - (size - limit)])
                    break
                parts.append(part)
                if time.monotonic() > deadline:
                    raise FetchError(url, self._slow(), "timeout")
        return b"".join(parts)

    @contextmanager
    def _errors(self, url: str) -> Iterator[None]:
        """httpx's errors while a body is read, as :class:`FetchError` s naming ``url``."""
        try:
            yield
        except httpx.TimeoutException:
            raise FetchError(url, self._slow(), "timeout") from None
        except httpx.TransportError as exc:
            raise FetchError(url, f"the server's answer broke off ({short(exc)}); not fetched.", "down") from None
        except httpx.DecodingError as exc:
            raise FetchError(url, f"the server's answer cannot be decoded ({short(exc)}); not fetched.",
                             "down") from None

    def _left(self, url: str, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(url, self._slow(), "timeout")
        return left

    def _slow(self) -> str:
        return (f"no complete answer within {self.timeout:g} s (raise the limit with RAG_FETCH_TIMEOUT=…); "
                "skipped.")

    def _too_big(self, size: int | None) -> str:
        said = f"{size / 1024 / 1024:,.1f} MB, " if size is not None else ""
        return (f"{said}over the {self.max_bytes / 1024 / 1024:.3g} MB limit for an article (raise it with "
                "RAG_MAX_FILE_MB=…); skipped.")


def _certificate_error(exc: BaseException) -> str | None:
    """Why the server's certificate was refused, when that is what ``exc`` (httpx's error,
    raised from httpcore's, raised from :mod:`ssl`'s) comes from: ``Hostname mismatch,
    certificate is not valid for 'news.example'.``, ``self-signed certificate``…"""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or cause)[:160].rstrip(".")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


#: What an article's fetch is called in its messages.
ARTICLE_WHAT = "a web page, PDF or DOCX"
_ZIP_MAGIC = b"PK\x03\x04"


def article_format(media: str, data: bytes, url: str) -> str | None:
    """What an article served as ``media`` from ``url`` is: ``"html"``, ``"pdf"`` or
    ``"docx"``, or None (not an article). Its media type says so; one that says nothing (none,
    or one of :data:`GENERIC_TYPES`, ``application/octet-stream``…) leaves it to its bytes
    (``%PDF-`` within the first KiB, a zip holding ``word/``, ``<html``), then to the
    address's suffix (``.pdf``, ``.docx``). A file that is not what it says is then refused
    by its reader, naming the URL.

    >>> article_format("application/pdf", b"", "https://a.example/x")
    'pdf'
    >>> article_format("application/octet-stream", b"PK\\x03\\x04 word/document.xml", "https://a.example/?id=3")
    'docx'
    >>> article_format("application/octet-stream", b"", "https://a.example/files/report.PDF")
    'pdf'
    >>> article_format("", b"<!DOCTYPE html><html>", "https://a.example/")
    'html'
    >>> article_format("image/png", b"", "https://a.example/a.pdf") is None
    True
    """
    if media in HTML_TYPES:
        return "html"
    if media in PDF_TYPES:
        return "pdf"
    if media in DOCX_TYPES:
        return "docx"
    if media and media not in GENERIC_TYPES:
        return None
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(_ZIP_MAGIC) and b"word/" in data:
        return "docx"
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in (".pdf", ".docx"):
        return suffix[1:]
    if not media and _is_html(data):
        return "html"
    return None


def _may_be_article(media: str, head: bytes, url: str) -> bool:
    """Whether to read the body of what ``url`` serves as an article: :func:`article_format`
    knows it from what came so far, or it is a zip served as nothing in particular (its
    ``word/`` parts may come later: :meth:`Fetcher.page` asks again on the whole body)."""
    if article_format(media, head, url) is not None:
        return True
    return (not media or media in GENERIC_TYPES) and head.startswith(_ZIP_MAGIC)


def _is_html(head: bytes) -> bool:
    """An HTML page by its first bytes."""
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _is_feed_type(media: str, head: bytes, url: str) -> bool:
    """What a feed may be served as: XML of any kind, or text (feedparser then decides)."""
    return not media or "xml" in media or media.startswith("text/")


__all__ = ["ARTICLE_ACCEPT", "DOCX_TYPES", "GENERIC_TYPES", "HTML_TYPES", "MAX_REDIRECTS", "PDF_TYPES", "USER_AGENT",
           "Fetched", "Fetcher", "article_format", "refused_address", "system_resolver"]
