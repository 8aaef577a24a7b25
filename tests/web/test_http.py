"""smavenus-web over HTTP: who may read, who may write, the login limit, and the refusal to
listen beyond this host without a password. The real server (aiohttp's test server) on a real
private D-Bus; no peer is needed to judge access."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from smavenus.config import AppConfig, parse_config
from smavenus.io.dbus import connect_system_bus
from smavenus.io.web.bus import WebBus
from smavenus.io.web.security import COOKIE, CSRF_HEADER, SECURITY_HEADERS
from smavenus.io.web.server import WebServer
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.web.auth import hash_password

PASSWORD = "correct horse battery"
Factory = Callable[..., Any]


def config(tmp_path: Path, **web: Any) -> AppConfig:
    return parse_config({"paths": {"state_dir": str(tmp_path)}, "web": web})


@pytest.fixture
async def make_client(
    dbus_daemon: PrivateDbusDaemon,
) -> AsyncIterator[Factory]:
    made: list[tuple[TestClient[Any, Any], WebBus, Any]] = []

    async def make(cfg: AppConfig) -> TestClient[Any, Any]:
        bus = await connect_system_bus()
        server: list[WebServer] = []
        dbus = WebBus(bus, lambda what: server[0].changed(what) if server else None)
        server.append(WebServer(cfg, dbus))
        await dbus.start()
        client: TestClient[Any, Any] = TestClient(TestServer(server[0].app))
        await client.start_server()
        made.append((client, dbus, bus))
        return client

    yield make
    for client, dbus, bus in made:
        await client.close()
        await dbus.stop()
        bus.disconnect()


async def session(client: TestClient[Any, Any]) -> str:
    """Open the page as a browser would; returns the session's CSRF token."""
    page = await client.get("/")
    assert page.status == 200
    state = await client.get("/api/state")
    assert state.status == 200
    body = await state.json()
    return str(body["session"]["csrf"])


async def test_loopback_without_password_gives_a_session_with_strict_cookies(
    tmp_path: Path, make_client: Factory
) -> None:
    client = await make_client(config(tmp_path))
    page = await client.get("/")
    cookie = page.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert "Secure" not in cookie
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value
    assert "'self'" in page.headers["Content-Security-Policy"]


async def test_cookies_are_secure_behind_tls(tmp_path: Path, make_client: Factory) -> None:
    client = await make_client(config(tmp_path, behind_tls=True))
    page = await client.get("/")
    assert "Secure" in page.headers["Set-Cookie"]


async def test_the_api_needs_a_session(tmp_path: Path, make_client: Factory) -> None:
    client = await make_client(config(tmp_path))
    login = await client.get("/login", allow_redirects=False)
    assert login.status == 303  # no password: nothing to log in to
    for path in ("/api/state", "/api/history", "/api/events"):
        assert (await client.get(path)).status == 401, path


async def test_every_write_needs_the_csrf_token(tmp_path: Path, make_client: Factory) -> None:
    client = await make_client(config(tmp_path))
    csrf = await session(client)
    writes = [
        ("/api/settings", {"key": "bulk_current_a", "value": "50"}),
        ("/api/actions/full_charge", {"confirm": True}),
        ("/api/actions/acknowledge", {"confirm": True}),
        ("/logout", {}),
    ]
    for path, body in writes:
        missing = await client.post(path, json=body)
        assert missing.status == 403, path
        assert "CSRF" in await missing.text()
        wrong = await client.post(path, json=body, headers={CSRF_HEADER: csrf[::-1]})
        assert wrong.status == 403, path
    foreign = await client.post(
        "/api/actions/acknowledge", json={"confirm": True},
        headers={CSRF_HEADER: csrf, "Origin": "http://evil.example"},
    )  # fmt: skip
    assert foreign.status == 403
    assert "cross-origin" in await foreign.text()


async def test_bad_input_is_refused_with_its_reason_and_changes_nothing(
    tmp_path: Path, make_client: Factory
) -> None:
    client = await make_client(config(tmp_path))
    headers = {CSRF_HEADER: await session(client)}
    unconfirmed = await client.post("/api/actions/full_charge", json={}, headers=headers)
    assert unconfirmed.status == 400
    assert "confirm" in (await unconfirmed.json())["error"]
    extra = await client.post(
        "/api/settings", json={"key": "bulk_current_a", "value": "1", "x": 1}, headers=headers
    )
    assert extra.status == 400
    garbage = await client.post("/api/settings", data=b"{not json", headers=headers)
    assert garbage.status == 400
    unknown = await client.post(
        "/api/actions/self_destruct", json={"confirm": True}, headers=headers
    )
    assert unknown.status == 404
    # without localsettings the settings come from the TOML file: nothing to write to
    nowhere = await client.post(
        "/api/settings", json={"key": "bulk_current_a", "value": "50"}, headers=headers
    )
    assert nowhere.status == 409
    assert "TOML" in (await nowhere.json())["error"]


