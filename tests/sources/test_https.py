"""The fetcher over real TLS: an https server on 127.0.0.1 (http.server wrapped by
:mod:`ssl`) with certificates made here by the ``openssl`` command (a test authority and a
server certificate for a name), and a :class:`Fetcher` trusting that authority through its
``verify`` argument. The request goes to the address that was checked, with the host's name
in ``Host``, in SNI and for the certificate check; a certificate for another name, or from an
authority the fetcher does not trust, is refused with a :class:`FetchError` saying so."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.errors import FetchError
from rag.sources.fetch import Fetcher

PAGE = b"<!doctype html><html><body><article><p>Le texte.</p></article></body></html>"
#: A name no DNS knows: only the fetcher's resolver (the test's) gives it an address.
UNKNOWN_NAME = "news.test"


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Certificates:
    """A test certificate authority, and server certificates signed by it (name -> (cert, key))."""

    ca: Path
    servers: dict[str, tuple[Path, Path]]

    def trusted(self) -> ssl.SSLContext:
        """A client context that trusts the test authority (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Elliptic-curve keys (made in milliseconds): an authority, a server certificate for
    ``localhost`` and :data:`UNKNOWN_NAME`, and one for ``elsewhere.test``."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificates")
    folder = tmp_path_factory.mktemp("tls")
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=newsrag test authority", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    servers = {}
    for serial, (name, alt_names) in enumerate({"localhost": ["localhost", UNKNOWN_NAME],
                                                "elsewhere.test": ["elsewhere.test"]}.items(), 1):
        (folder / f"{name}.cnf").write_text(
            f"subjectAltName={','.join(f'DNS:{n}' for n in alt_names)}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
        _openssl("req", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
                 str(serial), "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.cnf", cwd=folder)
        servers[name] = (folder / f"{name}.pem", folder / f"{name}.key")
    return Certificates(folder / "ca.pem", servers)


@dataclass
class TlsSite:
    """What the https server saw: the SNI name of each handshake, and (Host, path) of each request."""

    port: int = 0
    sni: list[str | None] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def https_site(certificates: Certificates) -> Iterator[Callable[[str], TlsSite]]:
    """``https_site(name)``: an https server on a free port of 127.0.0.1 presenting the
    server certificate made for ``name``; it serves ``/page`` and no robots.txt (404)."""
    servers: list[ThreadingHTTPServer] = []

    def start(name: str) -> TlsSite:
        site = TlsSite()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                site.requests.append((self.headers.get("Host", ""), self.path))
                body, status = (PAGE, 200) if self.path == "/page" else (b"", 404)
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificates.servers[name])
        context.sni_callback = lambda sock, server_name, ctx: site.sni.append(server_name)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        site.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="https-site",
                         daemon=True).start()
        servers.append(server)
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def resolver(asked: list[str]) -> Callable[[str, int], list[str]]:
    """A resolver that gives every name 127.0.0.1 (the server's only address, where the
    system's might give ``localhost`` ``::1`` first), recording the names asked."""
    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]
    return resolve


@pytest.mark.parametrize("host", ["localhost", UNKNOWN_NAME])
def test_https_goes_to_the_checked_address_with_the_hosts_name_for_host_sni_and_the_certificate(
        certificates, https_site, host):
    site = https_site("localhost")
    asked: list[str] = []
    url = f"https://{host}:{site.port}/page"
    with Fetcher(timeout=5, max_bytes=100_000, allow_private=True, resolve=resolver(asked),
                 verify=certificates.trusted()) as fetcher:
        page = fetcher.page(url)
    assert (page.body, page.final_url, page.format) == (PAGE, url, "html")
    # robots.txt then the page, each on its own connection: the name in SNI and Host every time
    assert site.requests == [(f"{host}:{site.port}", "/robots.txt"), (f"{host}:{site.port}", "/page")]
    assert site.sni == [host, host]
    assert asked == [host, host]  # resolved once per request, by the fetcher: the connection went to that address


def test_a_certificate_for_another_name_is_refused(certificates, https_site):
    site = https_site("elsewhere.test")
    url = f"https://localhost:{site.port}/page"
    with Fetcher(timeout=5, max_bytes=100_000, allow_private=True, resolve=resolver([]),
                 verify=certificates.trusted()) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.page(url)
    error = caught.value
    assert error.kind == "tls" and error.url == url
    assert str(error) == (f"{url}: its site's robots.txt: the server's TLS certificate is not accepted for "
                          "localhost (Hostname mismatch, certificate is not valid for 'localhost'); not fetched.")
    assert site.sni == ["localhost"] and site.requests == []  # nothing was asked over that connection


def test_a_certificate_from_an_authority_not_trusted_is_refused(https_site):
    site = https_site("localhost")
    url = f"https://localhost:{site.port}/page"
    with Fetcher(timeout=5, max_bytes=100_000, allow_private=True, resolve=resolver([])) as fetcher, \
            pytest.raises(FetchError) as caught:
        fetcher.page(url)  # the default: the authorities certifi ships, which do not include the test's
    assert caught.value.kind == "tls"
    assert "the server's TLS certificate is not accepted for localhost (unable to get local issuer certificate)" \
        in caught.value.reason
    assert site.requests == []
