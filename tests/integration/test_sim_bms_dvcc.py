"""The simulated battery BMS and the systemcalc stand-in's DVCC, seen from a Venus client.

A private dbus-daemon; the simulator runs in-process on python-can's virtual bus. A reader
follows the services as the charge controller does (``ServiceFollower``: GetItems, then
ItemsChanged from the owner only); a stand-in vebus service with writable
``/BatteryOperationalLimits/*`` receives DVCC's writes.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import can
import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call, connect_system_bus
from smavenus.io.dbus.busitem import BusItemService
from smavenus.io.dbus.follower import ServiceFollower
from smavenus.io.sim import PythonCanLink, SimRunner
from smavenus.sim import EventKind, Simulation, parse_scenario
from smavenus.sim.scenario import MonitorEvent
from smavenus.sim.scenario_venus import BmsEvent, BmsLimitsEvent, DvccEvent
from smavenus.testing.sim import SimProcess, sim_command
from smavenus.victron.items import ItemSpec, ItemStore, ItemType
from tests.unit.sim.support import bms_set

BUSITEM = "com.victronenergy.BusItem"
MONITOR = "com.victronenergy.battery.sim"
BMS = "com.victronenergy.battery.sim_bms"
SYSTEM = "com.victronenergy.system"
INVALID = Variant("ai", [])
DEADLINE_S = 15.0
#: Nothing moves: no load, no idle draw, no noise, off grid. Every pack voltage is the OCV.
STEADY: dict[str, Any] = {
    "si": {"noise": 0, "idle_power_w": 0},
    "loads": {"power_w": [0]},
    "grid": {"present": False},
}


@asynccontextmanager
async def simulator(scenario: dict[str, Any], channel: str = "") -> AsyncIterator[SimRunner]:
    sim = Simulation(parse_scenario(scenario), seed=1)
    link = PythonCanLink("virtual", channel or f"sim-{uuid.uuid4()}")
    async with SimRunner(sim, link, speed=20.0, battery_monitor="sim") as runner:
        yield runner


async def get_value(bus: MessageBus, service: str, path: str) -> Any:
    (value,) = await call(bus, service, path, BUSITEM, "GetValue")
    return value


class Reader:
    """A ServiceFollower and a way to wait until its values satisfy something."""

    def __init__(self, bus: MessageBus, name: str) -> None:
        self.bus, self.name = bus, name
        self.updates = 0
        self._changed = asyncio.Event()
        self.follower = ServiceFollower(bus, name, self._on_change)

    def _on_change(self) -> None:
        self.updates += 1
        self._changed.set()

    @property
    def values(self) -> dict[str, Any]:
        return self.follower.values

    async def __aenter__(self) -> Reader:
        await self.follower.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.follower.stop()

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(DEADLINE_S):
            while not predicate(self.values):
                self._changed.clear()
                await self._changed.wait()
        return self.values

    async def settled(self) -> None:
        """Every signal the service sent so far has been handled: a round trip to it (one
        sender, one connection: its messages arrive in order)."""
        await get_value(self.bus, self.name, "/DeviceInstance")


# -- the BMS -----------------------------------------------------------------------------------


async def test_a_bms_on_the_monitors_service_and_its_limits_events(system_bus: MessageBus) -> None:
    async with (
        simulator({"bms": {"enabled": True}}) as runner,
        Reader(system_bus, MONITOR) as reader,
    ):
        values = await reader.until(lambda v: v.get("/Info/MaxChargeVoltage") is not None)
        assert values["/Info/MaxChargeVoltage"] == pytest.approx(55.2)
        assert values["/Info/MaxChargeCurrent"] == 140.0
        assert values["/Info/MaxDischargeCurrent"] == 200.0
        assert values["/Info/BatteryLowVoltage"] == pytest.approx(46.4)
        assert (values["/Io/AllowToCharge"], values["/Io/AllowToDischarge"]) == (1, 1)
        assert values["/Info/ChargeRequest"] == 0
        assert values["/System/NrOfModulesOnline"] == 1
        assert values["/System/MinCellTemperature"] is not None
        assert {p for p in values if p.startswith("/Alarms/")} >= {
            "/Alarms/HighCellVoltage",
            "/Alarms/LowCellVoltage",
            "/Alarms/BmsCable",
        }
        assert values["/Soc"] is not None and values["/Dc/0/Voltage"] is not None  # the shunt
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == Variant("s", MONITOR)
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsInstance") == Variant("i", 512)
        assert await get_value(system_bus, SYSTEM, "/Control/Dvcc") == Variant("i", 0)

        await runner.apply(
            BmsLimitsEvent(
                action="bms_limits",
                max_charge_current_a=0,
                allow_to_charge=False,
                alarms={"HighCellVoltage": 2},
                invalid=("battery_low_voltage_v",),
            )
        )
        values = await reader.until(lambda v: v["/Io/AllowToCharge"] == 0)
        assert values["/Info/MaxChargeCurrent"] == 0
        assert values["/Alarms/HighCellVoltage"] == 2
        assert values["/Info/BatteryLowVoltage"] is None
        changed = runner.sim.recorder.of_kind(EventKind.BMS_LIMITS)[-1].detail["changed"]
        assert changed == {
            "/Info/MaxChargeCurrent": 0.0,
            "/Info/BatteryLowVoltage": None,
            "/Io/AllowToCharge": 0,
            "/Alarms/HighCellVoltage": 2,
        }


async def test_a_separate_bms_vanishes_freezes_and_comes_back(system_bus: MessageBus) -> None:
    scenario = {"bms": {"enabled": True, "service": "separate"}}
    async with simulator(scenario) as runner, Reader(system_bus, BMS) as reader:
        values = await reader.until(lambda v: v.get("/Dc/0/Voltage") is not None)
        assert values["/DeviceInstance"] == 513
        assert values["/ProductId"] == 0xBA77
        assert {"/Dc/0/Current", "/Dc/0/Temperature", "/Soc", "/Info/MaxChargeVoltage"} <= set(
            values
        )
        assert "/ConsumedAmphours" not in values  # a BMS, not a shunt
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == Variant("s", BMS)
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsInstance") == Variant("i", 513)
        # the monitor is still the battery monitor
        assert await get_value(system_bus, SYSTEM, "/ActiveBatteryService") == Variant(
            "s", "com.victronenergy.battery/512"
        )

        await runner.apply(BmsEvent(action="bms", state="vanish"))
        assert await reader.until(lambda v: not v) == {}
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == INVALID

        await runner.apply(BmsEvent(action="bms", state="restore"))
        values = await reader.until(lambda v: v.get("/Connected") == 1)
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == Variant("s", BMS)

        await runner.apply(BmsEvent(action="bms", state="freeze"))
        await reader.settled()
        frozen, updates = dict(reader.values), reader.updates
        await runner.wait_until(runner.sim.now_s + 5)  # noise moves the voltage every second
        await reader.settled()
        assert (reader.updates, reader.values) == (updates, frozen)
        assert runner.sim.status()["bms"]["state"] == "freeze"

        await runner.apply(BmsEvent(action="bms", state="restore"))
        await reader.until(lambda v: v["/Dc/0/Voltage"] != frozen["/Dc/0/Voltage"])
        states = [e.detail["new"] for e in runner.sim.recorder.of_kind(EventKind.BMS_STATE)]
        assert states == ["vanish", "normal", "freeze", "normal"]


async def test_a_separate_bms_disconnects_lies_loses_cells_and_publishes_nan(
    system_bus: MessageBus,
) -> None:
    scenario = {**STEADY, "bms": {"enabled": True, "service": "separate"}}
    async with simulator(scenario) as runner, Reader(system_bus, BMS) as reader:
        true = dict(await reader.until(lambda v: v.get("/Dc/0/Voltage") is not None))
        monitor_voltage = await get_value(system_bus, MONITOR, "/Dc/0/Voltage")
        assert true["/Dc/0/Voltage"] == monitor_voltage.value  # one bank, no noise

        await runner.apply(BmsEvent(action="bms", state="disconnect"))
        values = await reader.until(lambda v: v["/Connected"] == 0)
        assert values["/Dc/0/Voltage"] is None and values["/Soc"] is None
        assert values["/System/MaxCellVoltage"] is None
        assert values["/System/NrOfModulesOnline"] == 0
        assert values["/Info/MaxChargeVoltage"] == pytest.approx(55.2)  # limits kept

        await runner.apply(BmsEvent(action="bms", state="lie", voltage_offset_v=6.0))
        values = await reader.until(lambda v: v["/Connected"] == 1)
        assert values["/Dc/0/Voltage"] == pytest.approx(true["/Dc/0/Voltage"] + 6.0)
        assert values["/System/MaxCellVoltage"] == true["/System/MaxCellVoltage"]
        assert (await get_value(system_bus, MONITOR, "/Dc/0/Voltage")) == monitor_voltage

        await runner.apply(BmsEvent(action="bms", state="cells_invalid"))
        values = await reader.until(lambda v: v["/System/MinCellVoltage"] is None)
        assert values["/System/MaxCellVoltage"] is None
        assert values["/Dc/0/Voltage"] == true["/Dc/0/Voltage"]
        assert values["/Info/MaxChargeCurrent"] == 140.0

        await runner.apply(BmsEvent(action="bms", state="nan"))
        values = await reader.until(lambda v: _isnan(v["/Dc/0/Voltage"]))
        for path in ("/Soc", "/Dc/0/Current", "/Info/MaxChargeVoltage", "/System/MinCellVoltage"):
            assert _isnan(values[path]), path
        assert values["/Io/AllowToCharge"] == 1 and values["/Alarms/HighCellVoltage"] == 0
        raw = await get_value(system_bus, BMS, "/Info/MaxChargeCurrent")
        assert raw.signature == "d" and math.isnan(raw.value)  # a double NaN on the wire
        (text,) = await call(system_bus, BMS, "/Info/MaxChargeCurrent", BUSITEM, "GetText")
        assert text == "nan A"
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == INVALID  # NaN CVL
        await runner.wait_until(runner.sim.now_s + 3)  # the simulator keeps going
        assert runner.sim.status()["bms"]["state"] == "nan"

        await runner.apply(BmsEvent(action="bms", state="restore"))
        values = await reader.until(lambda v: not _isnan(v["/Dc/0/Voltage"]))
        assert {p: values[p] for p in true} == true
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == Variant("s", BMS)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


async def test_the_monitor_lies_loses_cells_and_publishes_nan(system_bus: MessageBus) -> None:
    scenario = {**STEADY, "bms": {"enabled": True, "service": "separate"}}
    async with simulator(scenario) as runner, Reader(system_bus, MONITOR) as reader:
        true = dict(await reader.until(lambda v: v.get("/Dc/0/Voltage") is not None))
        await runner.apply(MonitorEvent(action="monitor", state="lie", voltage_offset_v=6.0))
        values = await reader.until(lambda v: v["/Dc/0/Voltage"] != true["/Dc/0/Voltage"])
        assert values["/Dc/0/Voltage"] == pytest.approx(true["/Dc/0/Voltage"] + 6.0)
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/Voltage") == Variant(
            "d", values["/Dc/0/Voltage"]
        )  # systemcalc shows what the monitor says
        bms_voltage = await get_value(system_bus, BMS, "/Dc/0/Voltage")
        assert bms_voltage.value == true["/Dc/0/Voltage"]  # the BMS is not fooled

        await runner.apply(MonitorEvent(action="monitor", state="cells_invalid"))
        values = await reader.until(lambda v: v["/System/MaxCellVoltage"] is None)
        assert values["/Dc/0/Voltage"] == true["/Dc/0/Voltage"]

        await runner.apply(MonitorEvent(action="monitor", state="nan"))
        values = await reader.until(lambda v: _isnan(v["/Soc"]))
        assert _isnan(values["/Dc/0/Voltage"]) and _isnan(values["/ConsumedAmphours"])
        assert values["/Connected"] == 1
        system_soc = await get_value(system_bus, SYSTEM, "/Dc/Battery/Soc")
        assert system_soc.signature == "d" and math.isnan(system_soc.value)

        await runner.apply(MonitorEvent(action="monitor", state="restore"))
        values = await reader.until(lambda v: not _isnan(v["/Soc"]))
        assert values["/Dc/0/Voltage"] == true["/Dc/0/Voltage"]


# -- DVCC --------------------------------------------------------------------------------------

BOL = "/BatteryOperationalLimits/"
VEBUS_SPECS = [
    ItemSpec("/DeviceInstance", ItemType.INT),
    ItemSpec("/Connected", ItemType.INT),
    ItemSpec("/ProductName", ItemType.STRING),
    ItemSpec("/FirmwareFeatures/BolFrame", ItemType.INT),
    ItemSpec("/Dc/0/MaxChargeCurrent", ItemType.DOUBLE, "A", writable=True),
    *(
        ItemSpec(BOL + name, ItemType.DOUBLE, writable=True)
        for name in ("MaxChargeVoltage", "MaxChargeCurrent", "MaxDischargeCurrent")
    ),
    ItemSpec(BOL + "BatteryLowVoltage", ItemType.DOUBLE, writable=True),
]


class Vebus:
    """A stand-in vebus service that records every write (also unchanged ones)."""

    def __init__(self, name: str, instance: int, refuse: frozenset[str] = frozenset()) -> None:
        self.name, self.instance, self.refuse = name, instance, refuse
        self.writes: list[tuple[str, Any]] = []
        self._written = asyncio.Event()
        self.service: BusItemService | None = None

    def _on_write(self, path: str, value: Any) -> bool:
        self.writes.append((path, value))
        self._written.set()
        return path not in self.refuse

    def of(self, path: str) -> list[Any]:
        return [value for p, value in self.writes if p == path]

    async def __aenter__(self) -> Vebus:
        store = ItemStore(VEBUS_SPECS, on_write=self._on_write)
        store.update(
            {
                "/DeviceInstance": self.instance,
                "/Connected": 1,
                "/ProductName": "stand-in",
                "/FirmwareFeatures/BolFrame": 1,
                "/Dc/0/MaxChargeCurrent": 100.0,
            }
        )
        self.service = BusItemService(await connect_system_bus(), self.name, store)
        await self.service.register()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.service is not None:
            self.service.bus.disconnect()

    async def until(self, predicate: Callable[[Vebus], bool]) -> None:
        async with asyncio.timeout(DEADLINE_S):
            while not predicate(self):
                self._written.clear()
                await self._written.wait()


DVCC_BMS: dict[str, Any] = {
    "bms": {"enabled": True, "max_charge_current_a": 30},
    "dvcc": {"enabled": True, "period_s": 0.2, "max_charge_current_a": 25},
}


async def test_dvcc_writes_the_bms_limits_every_period_until_it_stalls_or_goes_off(
    system_bus: MessageBus,
) -> None:
    async with (
        Vebus("com.victronenergy.vebus.second", 300) as second,
        Vebus("com.victronenergy.vebus.si", 276) as vebus,
        simulator(DVCC_BMS) as runner,
    ):
        assert runner.system is not None and runner.system.dvcc is not None
        writer = runner.system.dvcc
        await vebus.until(lambda v: len(v.of(BOL + "MaxChargeCurrent")) >= 3)
        assert vebus.of(BOL + "MaxChargeVoltage")[-1] == pytest.approx(55.2)
        assert vebus.of(BOL + "MaxChargeCurrent")[-1] == 25  # the user's 25 A beats the BMS's 30
        assert vebus.of(BOL + "MaxDischargeCurrent")[-1] == 200.0
        assert vebus.of(BOL + "BatteryLowVoltage")[-1] == pytest.approx(46.4)
        assert vebus.of("/Dc/0/MaxChargeCurrent")[-1] == 100.0  # max(100, 25)
        assert second.writes == []  # only the lowest instance is written
        count = len(vebus.of(BOL + "MaxChargeCurrent"))
        await writer.wait_ticks(3)
        assert len(vebus.of(BOL + "MaxChargeCurrent")) >= count + 2  # every period
        for path, expected in (
            ("/Control/Dvcc", Variant("i", 1)),
            ("/Control/BmsParameters", Variant("i", 1)),
            ("/Control/MaxChargeCurrent", Variant("i", 1)),
            ("/Dc/Battery/ChargeVoltage", Variant("d", 55.2)),
        ):
            assert await get_value(system_bus, SYSTEM, path) == expected, path
        record = runner.sim.status()["dvcc"]
        assert record["writes"] >= 3 and record["last_service"] == vebus.name
        assert record["last_values"][BOL + "MaxChargeCurrent"] == 25
        assert runner.sim.recorder.of_kind(EventKind.DVCC_WRITE)[0].detail["service"] == vebus.name

        await runner.apply(DvccEvent(action="dvcc", max_charge_current_a=10))
        await vebus.until(lambda v: v.of(BOL + "MaxChargeCurrent")[-1] == 10)

        await runner.apply(DvccEvent(action="dvcc", stalled=True))
        await writer.wait_ticks(1)  # a cycle under way when it stalled may finish
        count = len(vebus.writes)
        await writer.wait_ticks(3)
        assert len(vebus.writes) == count  # hung: nothing written...
        assert await get_value(system_bus, SYSTEM, "/Control/Dvcc") == Variant("i", 1)  # ...on

        await runner.apply(DvccEvent(action="dvcc", stalled=False))
        await vebus.until(lambda v: len(v.writes) > count)

        await runner.apply(DvccEvent(action="dvcc", enabled=False))
        assert await get_value(system_bus, SYSTEM, "/Control/Dvcc") == Variant("i", 0)
        assert await get_value(system_bus, SYSTEM, "/Dc/Battery/ChargeVoltage") == INVALID
        await writer.wait_ticks(1)
        count = len(vebus.writes)
        await writer.wait_ticks(3)
        assert len(vebus.writes) == count

        await runner.apply(DvccEvent(action="dvcc", enabled=True))
        assert await get_value(system_bus, SYSTEM, "/Control/Dvcc") == Variant("i", 1)
        await vebus.until(lambda v: len(v.writes) > count)


async def test_dvcc_without_bms_limits_dc0_by_the_pv_current(system_bus: MessageBus) -> None:
    channel = f"sim-{uuid.uuid4()}"
    scenario = {
        "si": {"bms_timeout_s": 86400, "limits_timeout_s": 86400, "noise": 0},
        "pv": {"dc_current_a": 30},
        "dvcc": {"enabled": True, "period_s": 0.2, "max_charge_current_a": 40},
    }
    async with Vebus("com.victronenergy.vebus.si", 276) as vebus, simulator(scenario, channel):
        host = can.Bus(interface="virtual", channel=channel)
        try:  # one frame set: the SI lets the battery take all 30 A of PV
            for can_id, data in bms_set(cvl=56.0, ccl=100.0):
                host.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
        finally:
            host.shutdown()
        # systemcalc's test_no_bms_max_charge_current_setting: 40 A - 30 A of PV = 10 A
        await vebus.until(lambda v: v.of("/Dc/0/MaxChargeCurrent")[-1:] == [10])
        assert not [p for p, _v in vebus.writes if p.startswith(BOL)]
        assert await get_value(system_bus, SYSTEM, "/Dc/Pv/Current") == Variant("d", 30.0)
        assert await get_value(system_bus, SYSTEM, "/Control/BmsParameters") == Variant("i", 0)
        assert await get_value(system_bus, SYSTEM, "/ActiveBmsService") == INVALID


async def test_no_limit_is_written_once_and_failures_are_retried(system_bus: MessageBus) -> None:
    scenario = {"dvcc": {"enabled": True, "period_s": 0.2}}
    async with simulator(scenario) as runner:
        assert runner.system is not None and runner.system.dvcc is not None
        writer = runner.system.dvcc
        await writer.wait_ticks(2)  # no vebus service yet: logged once, tried again
        failed = runner.sim.recorder.of_kind(EventKind.DVCC_WRITE_FAILED)
        assert [e.detail["reason"] for e in failed] == ["no vebus service"]
        assert runner.sim.status()["dvcc"]["failures"] >= 2

        async with Vebus("com.victronenergy.vebus.si", 276) as vebus:
            await vebus.until(lambda v: v.of("/Dc/0/MaxChargeCurrent") == [10000])
            await writer.wait_ticks(3)
            assert vebus.writes == [("/Dc/0/MaxChargeCurrent", 10000)]  # once
            assert runner.sim.status()["dvcc"]["failing"] is None

        refusing = Vebus(
            "com.victronenergy.vebus.si", 276, refuse=frozenset({"/Dc/0/MaxChargeCurrent"})
        )
        async with refusing:
            await runner.apply(DvccEvent(action="dvcc", max_charge_current_a=50))
            await refusing.until(lambda v: len(v.writes) >= 2)
            await writer.wait_ticks(1)
        reasons = [
            e.detail["reason"] for e in runner.sim.recorder.of_kind(EventKind.DVCC_WRITE_FAILED)
        ]
        assert reasons[-1] == "/Dc/0/MaxChargeCurrent: refused (2)"
        assert reasons.count(reasons[-1]) == 1  # once, though every period failed
        await runner.wait_until(runner.sim.now_s + 2)  # the simulator is still running


async def test_the_shipped_scenario_as_a_process_with_its_shortcuts(
    tmp_path: Path,
    system_bus: MessageBus,  # the private bus: the process inherits its address
) -> None:
    listed = await asyncio.to_thread(
        subprocess.run, [*sim_command(), "scenarios"], capture_output=True, text=True, check=True
    )
    assert "bms-dvcc" in listed.stdout
    async with Vebus("com.victronenergy.vebus.si", 276) as vebus:
        sim = SimProcess(tmp_path, speed=20, scenario="bms-dvcc", battery_monitor="sim")
        await asyncio.to_thread(sim.start)
        try:
            await vebus.until(lambda v: v.of(BOL + "MaxChargeCurrent")[-1:] == [25])
            for shortcut in ("bms-lie", "dvcc-stall"):
                done = await asyncio.to_thread(
                    subprocess.run,
                    [*sim_command(), "ctl", str(sim.control_path), shortcut],
                    capture_output=True,
                    text=True,
                )
                assert done.returncode == 0, done.stdout + done.stderr
            status = await asyncio.to_thread(sim.status)
            assert status["bms"]["state"] == "lie" and status["dvcc"]["stalled"] is True
            assert status["dvcc"]["writes"] >= 1
        finally:
            assert await asyncio.to_thread(sim.stop) == 0
    assert "DVCC writes:" in sim.summary_text
    recorded = {e["event"] for e in sim.recorded_events()}
    assert {"bms_limits", "bms_state", "dvcc_write"} <= recorded