async def test_read_only_mode_refuses_every_write(tmp_path: Path, make_client: Factory) -> None:
    client = await make_client(config(tmp_path, read_only=True))
    headers = {CSRF_HEADER: await session(client)}
    for path, body in (
        ("/api/settings", {"key": "bulk_current_a", "value": "50"}),
        ("/api/actions/acknowledge", {"confirm": True}),
    ):
        reply = await client.post(path, json=body, headers=headers)
        assert reply.status == 403, path
        assert "read-only" in await reply.text()
    assert (await (await client.get("/api/state")).json())["read_only"] is True


async def test_with_a_password_the_page_needs_a_login(tmp_path: Path, make_client: Factory) -> None:
    client = await make_client(config(tmp_path, password_hash=hash_password(PASSWORD)))
    page = await client.get("/", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/login"
    assert COOKIE not in page.cookies
    assert (await client.get("/api/state")).status == 401
    wrong = await client.post("/login", data={"password": "guess"}, allow_redirects=False)
    assert wrong.headers["Location"] == "/login?failed=1"
    assert "Wrong password" in await (await client.get("/login?failed=1")).text()
    assert (await client.get("/api/state")).status == 401
    right = await client.post("/login", data={"password": PASSWORD}, allow_redirects=False)
    assert right.status == 303 and right.headers["Location"] == "/"
    state = await client.get("/api/state")
    assert state.status == 200
    assert (await state.json())["session"]["user"] == "admin"
    csrf = (await state.json())["session"]["csrf"]
    out = await client.post("/logout", headers={CSRF_HEADER: csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await client.get("/api/state")).status == 401


async def test_failed_logins_are_rate_limited_per_address(
    tmp_path: Path, make_client: Factory
) -> None:
    cfg = config(tmp_path, password_hash=hash_password(PASSWORD), login_attempts=3)
    client = await make_client(cfg)
    for _ in range(3):
        reply = await client.post("/login", data={"password": "guess"}, allow_redirects=False)
        assert reply.status == 303
    limited = await client.post("/login", data={"password": PASSWORD}, allow_redirects=False)
    assert limited.status == 429  # even the right password waits
    assert int(limited.headers["Retry-After"]) > 0
    assert (await client.get("/api/state")).status == 401


def run_web(cfg_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smavenus.apps.web", "--config", str(cfg_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("listen", ["0.0.0.0:8088", "[::]:8088", "192.0.2.1:8088", "gx.local:80"])
def test_it_refuses_to_listen_beyond_loopback_without_a_password(
    tmp_path: Path, listen: str
) -> None:
    cfg_file = tmp_path / "smavenus.toml"
    cfg_file.write_text(f'[web]\nlisten = "{listen}"\n')
    result = run_web(cfg_file)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "password_hash" in lines[0] and listen in lines[0]


def test_hash_password_prints_a_hash_the_config_takes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smavenus.cli", "web", "hash-password"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    line = result.stdout.strip()
    assert line.startswith('password_hash = "scrypt$') and PASSWORD not in line
    cfg = parse_config({"web": {"listen": "0.0.0.0:8088", "password_hash": line.split('"')[1]}})
    assert cfg.web.password_hash is not None
    short = subprocess.run(
        [sys.executable, "-m", "smavenus.cli", "web", "hash-password"],
        input="short\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert short.returncode != 0 and "at least" in short.stderr


async def test_the_event_stream_starts_with_the_live_view(
    tmp_path: Path, make_client: Factory
) -> None:
    client = await make_client(config(tmp_path))
    await session(client)
    stream = await client.get("/api/events")
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    first = await stream.content.readuntil(b"\n\n")
    event, data = first.decode().strip().split("\n", 1)
    assert event == "event: live"
    view = json.loads(data.removeprefix("data: "))
    assert view["si"] is None  # no gateway on this bus: nothing made up
    assert view["settings"]["writable"] is not None  # and no localsettings to write to
    stream.close()
