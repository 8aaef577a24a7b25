"""A real headless Chromium for the page's tests, driven over the DevTools protocol.

Debian's ``chromium`` is started with a fresh profile and ``--remote-debugging-port=0``; the
port it chose is read from ``DevToolsActivePort`` in the profile, and one page target is
driven through aiohttp's WebSocket client (already the web process's dependency, so nothing
else is installed: no chromedriver, no selenium). Enough for the tests: open a URL, run
JavaScript and get its value, click, set the window size, take a screenshot.

    async with Browser(tmp_path / "chromium") as browser:
        await browser.open("http://127.0.0.1:8088/")
        title = await browser.evaluate("document.title")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from smavenus.io.tasks import OwnedTasks

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
)


def chromium_command() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        self.profile = profile
        self.size = (width, height)
        self._process: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks("browser", on_failure=self._reader_failed)
        self.console: list[str] = []  #: console messages and uncaught exceptions of the page

    async def __aenter__(self) -> Browser:
        self._process = self._launch()
        width, height = self.size
        port = await self._devtools_port()
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as reply:
            targets = await reply.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = self._tasks.spawn(self._read(), "devtools_reader")
        for domain in ("Page", "Runtime"):
            await self.send(f"{domain}.enable")
        await self.resize(width, height)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None:
            self._process.terminate()
            try:
                await asyncio.to_thread(self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def _launch(self) -> subprocess.Popen[bytes]:
        command = chromium_command()
        if command is None:
            raise BrowserError("chromium is not installed (Debian package: chromium)")
        self.profile.mkdir(parents=True, exist_ok=True)
        width, height = self.size
        with (self.profile / "chromium.log").open("wb") as log:  # the child keeps its copy
            return subprocess.Popen(
                [command, *FLAGS, f"--user-data-dir={self.profile}",
                 f"--window-size={width},{height}", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    async def _devtools_port(self, timeout_s: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if marker.exists() and (text := marker.read_text().split()):
                return int(text[0])
            if self._process is not None and self._process.poll() is not None:
                raise BrowserError(f"chromium exited with {self._process.returncode}")
            await asyncio.sleep(0.05)
        raise BrowserError("chromium did not open its DevTools port")

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._replies:
                self._replies.pop(data["id"]).set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"]["args"]
                words = (str(a.get("value", a.get("description"))) for a in args)
                self.console.append(" ".join(words))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append("exception: " + json.dumps(data["params"]["exceptionDetails"]))

    def _reader_failed(self, _task: str, exc: BaseException) -> None:
        """No reply can come any more: every request waiting for one fails now, not later."""
        replies, self._replies = self._replies, {}
        for future in replies.values():
            if not future.done():
                future.set_exception(BrowserError(f"the DevTools reader failed: {exc!r}"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = future
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def resize(self, width: int, height: int, mobile: bool = False) -> None:
        self.size = (width, height)
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1 if not mobile else 3, mobile=mobile,
        )  # fmt: skip

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (promises awaited) and return its JSON value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Evaluate until truthy (a generous deadline, not a sleep); return the value."""
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(BrowserError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {expression}")
            await asyncio.sleep(0.05)

    async def click(self, selector: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            }
        result = await self.send("Page.captureScreenshot", **params)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(result["data"]))
        return path
