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
from dbus_fast.aio import MessageBus

from smavenus.config import AppConfig
from smavenus.controller import ChargeController
from smavenus.controller.continuity import restore, seed_limits
from smavenus.controller.inputs import DvccWrite, DvccWrites
from smavenus.controller.state import ControllerState
from smavenus.io.controller.battery_services import BatteryServices
from smavenus.io.controller.service import ControllerService, controller_requests
from smavenus.io.controller.settings import SettingsBridge
from smavenus.io.controller.ticker import Ticker
from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.files import StateFile
from smavenus.ipc import names
from smavenus.ipc.feeds import DVCC_WRITES, SNAPSHOTS
from smavenus.ipc.messages import DvccWrites as DvccWritesMessage
from smavenus.ipc.messages import GatewayHealth, WrittenValue
from smavenus.runtime import service_main, until_stopped_or_failed

PROCESS = "bms-controller"
PROCESS_NAME = "smavenus-bms-controller"
log = structlog.get_logger("smavenus.bms_controller")


async def run_controller(cfg: AppConfig, stop: asyncio.Event) -> int:
    state_file = StateFile(
        cfg.paths.state_dir / "bms-controller.json", ControllerState, ControllerState
    )
    controller = ChargeController(cfg, started_at=time.monotonic())
    controller.note(restore(controller, state_file.load(), time.monotonic(), time.time()))
    failed = asyncio.Event()
    bus = await connect_system_bus()
    async with AsyncExitStack() as stack:
        stack.callback(bus.disconnect)
        settings = SettingsBridge(bus, controller)
        batteries = BatteryServices(
            bus,
            monitor_service=cfg.controller.battery_service,
            bms_service=cfg.controller.bms_service,
            on_monitor=controller.update_monitor,
            on_bms=controller.update_bms,
            on_system=controller.update_system,
            poll_after_s=cfg.controller.input_max_age_s / 2,
        )
        snapshots = PeerFeed(bus, SNAPSHOTS, controller.update_snapshot)
        dvcc = PeerFeed(bus, DVCC_WRITES, lambda m: controller.update_dvcc(dvcc_writes(m)))
        for part in (settings, batteries, snapshots, dvcc):
            await part.start()
            stack.push_async_callback(part.stop)
        await seed_from_gateway(bus, controller)
        ticker: Ticker | None = None

        def step_soon() -> None:  # an accepted request: the SI hears of it at once
            if ticker is not None:
                ticker.step_soon()

        service = ControllerService(bus, controller_requests(controller, step_soon))
        await service.start()
        stack.push_async_callback(service.stop)
        ticker = Ticker(controller, service, state_file, fail=lambda _exc: failed.set())
        ticker.start()
        stack.callback(ticker.stop)
        disconnected: Awaitable[None] = bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        return await until_stopped_or_failed(
            stop, controller_step_failed=failed.wait(), dbus_connection_lost=disconnected
        )


def dvcc_writes(message: DvccWritesMessage) -> DvccWrites:
    """The publisher's record of DVCC's writes, as the core's input."""

    def one(written: WrittenValue | None) -> DvccWrite | None:
        return None if written is None else DvccWrite(written.value, written.written_monotonic)

    return DvccWrites(
        max_charge_voltage_v=one(message.max_charge_voltage_v),
        max_charge_current_a=one(message.max_charge_current_a),
        max_discharge_current_a=one(message.max_discharge_current_a),
        battery_low_voltage_v=one(message.battery_low_voltage_v),
        dc_max_charge_current_a=one(message.dc_max_charge_current_a),
    )


async def seed_from_gateway(bus: MessageBus, controller: ChargeController) -> None:
    """Start from the limits the gateway sends now (a restart continues, it does not jump)."""
    try:
        (payload,) = await call(
            bus, names.GATEWAY_BUS_NAME, names.GATEWAY_PATH, names.GATEWAY_INTERFACE,
            names.GET_HEALTH_METHOD, timeout_s=1.0,
        )  # fmt: skip
        health = GatewayHealth.model_validate_json(payload)
    except Exception as exc:  # absent, slow or invalid: start from scratch, it is only a seed
        log.info("limits_not_seeded", reason=str(exc) or type(exc).__name__)
        return
    sent = health.sent
    if sent is None or health.command_source == "cold_start":
        log.info("limits_not_seeded", reason=f"the gateway sends {health.command_source} values")
        return
    seed_limits(
        controller,
        charge_voltage_v=sent.charge_voltage_v,
        charge_current_a=sent.charge_current_a,
        discharge_current_a=sent.discharge_current_a,
        discharge_voltage_v=sent.discharge_voltage_v,
    )
    log.info("limits_seeded_from_gateway", source=health.command_source, **sent.model_dump(
        include={"charge_voltage_v", "charge_current_a", "discharge_current_a",
                 "discharge_voltage_v"}))  # fmt: skip


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
