"""Web addresses as newsrag keeps and shows them: http(s) only, one spelling per page.

An article's URL travels from its front matter into the index, the answer JSON, the
page's "Open original" link and the terminal. Other programs may render it as a link, so
only ``http``/``https`` addresses are ever kept: a ``javascript:``, ``data:`` or ``file:``
URL from an article file is dropped where it is read. One spelling per page
(:func:`canonical_url`) lets the same article fetched twice be recognised.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: The only schemes newsrag fetches, stores or links to.
WEB_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# whitespace or control characters have no place in an address (a header split, a spoofed link)
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")
# query parameters that only say where a reader came from: the same page without them
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|xtor)$", re.I)


def web_url(url: str | None) -> str | None:
    """``url`` stripped when it is an absolute ``http``/``https`` address with a host,
    else None (what is stored, linked and printed).

    >>> web_url(" https://example.org/a "), web_url("javascript:alert(1)"), web_url("/relative")
    ('https://example.org/a', None, None)
    """
    if not url:
        return None
    url = url.strip()
    if not url or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return url


def canonical_url(url: str) -> str:
    """One spelling of a page's address, so that the same article is recognised however a
    feed or a redirect wrote it: scheme and host in lower case, default port, fragment and
    tracking parameters (``utm_*``, ``fbclid``…) dropped, an empty path written ``/``.

    >>> canonical_url("HTTPS://News.Example.org:443/a/b?utm_source=rss&id=3#comments")
    'https://news.example.org/a/b?id=3'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING.match(k)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))
