"""The dashboard over HTTP (aiohttp): the page, its JSON, server-sent events and the writes.

Every asset is served by this process from the package (``smavenus/data/web``); nothing is
fetched from elsewhere. Updates are pushed as server-sent events (``/api/events``): at most
one ``live`` event a second (changes coalesce), a ``point`` event per chart point. HTTP
input is validated with pydantic at the door: a bad request gets a 400 with the reason and
changes nothing. Every write and action is logged with who (the session's user and the
address) and when.
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources
from typing import Any, Literal

import structlog
from aiohttp import web
from dbus_fast.errors import DBusError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smavenus.config import AppConfig
from smavenus.io.web.bus import WebBus
from smavenus.io.web.security import Guard, security_headers
from smavenus.ipc import names
from smavenus.web.auth import Session, verify_password
from smavenus.web.history import History, sample_of
from smavenus.web.settings_form import effective_config, envelope, judge, setting_rows
from smavenus.web.view import live_view

log = structlog.get_logger("smavenus.web")

STATIC = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "chart.js": "text/javascript",
}
#: At most one ``live`` event per this many seconds (changes in between coalesce).
PUSH_INTERVAL_S = 1.0
#: A client that does not read its events is dropped when this many are waiting.
CLIENT_QUEUE = 32


class SettingChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=64)
    value: str | float | bool = Field(union_mode="left_to_right")


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: Literal[True] = Field(description="the page's confirmation dialog said yes")


Action = Literal["full_charge", "acknowledge", "si_on", "si_off"]


def _end(queue: asyncio.Queue[str]) -> None:
    """Make the stream reading ``queue`` end (an empty line ends it), even when it is full."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait("")


def asset(name: str) -> bytes:
    return resources.files("smavenus").joinpath("data").joinpath("web").joinpath(name).read_bytes()


def _bad_request(exc: ValidationError) -> web.HTTPBadRequest:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return web.HTTPBadRequest(
        text=json.dumps({"error": f"{where}: {first['msg']}"}), content_type="application/json"
    )


