"""Who may use the page, and how a write proves it comes from the page.

* **Loopback without a password** (the default): whoever reaches 127.0.0.1 is the host's own
  user; a session is opened on the first visit (user ``local``).
* **With ``[web] password_hash``** every page but the login needs a session from a login.
* **Writes** (settings, actions, logout) need the session's CSRF token in the
  ``X-CSRF-Token`` header, and an ``Origin``, when the browser sends one, equal to the page's
  own: another site can neither read the token nor forge the header.
* **Cookies**: ``HttpOnly`` (no script reads them), ``SameSite=Strict`` (never sent from
  another site), ``Secure`` with ``[web] behind_tls``; ``Path=/``; they last as long as the
  session.
* **Headers**: a strict Content-Security-Policy (only this process's own scripts and
  styles; nothing from elsewhere), no framing, no sniffing, no referrer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from smavenus.config.web import WebConfig
from smavenus.web.auth import LoginLimiter, Session, Sessions, csrf_ok

COOKIE = "smavenus_session"
CSRF_HEADER = "X-CSRF-Token"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    def __init__(self, cfg: WebConfig) -> None:
        self.cfg = cfg
        self.sessions = Sessions(max_age_s=cfg.session_max_age_s)
        self.limiter = LoginLimiter(cfg.login_attempts, cfg.login_window_s)

    @property
    def needs_login(self) -> bool:
        return self.cfg.password_hash is not None

    def session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE), time.monotonic())

    def open(self, response: web.StreamResponse, user: str) -> Session:
        session = self.sessions.open(user, time.monotonic())
        response.set_cookie(
            COOKIE, session.token, max_age=int(self.cfg.session_max_age_s), path="/",
            httponly=True, samesite="Strict", secure=self.cfg.behind_tls,
        )  # fmt: skip
        return session

    def close(self, request: web.Request, response: web.StreamResponse) -> None:
        self.sessions.close(request.cookies.get(COOKIE))
        response.del_cookie(COOKIE, path="/")

    def same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser's cross-site request (those carry Origin on POST)
        return origin == f"{request.scheme}://{request.host}" or (
            self.cfg.behind_tls and origin == f"https://{request.host}"
        )

    def write_allowed(self, request: web.Request) -> Session:
        """The session behind a write, or an HTTP error saying why there is none."""
        session = self.session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="log in first", content_type="text/plain")
        if not self.same_origin(request):
            raise web.HTTPForbidden(text="cross-origin request refused", content_type="text/plain")
        if not csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise web.HTTPForbidden(text="missing or wrong CSRF token", content_type="text/plain")
        return session


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response
