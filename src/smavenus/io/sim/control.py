"""The simulator's control socket: JSON lines over a Unix socket (requests in ``sim.control``).

Server: :class:`ControlServer` answers each request line with one JSON line,
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Client: :func:`request` (blocking,
for the CLI and tests): ``request(path, {"cmd": "apply", "event": {"action": "adapter",
"state": "unplug"}})``. Try it by hand with ``socat - UNIX-CONNECT:PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from smavenus.sim.control import BadRequestError, parse_request

log = structlog.get_logger(__name__)

#: Takes a validated request, returns the reply body (raises ValueError to refuse).
Handler = Callable[[Any], Awaitable[dict[str, Any]]]
MAX_LINE = 64 * 1024


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        log.info("control_socket_listening", path=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._clients):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await self._reply(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        except Exception as exc:  # asyncio would keep it in a task nobody awaits
            log.error("control_client_failed", error=repr(exc), exc_info=exc)
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()

    async def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            req = parse_request(line)
            body = await self._handler(req)
        except (BadRequestError, ValueError) as exc:
            log.info("control_request_refused", reason=str(exc))
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug behind the socket: logged here, answered, not lost
            log.error("control_request_failed", error=repr(exc), exc_info=exc)
            return {"ok": False, "error": f"internal error: {exc!r}"}
        return {"ok": True, **body}


def request(path: Path | str, body: dict[str, Any], *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running simulator and return its reply (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(path))
        sock.sendall(json.dumps(body).encode() + b"\n")
        buffer = b""
        while not buffer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the simulator closed the control socket")
            buffer += chunk
    reply: dict[str, Any] = json.loads(buffer)
    return reply
