"""Slowing down password guessing: a client whose sign-ins keep failing is refused a while.

:class:`SignInThrottle` wraps the page's web app (ASGI middleware) and watches its sign-in
route (``POST /login``, Gradio's): after ``attempts`` failures from one client address
within ``window`` seconds, that address's next sign-ins are refused (HTTP 429, saying
when to try again) for ``lockout`` seconds, doubled at each further lock-out up to
``window``; a successful sign-in clears the count. One sign-in at a time per address
(guesses sent in parallel would all be checked before the first failure counted), and at
most :data:`CHECKS_AT_ONCE` password checks at once in all (each takes argon2's 64 MiB).
An IPv6 client is known by its /64 network (one host may hold all of its addresses).
Behind a reverse proxy that does not pass the client's address (``X-Forwarded-For``)
every client has the proxy's, and the throttle holds for all of them together
(docs/serving.md#behind-a-reverse-proxy).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Gradio's sign-in route (the page's form and gradio_client post there).
SIGN_IN_PATHS = ("/login", "/login/")
#: Password checks running at once, from all addresses together.
CHECKS_AT_ONCE = 4
#: Addresses remembered before those with nothing pending are forgotten.
MAX_CLIENTS = 10_000


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0
    checking: bool = False  # a sign-in of this address is being checked


def client_key(address: str) -> str:
    """Who a client is for the throttle: its IPv4 address, or its IPv6 /64 network.

    >>> client_key("203.0.113.7"), client_key("2001:db8:1:2:aa::1")
    ('203.0.113.7', '2001:db8:1:2::/64')
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class SignInThrottle:
    """ASGI middleware refusing sign-ins from an address that failed too often (see module)."""

    def __init__(self, app: ASGIApp, attempts: int = 5, lockout: float = 60.0, window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.attempts = attempts
        self.lockout = lockout
        self.window = window
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._checks = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" \
                or not str(scope.get("path", "")).endswith(SIGN_IN_PATHS):
            await self.app(scope, receive, send)
            return
        address = client_key(str((scope.get("client") or ("unknown", 0))[0]))
        refusal = self._admit(address)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        status: list[int] = []

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            self._done(address)
        if status and status[0] < 300:
            self.succeeded(address)
        elif status and status[0] in (400, 401, 403):
            self.failed(address)

    def _admit(self, address: str) -> tuple[float, str] | None:
        """Let one sign-in of ``address`` be checked now, or (seconds, why) it may not."""
        with self._lock:
            client = self._clients.setdefault(address, _Client())
            wait = client.locked_until - self.clock()
            if wait > 0:
                return wait, "Too many failed sign-ins from this address"
            if client.checking:
                return 1.0, "Another sign-in from this address is being checked"
            if self._checks >= CHECKS_AT_ONCE:
                return 1.0, "Too many sign-ins at once"
            client.checking = True
            self._checks += 1
            return None

    def _done(self, address: str) -> None:
        with self._lock:
            self._checks -= 1
            client = self._clients.get(address)
            if client is not None:
                client.checking = False

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try again (0: now)."""
        with self._lock:
            client = self._clients.get(address)
            return max(0.0, client.locked_until - self.clock()) if client else 0.0

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            client = self._clients.setdefault(address, _Client())
            client.failures = [t for t in client.failures if now - t < self.window] + [now]
            if len(client.failures) >= self.attempts:
                client.locked_until = now + min(self.window, self.lockout * 2 ** client.lockouts)
                client.lockouts += 1
                client.failures = []
            if len(self._clients) > MAX_CLIENTS:  # forget the addresses with nothing pending
                for key, c in list(self._clients.items()):
                    if c.locked_until < now and not c.checking and all(now - t >= self.window for t in c.failures):
                        del self._clients[key]

    def succeeded(self, address: str) -> None:
        with self._lock:
            client = self._clients.get(address)
            if client is not None:
                client.failures, client.lockouts = [], 0


async def _refuse(send: Send, wait: float, why: str) -> None:
    seconds = max(1, round(wait))
    body = json.dumps({"detail": f"{why}: try again in {seconds} s."}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
