"""End to end over slcan: simulated SI → can-gateway → vebus-publisher → a Venus client.

Three real processes (``smavenus-sim`` on a pty that python-can opens as a CANable,
``smavenus-can-gateway``, ``smavenus-vebus-publisher``) on a private system bus. The client
records the gateway's ``Snapshot`` signals and the publisher's ``ItemsChanged`` in the order
the bus delivers them, and checks that what each SI cycle said reaches the vebus paths, in
Victron's signs and units, cycle after cycle in order (how soon: ``bench/vebus_publisher.py``,
in ``docs/benchmarks.md``). The simulator's own state (its control socket) is the physical
truth the signs are checked against.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call
from smavenus.io.sim.control import request
from smavenus.ipc import names
from smavenus.ipc.messages import ControllerStatus, SiSnapshot
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually
from smavenus.vebus.enums import ActiveInput, VebusState
from tests.integration.vebus_peers import BUSITEM, DBUS, Client

BIN = Path(sys.executable).parent
CYCLE_S = 0.25
SCENARIO = f"""
name = "vebus-e2e"
description = "off grid, split phase, inverting for two unequal loads"
seed = 7

[si]
preset = "split_120_240_60"
status_period_s = {CYCLE_S}

[grid]
present = false

[loads]
power_w = [1500, 700]
"""


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(BIN / name), *args], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        log.close()
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()}" for p in sorted(self.directory.glob("*.log"))
        )

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop_all()


class Recorder:
    """Snapshots, controller Status and ItemsChanged, in the order the bus delivered them."""

    RULES = (
        f"type='signal',interface='{names.GATEWAY_INTERFACE}',member='{names.SNAPSHOT_SIGNAL}'",
        f"type='signal',interface='{names.CONTROLLER_INTERFACE}',member='{names.STATUS_SIGNAL}'",
        f"type='signal',interface='{BUSITEM}',member='ItemsChanged',path='/'",
    )

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.stream: list[tuple[str, Any]] = []
        bus.add_message_handler(self._on)

    async def start(self) -> Recorder:
        for rule in self.RULES:
            await call(self.bus, *DBUS, "AddMatch", signature="s", body=[rule])
        return self

    def count(self, kind: str) -> int:
        return sum(k == kind for k, _ in self.stream)

    def _on(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        if msg.member == names.SNAPSHOT_SIGNAL and msg.interface == names.GATEWAY_INTERFACE:
            self.stream.append(("snapshot", SiSnapshot.model_validate_json(msg.body[0])))
        elif msg.member == names.STATUS_SIGNAL and msg.interface == names.CONTROLLER_INTERFACE:
            self.stream.append(("status", ControllerStatus.model_validate_json(msg.body[0])))
        elif msg.member == "ItemsChanged" and msg.interface == BUSITEM:
            self.stream.append(("items", msg.body[0]))


async def bring_up(
    tmp_path: Path, processes: Processes, scenario: str, *, controller: bool
) -> tuple[Path, Path]:
    """Simulator, gateway, (controller,) publisher. Returns the config and control socket."""
    (tmp_path / "scenario.toml").write_text(scenario)
    link, control = tmp_path / "ttyACM-sim", tmp_path / "sim.sock"
    sim_args = ["--scenario", str(tmp_path / "scenario.toml"), "--slcan-link", str(link)]
    sim_args += ["--control", str(control), "--log-format", "plain"]
    if controller:
        sim_args += ["--battery-monitor", "sim"]  # a SmartShunt and systemcalc's paths
    processes.start("smavenus-sim", *sim_args)
    await eventually(link.exists, timeout_s=15)
    config = tmp_path / "smavenus.toml"
    config.write_text(
        f'[can]\ninterface = "slcan"\nchannel = "{link}"\n'
        f'[paths]\nstate_dir = "{tmp_path}"\n[logging]\nformat = "plain"\n'
        '[vebus]\nservice_suffix = "sma_can0"\n'
    )
    processes.start("smavenus-can-gateway", "--config", str(config))
    if controller:
        processes.start("smavenus-bms-controller", "--config", str(config))
    processes.start("smavenus-vebus-publisher", "--config", str(config))
    return config, control


def expected_from(snapshot: SiSnapshot) -> dict[str, Any]:
    """What one SI cycle must show on the vebus paths (signs and units by hand)."""
    assert snapshot.battery_status and snapshot.output_voltage
    assert snapshot.external_power and snapshot.inverter_power
    battery = snapshot.battery_status.value
    assert battery.voltage_v is not None and battery.current_a is not None
    out_v, ext, inv = (
        snapshot.output_voltage.value,
        snapshot.external_power.value,
        snapshot.inverter_power.value,
    )
    assert ext.l1_w is not None and inv.l1_w is not None
    assert ext.l2_w is not None and inv.l2_w is not None
    return {
        "/Dc/0/Voltage": round(battery.voltage_v, 2),
        "/Dc/0/Current": round(-battery.current_a, 1),  # SMA: + discharging; Victron: + charging
        "/Dc/0/Power": round(battery.voltage_v * -battery.current_a),
        "/Ac/Out/L1/P": ext.l1_w + inv.l1_w,  # output = external + inverter, W
        "/Ac/Out/L2/P": ext.l2_w + inv.l2_w,
        "/Ac/Out/P": ext.l1_w + inv.l1_w + ext.l2_w + inv.l2_w,
        "/Ac/Out/L1/V": out_v.l1_v,
        "/Ac/Out/L1/F": out_v.frequency_hz,
    }


@pytest.mark.slow
async def test_simulator_values_reach_the_vebus_paths_within_one_cycle(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, processes: Processes, system_bus: MessageBus
) -> None:
    _config, control = await bring_up(tmp_path, processes, SCENARIO, controller=False)
    client = Client(system_bus)
    recorder = await Recorder(system_bus).start()
    try:
        await eventually(client.owner, timeout_s=60)
        await eventually(lambda: _connected(client), timeout_s=60)
    except AssertionError:
        pytest.fail("the chain did not come up:\n" + processes.logs())

    state: dict[str, Any] = {
        path: item["Value"].value for path, item in (await client.items()).items()
    }
    recorder.stream.clear()  # GetItems already holds everything delivered before its reply
    await eventually(
        lambda: recorder.count("snapshot") >= 12, 60, "twelve SI cycles", processes.logs
    )
    truth = request(control, {"cmd": "status"})
    # The paths as GetItems showed them, then after each ItemsChanged, in the order sent.
    states: list[dict[str, Any]] = [state]
    for kind, payload in recorder.stream:
        if kind == "items":
            state = state | {path: entry["Value"].value for path, entry in payload.items()}
            states.append(state)
    snapshots = [p for kind, p in recorder.stream if kind == "snapshot"]

    # Each complete cycle shows on the paths exactly as it said, one after the other: the
    # publisher's states pass through every cycle's values in order (a cycle lost, merged
    # with the next or shown wrong would be missing from the sequence).
    checked, at = 0, 0
    for snapshot in snapshots[:-1]:  # the last one's ItemsChanged may still be on its way
        if not _complete(snapshot):
            continue
        expected = expected_from(snapshot)
        while at < len(states) and {p: states[at].get(p) for p in expected} != pytest.approx(
            expected
        ):
            at += 1
        assert at < len(states), f"cycle seq {snapshot.seq} never shown: {expected}"
        checked += 1
    assert checked >= 8
    state = states[-1]

    # Victron's signs and units, checked against the simulated physics
    assert state["/Connected"] == 1
    assert state["/Ac/NumberOfPhases"] == 2
    assert state["/Ac/ActiveIn/ActiveInput"] == ActiveInput.DISCONNECTED
    assert state["/State"] == VebusState.INVERTING
    assert state["/Ac/Out/L1/V"] == pytest.approx(120.0, abs=3)
    assert state["/Ac/Out/L1/F"] == pytest.approx(60.0, abs=0.2)
    assert state["/Ac/Out/L1/P"] == pytest.approx(1500, abs=200)  # 100 W steps, noise
    assert state["/Ac/Out/L2/P"] == pytest.approx(700, abs=200)
    assert truth["battery_current_a"] < 0  # the simulated battery is discharging…
    assert state["/Dc/0/Current"] == pytest.approx(truth["battery_current_a"], abs=2.0)
    assert state["/Dc/0/Power"] < 0  # …and Victron's sign says so
    assert state["/Dc/0/Voltage"] == pytest.approx(truth["battery_voltage_v"], abs=0.3)


async def _connected(client: Client) -> bool:
    return bool(await client.value("/Connected") == 1)


def _complete(snapshot: SiSnapshot) -> bool:
    """A cycle with every frame the expectations read (the SI may skip one now and then)."""
    return all(
        getattr(snapshot, name) is not None
        for name in ("battery_status", "output_voltage", "external_power", "inverter_power")
    )


CHARGING = f"""
name = "vebus-e2e-charging"
description = "on grid, half-full battery: the controller charges it"
seed = 7

