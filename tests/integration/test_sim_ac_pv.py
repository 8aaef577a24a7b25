"""AC-coupled PV on the SI's output, through the whole system: the simulator's PV inverter
(``com.victronenergy.pvinverter``, ``/Position`` 1), the gateway, the controller and the
vebus-publisher under daemontools (``testing/stack.py``), scenario ``ac-pv-day``.

systemcalc computes the consumption on the output as the vebus ``/Ac/Out`` power plus the PV
inverters on the output; that must equal the loads the simulator serves, also while the SI
curtails the PV by shifting its frequency. The vebus energy counters must put the PV surplus
into ``OutToInverter`` and nothing into the AC-input counters (off grid).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.testing.stack import Stack
from smavenus.testing.waiting import eventually

pytestmark = pytest.mark.slow
PV = "com.victronenergy.pvinverter.sim"
SPEED = 10.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("acpv"), speed=SPEED, scenario="ac-pv-day") as running:
        running.wait_until_running()
        yield running


class Reader:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.vebus: str | None = None

    async def value(self, service: str, path: str) -> Any:
        (variant,) = await call(self.bus, service, path, BUSITEM, "GetValue")
        value = variant.value
        return None if isinstance(value, list) else value

    async def find_vebus(self) -> str | None:
        (names,) = await call(
            self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "ListNames",
        )  # fmt: skip
        self.vebus = next((n for n in names if n.startswith("com.victronenergy.vebus.")), None)
        return self.vebus

    async def out_w(self) -> float | None:
        assert self.vebus is not None
        value = await self.value(self.vebus, "/Ac/Out/L1/P")
        return None if value is None else float(value)


async def consumption_matches(reader: Reader, stack: Stack) -> tuple[float, float, float]:
    """(SI out + PV on output, loads, PV) read back to back (PV ramps are over by now)."""
    out_w = await reader.out_w()
    pv_w = await reader.value(PV, "/Ac/L1/Power")
    truth = await asyncio.to_thread(stack.sim.status)
    assert out_w is not None and pv_w is not None
    return out_w + pv_w, truth["ac"]["load_w"][0], pv_w


async def test_consumption_on_the_output_is_the_loads_and_the_counters_stay_right(
    stack: Stack,
) -> None:
    bus = await MessageBus(bus_address=stack.dbus.address).connect()
    reader = Reader(bus)
    try:
        await eventually(reader.find_vebus, 30, "the vebus service")
        assert await reader.value(PV, "/Position") == 1  # AC output
        assert await reader.value(PV, "/Connected") == 1
        # the sun has risen past the loads: the SI charges from the output
        await eventually(lambda: _negative(reader), 60, "PV above the loads")
        for _ in range(5):
            total, loads, _pv = await consumption_matches(reader, stack)
            assert abs(total - loads) <= 150, (total, loads)  # 0x300/0x301 are 100 W steps
        # the counters over a stretch of charging from the output: integrate /Ac/Out/P
        counters = ("OutToInverter", "InverterToAcOut", "AcIn1ToAcOut", "AcIn1ToInverter")
        start = {n: await reader.value(reader.vebus or "", f"/Energy/{n}") for n in counters}
        integral_kwh, last = 0.0, time.monotonic()
        deadline = last + 8.0
        while time.monotonic() < deadline:
            out_w = await reader.out_w()
            now = time.monotonic()
            if out_w is not None:
                integral_kwh += max(-out_w, 0.0) * (now - last) / 3.6e6
            last = now
            await asyncio.sleep(0.1)  # a sampling interval, not a wait for an event
        end = {n: await reader.value(reader.vebus or "", f"/Energy/{n}") for n in counters}
        into_battery = end["OutToInverter"] - start["OutToInverter"]
        assert into_battery == pytest.approx(integral_kwh, rel=0.25, abs=0.002)
        assert end["AcIn1ToAcOut"] == start["AcIn1ToAcOut"] == 0.0  # off grid: no AC input
        assert end["AcIn1ToInverter"] == start["AcIn1ToInverter"] == 0.0
        # the battery fills: the SI shifts its frequency and the PV inverter is curtailed
        status = await eventually(
            lambda: _curtailed(stack),
            120,
            "frequency-shift curtailment",
            logs=lambda: stack.log_tail("smavenus-bms-controller"),
        )
        assert status["ac"]["pv_ac_w"][0] < 3000.0
        frequency = await reader.value(reader.vebus or "", "/Ac/Out/L1/F")
        assert frequency is not None and frequency > 50.0
        for _ in range(5):
            total, loads, pv_w = await consumption_matches(reader, stack)
            assert abs(total - loads) <= 150, (total, loads, pv_w)
        pv_energy = await reader.value(PV, "/Ac/Energy/Forward")
        assert pv_energy > 0.0
    finally:
        bus.disconnect()


async def _negative(reader: Reader) -> bool:
    out_w = await reader.out_w()
    return out_w is not None and out_w < -500


async def _curtailed(stack: Stack) -> dict[str, Any] | None:
    status: dict[str, Any] = await asyncio.to_thread(stack.sim.status)
    return status if status["ac"]["frequency_shift_hz"] > 0 else None
