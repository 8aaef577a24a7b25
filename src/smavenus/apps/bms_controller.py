"""``smavenus-bms-controller``: charge controller and battery protection (docs/controller.md).

    smavenus-bms-controller --config /data/smavenus/smavenus.toml

Wiring only: read the configuration, build the core, follow the settings (Venus
localsettings, else the TOML file), the battery monitor and the gateway's snapshots, own
``io.smavenus.BmsController`` on the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` is honoured) and
step the core at its deadlines until SIGTERM. Exit status: 0 stopped, 1 crashed or lost the
bus (the supervisor restarts us; the gateway meanwhile ramps to safe values), 2 bad
configuration.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack

import structlog

from smavenus.config import AppConfig
from smavenus.controller import ChargeController
from smavenus.controller.state import ControllerState
from smavenus.io.controller.monitor import BatteryMonitor
from smavenus.io.controller.service import ControllerService
from smavenus.io.controller.settings import SettingsBridge
from smavenus.io.controller.ticker import Ticker
from smavenus.io.dbus import connect_system_bus
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.files import StateFile
from smavenus.ipc.feeds import SNAPSHOTS
from smavenus.runtime import service_main, until_stopped_or_failed

PROCESS = "bms-controller"
PROCESS_NAME = "smavenus-bms-controller"
log = structlog.get_logger("smavenus.bms_controller")


async def run_controller(cfg: AppConfig, stop: asyncio.Event) -> int:
    state_file = StateFile(
        cfg.paths.state_dir / "bms-controller.json", ControllerState, ControllerState
    )
    controller = ChargeController(
        cfg,
        started_at=time.monotonic(),
        last_full_charge_unix=state_file.load().last_full_charge_unix,
    )
    failed = asyncio.Event()
    bus = await connect_system_bus()
    async with AsyncExitStack() as stack:
        stack.callback(bus.disconnect)
        settings = SettingsBridge(bus, controller)
        monitor = BatteryMonitor(
            bus,
            cfg.controller.battery_service,
            controller.update_monitor,
            poll_after_s=cfg.controller.input_max_age_s / 2,
        )
        snapshots = PeerFeed(bus, SNAPSHOTS, controller.update_snapshot)
        for part in (settings, monitor, snapshots):
            await part.start()
            stack.push_async_callback(part.stop)
        service = ControllerService(bus)
        await service.start()
        stack.push_async_callback(service.stop)
        ticker = Ticker(controller, service, state_file, fail=lambda _exc: failed.set())
        ticker.start()
        stack.callback(ticker.stop)
        disconnected: Awaitable[None] = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        return await until_stopped_or_failed(
            stop, controller_step_failed=failed.wait(), dbus_connection_lost=disconnected
        )


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        prog=PROCESS_NAME,
        process=PROCESS,
        description=__doc__.split("\n")[0] if __doc__ else "",
        run=run_controller,
    )


if __name__ == "__main__":
    sys.exit(main())
