"""Slowing down password guessing: a client whose sign-ins keep failing is refused a while.

:class:`SignInThrottle` wraps the page's web app (ASGI middleware) and watches its sign-in
route (``POST /login``, Gradio's): after ``attempts`` failures from one client address
within ``window`` seconds, that address's next sign-ins are refused (HTTP 429, saying
when to try again) for ``lockout`` seconds, doubled at each further lock-out up to
``window``; a successful sign-in clears the count. Behind a reverse proxy every client
has the proxy's address, so the throttle then holds for all of them together
(docs/serving.md#behind-a-reverse-proxy).
"""

from __future__ import annotations

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


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


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
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" \
                or not str(scope.get("path", "")).endswith(SIGN_IN_PATHS):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self.wait(address)
        if wait > 0:
            await _refuse(send, wait)
            return
        status: list[int] = []

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watched)
        if status and status[0] < 300:
            self.succeeded(address)
        elif status and status[0] in (400, 401, 403):
            self.failed(address)

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
            if len(self._clients) > 10_000:  # many addresses: forget those with nothing pending
                for key in [k for k, c in self._clients.items() if c.locked_until < now and not c.failures]:
                    del self._clients[key]

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._clients.pop(address, None)


async def _refuse(send: Send, wait: float) -> None:
    seconds = max(1, round(wait))
    body = json.dumps({"detail": f"Too many failed sign-ins from this address: try again in {seconds} s."}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
