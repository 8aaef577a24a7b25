"""The bench on vcan0: the simulated SI, the three services and the whole chain on kernel CAN.

As a GX runs them (and as the docker-compose bench does where a Docker engine exists):
``smavenus-sim --interface socketcan --channel vcan0`` (vcan is no real bus, so the simulator
accepts it) with its battery monitor, the can-gateway on socketcan (kernel filters, the
broadcast manager), the bms-controller and the vebus-publisher under daemontools from the
repository's ``services/`` run scripts, a private system bus and the localsettings stand-in.

Marked ``kernel_can`` (in the qemu guest of ``scripts/can-vm`` where the host has no CAN).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call, connect_system_bus
from smavenus.ipc import names
from smavenus.ipc.messages import GatewayHealth
from smavenus.testing.stack import SERVICES, Stack
from smavenus.testing.waiting import eventually

from .kernel_can import GUEST_SLOW_S

pytestmark = [
    pytest.mark.kernel_can,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("svscan") is None, reason="daemontools is not installed"),
]


async def vebus_items() -> dict[str, Any]:
    bus = await connect_system_bus()
    try:
        (listed,) = await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
        vebus = [n for n in listed if n.startswith("com.victronenergy.vebus.")]
        if not vebus:
            return {}
        (items,) = await call(bus, vebus[0], "/", "com.victronenergy.BusItem", "GetItems")
    finally:
        bus.disconnect()
    return {path: item["Value"].value for path, item in items.items()}


async def gateway_health() -> GatewayHealth:
    bus = await connect_system_bus()
    try:
        (payload,) = await call(
            bus,
            names.GATEWAY_BUS_NAME,
            names.GATEWAY_PATH,
            names.GATEWAY_INTERFACE,
            names.GET_HEALTH_METHOD,
        )
    finally:
        bus.disconnect()
    return GatewayHealth.model_validate_json(payload)


async def test_the_simulated_si_and_the_three_services_on_vcan0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Stack(tmp_path / "stack", can=("socketcan", "vcan0")) as stack:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", stack.dbus.address)

        def logs() -> str:
            return "\n".join(f"--- {s}\n{stack.log_tail(s)}" for s in SERVICES)

        stack.wait_until_running(timeout_s=2 * GUEST_SLOW_S)
        sim = stack.sim
        # The SI hears the BMS frame set, through the kernel.
        await eventually(
            lambda: sim.status()["bms_frames_received"] >= 21, 2 * GUEST_SLOW_S, "BMS frames"
        )

        async def controlled() -> GatewayHealth | None:
            try:
                health = await gateway_health()
            except Exception:  # not on the bus yet (restarting under svscan)
                return None
            return health if health.command_source == "controller" else None

        # The controller's commands reach the gateway, and the frames the SI hears carry them.
        health = await eventually(controlled, 2 * GUEST_SLOW_S, "the controller in charge", logs)
        assert (health.interface, health.channel, health.bus_state) == (
            "socketcan",
            "vcan0",
            "active",
        )
        assert health.frames_foreign == 0

        async def si_hears_the_controllers_limits() -> bool:
            health = await controlled()
            if health is None or health.sent is None:
                return False
            heard = sim.status()["bms_values"]
            return all(
                heard[key] == pytest.approx(getattr(health.sent, key), abs=0.1)
                for key in ("charge_voltage_v", "charge_current_a", "discharge_current_a")
            )

        await eventually(
            si_hears_the_controllers_limits, 2 * GUEST_SLOW_S, "the limits at the SI", logs
        )

        # The SI's values reach com.victronenergy.vebus.*: its battery voltage, as it is now.
        async def voltage_on_vebus() -> bool:
            value = (await vebus_items()).get("/Dc/0/Voltage")
            return value is not None and abs(value - sim.status()["battery_voltage_v"]) < 0.5

        await eventually(voltage_on_vebus, 2 * GUEST_SLOW_S, "the SI's voltage on vebus", logs)
        status = sim.status()
        assert not status["f952"] and not status["w952"]
        assert status["operating"]
