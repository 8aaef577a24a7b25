"""``smavenus-web``: the dashboard, a fourth small process (docs/web.md).

    smavenus-web --config /data/smavenus/smavenus.toml

Wiring only: read the configuration, refuse to listen beyond this host without a password
(exit 2, one line), follow the gateway, the controller and localsettings on the system bus
(``DBUS_SYSTEM_BUS_ADDRESS`` is honoured), serve HTTP on ``[web] listen`` until SIGTERM. It
reads D-Bus only and never touches CAN: the SI is fed whether it runs or not. Exit status:
0 stopped, 1 crashed or lost the bus (the supervisor restarts it), 2 bad configuration.
"""

from __future__ import annotations

# First: the passwords' scrypt needs OpenSSL, which smavenus.apps leaves out (see there).
import smavenus.apps.openssl_hashes  # noqa: F401

# isort: split

import asyncio
import sys
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack

import structlog
from aiohttp import web

from smavenus.config import AppConfig
from smavenus.io.dbus import connect_system_bus
from smavenus.io.web.bus import WebBus
from smavenus.io.web.server import WebServer
from smavenus.runtime import service_main, until_stopped_or_failed
from smavenus.web.listen import is_loopback, refusal, split_listen

PROCESS = "web"
PROCESS_NAME = "smavenus-web"
log = structlog.get_logger("smavenus.web")


async def run_web(cfg: AppConfig, stop: asyncio.Event) -> int:
    bus = await connect_system_bus()
    async with AsyncExitStack() as stack:
        stack.callback(bus.disconnect)
        server: WebServer | None = None

        def changed(what: str) -> None:
            if server is not None:
                server.changed(what)

        dbus = WebBus(bus, changed)
        server = WebServer(cfg, dbus)
        await dbus.start()
        stack.push_async_callback(dbus.stop)
        runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        stack.callback(server.close_streams)  # first: open event streams end, cleanup is quick
        host, port = split_listen(cfg.web.listen)
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info(
            "web_listening",
            listen=cfg.web.listen,
            loopback=is_loopback(host),
            password=cfg.web.password_hash is not None,
            read_only=cfg.web.read_only,
        )
        disconnected: Awaitable[None] = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        return await until_stopped_or_failed(stop, dbus_connection_lost=disconnected)


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        prog=PROCESS_NAME,
        process=PROCESS,
        description=__doc__.split("\n")[0] if __doc__ else "",
        run=run_web,
        refuse=lambda cfg: refusal(cfg.web),
    )


if __name__ == "__main__":
    sys.exit(main())
