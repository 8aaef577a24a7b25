"""``smavenus-vebus-publisher``: the SI as ``com.victronenergy.vebus.<suffix>`` (``docs/vebus.md``).

    smavenus-vebus-publisher --config /data/smavenus/smavenus.toml

Wiring only: read the configuration, restore the state file, build the core, put the
service on the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` is honoured), follow the gateway and
the controller, forward DVCC's writes to the controller (``io.smavenus.VebusPublisher``), run
until SIGTERM, save. Exit status: 0 stopped, 1 crashed or lost the bus
(the supervisor restarts us), 2 bad configuration.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack

import structlog

from smavenus import __version__
from smavenus.config import AppConfig
from smavenus.io.dbus import connect_system_bus
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.files import StateFile
from smavenus.io.publisher.endpoint import PublisherEndpoint
from smavenus.io.publisher.runner import VebusRunner
from smavenus.io.publisher.service import VebusDbusService, gateway_remote_on_off
from smavenus.ipc import feeds as feeds_
from smavenus.ipc.messages import ControllerStatus, GatewayHealth, SiSnapshot
from smavenus.runtime import service_main, until_stopped_or_failed
from smavenus.vebus.core import VebusCore
from smavenus.vebus.settings import CoreSettings, service_suffix
from smavenus.vebus.state import PublisherState

PROCESS = "vebus-publisher"
PROCESS_NAME = "smavenus-vebus-publisher"
log = structlog.get_logger("smavenus.vebus_publisher")


async def run_publisher(cfg: AppConfig, stop: asyncio.Event) -> int:
    loop = asyncio.get_running_loop()
    suffix = service_suffix(cfg)
    settings = CoreSettings.from_config(cfg, process_name=PROCESS_NAME, process_version=__version__)
    if cfg.vebus.allow_mode_control and not settings.mode_control:
        log.warning(
            "mode_control_disabled",
            reason="[vebus] allow_mode_control needs [gateway] enable_remote_on_off = true",
        )
    state_file = StateFile(
        cfg.paths.state_dir / f"vebus-{suffix}.json", PublisherState, PublisherState
    )
    core = VebusCore(settings, state_file.load(), loop.time())
    bus = await connect_system_bus()
    async with AsyncExitStack() as stack:
        stack.callback(bus.disconnect)
        endpoint = PublisherEndpoint(bus)
        service = VebusDbusService(
            bus,
            core,
            name=f"com.victronenergy.vebus.{suffix}",
            uid=f"smavenus_{suffix}",
            mode_request=(
                functools.partial(gateway_remote_on_off, bus) if settings.mode_control else None
            ),
            dvcc_write=endpoint.written,
        )
        runner = VebusRunner(core, service, state_file, loop)
        stack.push_async_callback(service.stop)
        stack.push_async_callback(runner.close)
        feeds: list[PeerFeed[SiSnapshot] | PeerFeed[GatewayHealth] | PeerFeed[ControllerStatus]]
        feeds = [
            PeerFeed(bus, feeds_.SNAPSHOTS, runner.on_snapshot),
            PeerFeed(bus, feeds_.HEALTH, runner.on_health),
            PeerFeed(bus, feeds_.STATUS, runner.on_controller),
        ]
        # The peers first (their latest messages fill the paths), then the name: the first
        # scan by systemcalc already sees the SI's values, not a moment of /Connected = 0.
        for feed in feeds:
            await feed.start()
            stack.push_async_callback(feed.stop)
        runner.start()
        await service.start()
        # Our own name after Venus's: of two routers the first installed answers introspection
        # of "/", which must list the BusItem paths. A write that comes before this name is
        # ours is kept; readers fetch it (GetDvccWrites) when the name appears.
        stack.push_async_callback(endpoint.stop)
        await endpoint.start()
        disconnected: Awaitable[None] = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        return await until_stopped_or_failed(
            stop, dbus_connection_lost=disconnected, dbus_name_lost=service.lost.wait()
        )


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        prog=PROCESS_NAME,
        process=PROCESS,
        description=__doc__.split("\n")[0] if __doc__ else "",
        run=run_publisher,
    )


if __name__ == "__main__":
    sys.exit(main())
