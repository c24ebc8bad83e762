"""Ending sign-ins that no longer hold: an account removed, or its password changed.

Gradio keeps each sign-in as a token (a cookie) that lasts until the browser signs out;
it does not know that ``rag users remove`` or ``rag users add … --replace`` ran meanwhile.
:class:`SessionGuard` (ASGI middleware around the page's web app) looks at the token of
every request: when its account is gone, or its password hash is not the one it signed in
with, the token is forgotten before Gradio reads it, so the request is answered as from
someone signed out (the sign-in page, HTTP 401 for the API).
"""

from __future__ import annotations

import http.cookies
import threading
from collections.abc import Iterator
from typing import Any

from rag.web.accounts import Access
from rag.web.throttle import SIGN_IN_PATHS, ASGIApp, Message, Receive, Scope, Send

#: Gradio's sign-in cookies: ``access-token-<id>`` and ``access-token-unsecure-<id>``.
COOKIE_PREFIXES = ("access-token-", "access-token-unsecure-")


class SessionGuard:
    """ASGI middleware voiding the sign-ins of removed accounts and changed passwords."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access
        self._signed_with: dict[str, str] = {}  # token -> the password hash it signed in with
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("app")  # Gradio's App (Starlette sets it): its tokens and cookie id
        tokens: dict[str, str] | None = getattr(server, "tokens", None)
        cookie_id = getattr(server, "cookie_id", None)
        if scope.get("type") not in ("http", "websocket") or tokens is None or cookie_id is None:
            await self.app(scope, receive, send)
            return
        for token in _tokens(scope.get("headers", []), cookie_id):
            self._check(tokens, token)
        if scope.get("method") == "POST" and str(scope.get("path", "")).endswith(SIGN_IN_PATHS):
            await self.app(scope, receive, self._recording(send, tokens, cookie_id))
        else:
            await self.app(scope, receive, send)

    def _check(self, tokens: dict[str, str], token: str) -> None:
        name = tokens.get(token)
        if name is None:
            return
        current = self.access.accounts.password_hash(name) if self.access.accounts is not None else None
        with self._lock:
            signed = self._signed_with.setdefault(token, current or "")
        if current is None or current != signed:
            tokens.pop(token, None)
            with self._lock:
                self._signed_with.pop(token, None)

    def _recording(self, send: Send, tokens: dict[str, str], cookie_id: str) -> Send:
        """``send``, noting the password hash a new sign-in's token was given with."""
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                for token in _tokens(message.get("headers", []), cookie_id, header=b"set-cookie"):
                    name = tokens.get(token)
                    if name is not None and self.access.accounts is not None:
                        with self._lock:
                            self._signed_with[token] = self.access.accounts.password_hash(name) or ""
                with self._lock:  # tokens signed out since: forget them too
                    for gone in [t for t in self._signed_with if t not in tokens]:
                        del self._signed_with[gone]
            await send(message)
        return sending


def _tokens(headers: Any, cookie_id: str, header: bytes = b"cookie") -> Iterator[str]:
    """Gradio's sign-in tokens in ``headers`` (request cookies, or the cookies a response sets)."""
    names = {prefix + cookie_id for prefix in COOKIE_PREFIXES}
    for key, value in headers:
        if key.lower() != header:
            continue
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except http.cookies.CookieError:
            continue
        for name in names & set(jar):
            yield jar[name].value
