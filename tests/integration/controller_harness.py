"""The bms-controller's surroundings in miniature, for its integration tests and the bench.

* :class:`Processes` runs installed console scripts (``smavenus-sim``, ``smavenus-can-gateway``,
  ``smavenus-bms-controller``) with their logs in files;
* :class:`ControllerListener` records the controller's ``Command`` and ``Status`` signals;
* :class:`Service` is a BusItem service (our exporter) on its own connection: a battery
  monitor or systemcalc's ``/ActiveBatteryService`` that can vanish and come back;
* :func:`write_config` writes a smavenus TOML file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from smavenus.config import toml_document
from smavenus.io.dbus import call, connect_system_bus, new_signal
from smavenus.io.dbus.busitem import BUSITEM, BusItemService, from_variant
from smavenus.io.sim.control import request
from smavenus.ipc import names
from smavenus.ipc.messages import BmsCommand, ControllerStatus
from smavenus.testing.localsettings import LocalSettingsStandIn
from smavenus.testing.waiting import eventually
from smavenus.victron.items import ItemSpec, ItemStore, ItemType

BIN = Path(sys.executable).parent
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(BIN / name), *args], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        log.close()
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-6000:]}" for p in sorted(self.directory.glob("*.log"))
        )

    def stop(self, name: str) -> int | None:
        process = self.started.pop(name, None)
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    path.write_text(toml_document(sections))
    return path


class ControllerListener:
    """The controller's Command and Status signals, with the monotonic time they arrived."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.commands: list[tuple[float, BmsCommand]] = []
        self.statuses: list[tuple[float, ControllerStatus]] = []
        bus.add_message_handler(self._on)

    async def start(self) -> None:
        rule = f"type='signal',interface='{names.CONTROLLER_INTERFACE}'"
        await call(self.bus, *DBUS, "AddMatch", signature="s", body=[rule])

    def _on(self, msg: Message) -> None:
        if (
            msg.message_type is not MessageType.SIGNAL
            or msg.interface != names.CONTROLLER_INTERFACE
        ):
            return
        now = time.monotonic()
        if msg.member == names.COMMAND_SIGNAL:
            self.commands.append((now, BmsCommand.model_validate_json(msg.body[0])))
        elif msg.member == names.STATUS_SIGNAL:
            self.statuses.append((now, ControllerStatus.model_validate_json(msg.body[0])))

    @property
    def status(self) -> ControllerStatus | None:
        return self.statuses[-1][1] if self.statuses else None

    @property
    def command(self) -> BmsCommand | None:
        return self.commands[-1][1] if self.commands else None


#: What a test allows the bus for delivering a write to the controller (the localsettings
#: stand-in's PropertiesChanged): generous for a loaded machine, whose scheduler is no test.
DELIVERY_S = 1.0


async def commands_sent_after(listener: ControllerListener, at: float) -> list[BmsCommand]:
    """Every command the controller sent after ``at`` (its own clock, ``sent_monotonic``,
    which is this machine's monotonic clock), once one has arrived."""

    def sent_after() -> list[BmsCommand]:
        return [c for _t, c in listener.commands if c.sent_monotonic > at]

    return await eventually(sent_after, 30, "a command sent after the change had its chance")


DBL, INT, STR = ItemType.DOUBLE, ItemType.INT, ItemType.STRING
BATTERY_SPECS = [
    ItemSpec("/DeviceInstance", INT),
    ItemSpec("/Connected", INT),
    ItemSpec("/ProductName", STR),
    ItemSpec("/Dc/0/Voltage", DBL),
    ItemSpec("/Dc/0/Current", DBL),
    ItemSpec("/Dc/0/Temperature", DBL),
    ItemSpec("/Soc", DBL),
    ItemSpec("/System/MinCellVoltage", DBL),
    ItemSpec("/System/MaxCellVoltage", DBL),
]
SYSTEM_SPECS = [ItemSpec("/DeviceInstance", INT), ItemSpec("/ActiveBatteryService", STR)]
PATHS = {
    "voltage": "/Dc/0/Voltage",
    "current": "/Dc/0/Current",
    "temperature": "/Dc/0/Temperature",
    "soc": "/Soc",
    "connected": "/Connected",
    "active": "/ActiveBatteryService",
}


def shunt(instance: int, voltage: float = 53.1) -> dict[str, Any]:
    return {
        "/DeviceInstance": instance,
        "/Connected": 1,
        "/ProductName": "SmartShunt",
        "/Dc/0/Voltage": voltage,
        "/Dc/0/Current": -3.2,
        "/Dc/0/Temperature": 21.5,
        "/Soc": 77.0,
        "/System/MinCellVoltage": 3.30,
        "/System/MaxCellVoltage": 3.33,
    }


class Service:
    """A BusItem service on its own connection (so it can vanish and return as a new owner)."""

    def __init__(self, name: str, specs: list[ItemSpec], values: dict[str, Any]) -> None:
        self.name, self.specs, self.values = name, specs, values
        self.bus: MessageBus | None = None
        self.service: BusItemService | None = None

    async def start(self) -> Service:
        self.bus = await connect_system_bus()
        self.service = BusItemService(self.bus, self.name, ItemStore(self.specs))
        self.service.store.update(self.values)
        await self.service.register()
        return self

    def publish(self, **values: Any) -> None:
        assert self.service is not None
        self.service.publish({PATHS.get(k, k): v for k, v in values.items()})

    def properties_changed(self, path: str, value: Any) -> None:
        """One path's PropertiesChanged, as velib sends it (systemcalc does)."""
        assert self.service is not None and self.bus is not None
        self.service.store.update({path: value})
        body = {"Value": Variant("s", value) if isinstance(value, str) else Variant("d", value)}
        self.bus.send(new_signal(path, BUSITEM, "PropertiesChanged", "a{sv}", [body]))

    async def vanish(self) -> None:
        assert self.bus is not None
        self.bus.disconnect()
        await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        if self.bus is not None and self.bus.connected:
            self.bus.disconnect()