class WebServer:
    def __init__(self, cfg: AppConfig, bus: WebBus) -> None:
        self.cfg = cfg
        self.bus = bus
        self.guard = Guard(cfg.web)
        self.history = History(cfg.web.history_hours, cfg.web.history_interval_s)
        self._clients: set[asyncio.Queue[str]] = set()
        self._push: asyncio.TimerHandle | None = None
        self._last_push = 0.0
        self.app = web.Application(middlewares=[security_headers], client_max_size=16 * 1024)
        self.app.add_routes(
            [
                web.get("/", self.index),
                web.get("/login", self.login_page),
                web.post("/login", self.login),
                web.post("/logout", self.logout),
                web.get("/static/{name}", self.static),
                web.get("/api/state", self.state),
                web.get("/api/history", self.history_json),
                web.get("/api/events", self.events),
                web.post("/api/settings", self.change_setting),
                web.post("/api/actions/{action}", self.action),
            ]
        )

    # -- what changed on the bus ---------------------------------------------------------------

    def changed(self, what: str) -> None:
        now_unix = time.time()
        if what in ("snapshot", "status") and self.history.due(now_unix):
            view = live_view(self.bus.latest, time.monotonic(), now_unix)
            point = self.history.add(now_unix, sample_of(view))
            self._send("point", point)
        if self._push is None:
            loop = asyncio.get_running_loop()
            delay = max(self._last_push + PUSH_INTERVAL_S - loop.time(), 0.0)
            self._push = loop.call_later(delay, self._push_live)

    def close_streams(self) -> None:
        """End every event stream (at shutdown: the handlers return at once)."""
        if self._push is not None:
            self._push.cancel()
            self._push = None
        for queue in list(self._clients):
            _end(queue)
        self._clients.clear()

    def _push_live(self) -> None:
        self._push = None
        self._last_push = asyncio.get_running_loop().time()
        if self._clients:
            self._send("live", self.live())

    def _send(self, event: str, data: Any) -> None:
        line = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        for queue in list(self._clients):
            if queue.full():
                self._clients.discard(queue)  # a stuck reader: its stream ends, it reconnects
                _end(queue)
            else:
                queue.put_nowait(line)

    def live(self) -> dict[str, Any]:
        cfg = effective_config(self.cfg, self.bus.stored)
        view = live_view(self.bus.latest, time.monotonic(), time.time())
        view["settings"] = {
            "rows": setting_rows(cfg),
            "envelope": envelope(cfg),
            "writable": self.settings_writable(),
        }
        return view

    def settings_writable(self) -> str | None:
        """None when settings can be changed here, else why not."""
        if self.cfg.web.read_only:
            return "read-only mode ([web] read_only)"
        if not self.bus.settings.available:
            return "no localsettings: the controller's settings come from the TOML file"
        return None

    # -- pages ---------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        session = self.guard.session(request)
        if session is None and self.guard.needs_login:
            raise web.HTTPSeeOther("/login")
        response = web.Response(body=asset("index.html"), content_type="text/html")
        if session is None:
            self.guard.open(response, "local")
        return response

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        if not self.guard.needs_login:
            raise web.HTTPSeeOther("/")
        page = asset("login.html")
        if request.query.get("failed"):  # a fixed text: nothing from the request is echoed
            page = page.replace(b"<!--message-->", b'<p class="msg error">Wrong password.</p>')
        return web.Response(body=page, content_type="text/html")

    async def login(self, request: web.Request) -> web.StreamResponse:
        address = request.remote or "?"
        now = time.monotonic()
        wait = self.guard.limiter.retry_after(address, now)
        if wait > 0:
            log.warning("web_login_throttled", address=address, retry_after_s=round(wait))
            raise web.HTTPTooManyRequests(
                text=f"too many failed logins: try again in {wait:.0f} s",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        form = await request.post()
        password = form.get("password")
        expected = self.cfg.web.password_hash
        if not isinstance(password, str) or len(password) > 1024 or expected is None:
            raise web.HTTPBadRequest(text="a password is expected")
        if not await asyncio.to_thread(verify_password, password, expected):
            self.guard.limiter.failed(address, now)
            log.warning("web_login_failed", address=address)
            raise web.HTTPSeeOther("/login?failed=1")
        self.guard.limiter.succeeded(address)
        response = web.HTTPSeeOther("/")
        self.guard.open(response, "admin")
        log.info("web_login", address=address)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.guard.write_allowed(request)
        response = web.HTTPSeeOther("/login" if self.guard.needs_login else "/")
        self.guard.close(request, response)
        raise response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=asset(name), content_type=STATIC[name])

    # -- data ----------------------------------------------------------------------------------

    def _reader(self, request: web.Request) -> Session:
        session = self.guard.session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="log in first")
        return session

    async def state(self, request: web.Request) -> web.StreamResponse:
        session = self._reader(request)
        body = self.live() | {
            "session": {"user": session.user, "csrf": session.csrf},
            "read_only": self.cfg.web.read_only,
            "needs_login": self.guard.needs_login,
            "remote_on_off": self.cfg.gateway.enable_remote_on_off,
        }
        return web.json_response(body)

    async def history_json(self, request: web.Request) -> web.StreamResponse:
        self._reader(request)
        return web.json_response(self.history.columns())

    async def events(self, request: web.Request) -> web.StreamResponse:
        self._reader(request)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(CLIENT_QUEUE)
        self._clients.add(queue)
        try:
            live = self.live()
            await response.write(f"event: live\ndata: {json.dumps(live)}\n\n".encode())
            while line := await queue.get():
                await response.write(line.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response

    # -- writes --------------------------------------------------------------------------------

    def _writer(self, request: web.Request) -> Session:
        session = self.guard.write_allowed(request)
        if self.cfg.web.read_only:
            raise web.HTTPForbidden(text="read-only mode ([web] read_only)")
        return session

    @staticmethod
    def _who(request: web.Request, session: Session) -> str:
        return f"web {session.user}@{request.remote or '?'}"

    async def change_setting(self, request: web.Request) -> web.StreamResponse:
        session = self._writer(request)
        try:
            change = SettingChange.model_validate_json(await request.read())
        except ValidationError as exc:
            raise _bad_request(exc) from None
        why_not = self.settings_writable()
        if why_not is not None:
            raise web.HTTPConflict(
                text=json.dumps({"error": why_not}), content_type="application/json"
            )
        cfg = effective_config(self.cfg, self.bus.stored)
        verdict = judge(cfg, change.key, change.value)
        who = self._who(request, session)
        if verdict.setting is None:
            log.info(
                "web_setting_refused",
                key=change.key,
                value=change.value,
                reason=verdict.reason,
                by=who,
            )
            return web.json_response({"accepted": False, "error": verdict.reason}, status=422)
        path = next(r["path"] for r in setting_rows(cfg) if r["key"] == change.key)
        if not await self.bus.write_setting(path, verdict.setting):
            log.warning("web_setting_not_stored", key=change.key, value=verdict.setting, by=who)
            return web.json_response(
                {"accepted": False, "error": "localsettings refused the value"}, status=422
            )
        log.info(
            "web_setting_written",
            key=change.key,
            value=verdict.setting,
            path=path,
            by=who,
            unix=round(time.time(), 3),
        )
        return web.json_response({"accepted": True, "key": change.key, "value": verdict.value})

    async def action(self, request: web.Request) -> web.StreamResponse:
        session = self._writer(request)
        action = request.match_info["action"]
        if action not in ("full_charge", "acknowledge", "si_on", "si_off"):
            raise web.HTTPNotFound()
        try:
            ActionRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            raise _bad_request(exc) from None
        who = self._who(request, session)
        log.info("web_action_requested", action=action, by=who, unix=round(time.time(), 3))
        try:
            result = await self._carry_out(action, who)
        except (DBusError, asyncio.TimeoutError) as exc:
            log.warning("web_action_failed", action=action, by=who, error=str(exc))
            return web.json_response(
                {"accepted": False, "error": str(exc) or "no answer"}, status=502
            )
        log.info("web_action_done", action=action, by=who, **result)
        return web.json_response(result, status=200 if result["accepted"] else 409)

    async def _carry_out(self, action: str, who: str) -> dict[str, Any]:
        if action in ("si_on", "si_off"):
            if not self.cfg.gateway.enable_remote_on_off:
                return {"accepted": False, "error": "[gateway] enable_remote_on_off is off"}
            answer = await self.bus.remote_on_off(action == "si_on")
            return {"accepted": True, "answer": answer}
        member = (
            names.START_FULL_CHARGE_METHOD
            if action == "full_charge"
            else names.ACKNOWLEDGE_ALARMS_METHOD
        )
        outcome = await self.bus.controller_request(member, who)
        return {
            "accepted": outcome.accepted,
            "error": outcome.reason,
            "released": list(outcome.released),
        }