[si]
preset = "split_120_240_60"
status_period_s = {CYCLE_S}

[grid]
request = "always"
valid_time_s = 1

[battery]
soc_pct = 50

[loads]
power_w = [1500, 700]
"""


@pytest.mark.slow
async def test_charging_from_the_grid_with_the_controller(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon, processes: Processes, system_bus: MessageBus
) -> None:
    """The whole system: the controller's charge state and the charging sign reach Venus."""
    _config, control = await bring_up(tmp_path, processes, CHARGING, controller=True)
    client = Client(system_bus)
    recorder = await Recorder(system_bus).start()
    try:
        await eventually(client.owner, timeout_s=60)
        await eventually(lambda: _equals(client, "/Ac/ActiveIn/ActiveInput", 0), timeout_s=60)
        await eventually(lambda: _charging(client), timeout_s=60)
    except AssertionError:
        pytest.fail("the SI never charged from the grid:\n" + processes.logs())
    before = await client.value("/Energy/AcIn1ToInverter")
    discharged_before = await client.value("/Energy/InverterToAcOut")
    recorder.stream.clear()
    await eventually(lambda: recorder.count("status") >= 3, 60, "three controller cycles")
    truth = request(control, {"cmd": "status"})

    async def shows_the_latest_status() -> dict[str, Any] | None:
        # The status is cached and shown with the next SI cycle: wait for that cycle.
        (latest,) = [p for k, p in recorder.stream if k == "status"][-1:]
        items = await client.items()
        state = {path: item["Value"].value for path, item in items.items()}
        phase = {"bulk": 1, "absorption": 2, "float": 3}[latest.charge_state]
        return state if state["/VebusChargeState"] == phase else None

    state = await eventually(shows_the_latest_status, 60, "the controller's state on vebus")
    phase = state["/VebusChargeState"]
    assert state["/VebusChargeState"] == phase
    assert (
        state["/State"]
        == {1: VebusState.BULK, 2: VebusState.ABSORPTION, 3: VebusState.FLOAT}[phase]
    )
    assert state["/Alarms/BmsConnectionLost"] == 0  # the gateway hears the controller
    assert truth["battery_current_a"] > 0  # the simulated battery charges…
    assert state["/Dc/0/Current"] > 0  # …and Victron's sign says so
    assert state["/Dc/0/Power"] > 0
    assert state["/Ac/ActiveIn/P"] > state["/Ac/Out/P"]  # the grid feeds loads and charger
    assert state["/Ac/ActiveIn/Connected"] == 1
    assert state["/Alarms/GridLost"] == 0
    assert state["/Energy/AcIn1ToInverter"] > before  # charging energy counted from AC in 1
    assert state["/Energy/InverterToAcOut"] == discharged_before  # nothing while charging


async def _equals(client: Client, path: str, expected: Any) -> bool:
    return bool(await client.value(path) == expected)


async def _charging(client: Client) -> bool:
    current = await client.value("/Dc/0/Current")
    return current is not None and current > 5.0