# -- the whole loop: simulated SI and battery → can-gateway → bms-controller --------------

SPEED = 25.0
MONITOR = "com.victronenergy.battery.shunt"
CAPACITY_AH = 40.0


def scenario(noise: float = 1.0, extra: str = "", **battery: Any) -> str:
    """A scenario for the chain: the battery's values, and any further TOML (``[bms]`` …)."""
    values = {"capacity_ah": CAPACITY_AH, "soc_pct": 50.0, "cell_spread_pct": 0.0, **battery}
    lines = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    return f"""
name = "controller"
seed = 3
[si]
noise = {noise!r}
[grid]
request = "always"
valid_time_s = 10.0
[battery]
{lines}
[monitor]
period_s = 1.0
{extra}
"""


def controller_config(tmp_path: Path, link: Path, **controller: Any) -> Path:
    """The configuration of the chain's services; ``controller`` overrides ``[controller]``."""
    scaled = 1.0 / SPEED
    return write_config(
        tmp_path / "smavenus.toml",
        {
            "can": {"interface": "slcan", "channel": str(link), "bms_period_s": 0.2},
            "battery": {"capacity_ah": CAPACITY_AH, "max_charge_current_a": 80.0},
            "controller": {
                "bulk_current_a": 80.0,
                "tail_current_a": 2.0,  # 0.05 C, as the 14 A default for 280 Ah
                "degraded_charge_current_a": 8.0,
                "period_s": 0.2,
                "tail_current_hold_s": 60.0 * scaled,
                "rebulk_delay_s": 60.0 * scaled,
                "alarm_delay_s": 10.0 * scaled,
                "limit_ramp_up_s": 10.0 * scaled,
                "input_max_age_s": 1.0,
                **controller,
            },
            "paths": {"state_dir": str(tmp_path)},
            "logging": {"format": "plain"},
        },
    )


class Chain:
    def __init__(self, tmp_path: Path, processes: Processes, bus: MessageBus) -> None:
        self.tmp_path = tmp_path
        self.processes = processes
        self.bus = bus
        self.control = tmp_path / "sim.sock"
        self.listener = ControllerListener(bus)
        self.monitor_voltages: list[float] = []
        self.localsettings: LocalSettingsStandIn | None = None

    async def start(
        self, scenario_text: str, *, publisher: bool = False, **controller: Any
    ) -> None:
        """The simulator, the gateway and the controller (and the vebus-publisher: DVCC's
        writes reach the controller through it)."""
        (self.tmp_path / "scenario.toml").write_text(scenario_text)
        link = self.tmp_path / "ttyACM-sim"
        self.processes.start(
            "smavenus-sim",
            "--scenario", str(self.tmp_path / "scenario.toml"),
            "--slcan-link", str(link),
            "--control", str(self.control),
            "--speed", str(SPEED),
            "--battery-monitor", "shunt",
            "--log-format", "plain",
        )  # fmt: skip
        await eventually(link.exists, 60, "the simulator's adapter", self.processes.logs)
        await self.listener.start()
        self.bus.add_message_handler(self._on_monitor)
        rule = f"type='signal',sender='{MONITOR}',interface='{BUSITEM}',member='ItemsChanged'"
        await call(self.bus, *DBUS, "AddMatch", signature="s", body=[rule])
        self.link = link
        config = controller_config(self.tmp_path, link, **controller)
        self.config = config
        self.processes.start("smavenus-can-gateway", "--config", str(config))
        self.processes.start("smavenus-bms-controller", "--config", str(config))
        if publisher:
            self.processes.start("smavenus-vebus-publisher", "--config", str(config))
        await eventually(
            lambda: (
                self.status is not None
                and self.status.measurement_source == "battery_monitor"
                and self.status.inputs["si"].stale is False
            ),
            60,
            "the controller on the monitor and the SI",
            self.processes.logs,
        )

    async def restart_controller(self, **controller: Any) -> None:
        """The bms-controller again, on ``[controller]`` overrides; returns once it commands."""
        self.processes.stop("smavenus-bms-controller")
        self.config = controller_config(self.tmp_path, self.link, **controller)
        seen = len(self.listener.statuses)
        self.processes.start("smavenus-bms-controller", "--config", str(self.config))
        await eventually(lambda: len(self.listener.statuses) > seen + 2, 60, "the new controller")

    def _on_monitor(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "ItemsChanged"
            and msg.path == "/"
        ):
            entry = msg.body[0].get("/Dc/0/Voltage")
            if entry is not None and (volts := from_variant(entry["Value"])) is not None:
                self.monitor_voltages.append(float(volts))

    @property
    def status(self) -> Any:
        return self.listener.status

    def sim(self) -> dict[str, Any]:
        return request(self.control, {"cmd": "status"})

    def sim_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = request(self.control, {"cmd": "events"})["events"]
        return events

    def apply(self, action: str, **fields: Any) -> None:
        reply = request(self.control, {"cmd": "apply", "event": {"action": action, **fields}})
        assert reply.get("ok"), reply


def transitions(listener: ControllerListener) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for _t, status in listener.statuses:
        step = (status.charge_state, status.charge_state_reason)
        if not seen or seen[-1] != step:
            seen.append(step)
    return seen
