"""The can-gateway's surroundings in miniature, for integration tests and the benchmark.

* :class:`FakeSi` plays the USB adapter *and* the Sunny Island: a real pseudo-terminal that
  python-can's slcan interface opens like a CANable, SI status frames in, BMS frames out.
* :class:`GatewayProcess` runs the installed ``smavenus-can-gateway`` console script.
* :class:`Controller` owns ``io.smavenus.BmsController`` and emits ``Command`` signals.
* :class:`GatewayListener` records the gateway's ``Snapshot`` and ``Health`` signals.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from smavenus.config import toml_document
from smavenus.io.dbus import (
    SignalSubscription,
    call,
    connect_system_bus,
    new_signal,
    request_name,
)
from smavenus.io.sim.slcan_pty import SlcanPty
from smavenus.ipc import names
from smavenus.ipc.messages import BmsCommand, GatewayHealth, SiSnapshot
from smavenus.protocol import (
    BatteryStatus,
    ChargeLimits,
    ExternalPower,
    ExternalReactivePower,
    ExternalVoltage,
    FunctionBits1,
    FunctionBits2,
    InverterPower,
    InverterReactivePower,
    OutputVoltage,
    PowerSummary,
    RelayBits,
    RelayStatus,
    SiStatus,
    TotalLoad,
    decode,
    encode,
)
from smavenus.protocol.specs import BMS_CYCLE_IDS
from smavenus.slcan.device import HostFrame
from smavenus.testing.waiting import eventually

GATEWAY = shutil.which("smavenus-can-gateway", path=str(Path(sys.executable).parent))


def max_gap(times: list[float]) -> float:
    """The longest interval between consecutive times (how long the SI went without)."""
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


# -- the Sunny Island, behind a simulated USB adapter ----------------------------------------


def si_cycle(soc_pct: float = 61.2, voltage_v: float = 52.8) -> list[tuple[int, bytes]]:
    """One cycle of SI status frames (0x300-0x30A) with plausible values."""
    models: list[Any] = [
        ExternalPower(1500.0, 0.0, 0.0),
        InverterPower(-1200.0, 0.0, 0.0),
        ExternalReactivePower(100.0, 0.0, 0.0),
        InverterReactivePower(0.0, 0.0, 0.0),
        OutputVoltage(230.4, None, None, 50.0),
        BatteryStatus(voltage_v, -10.0, 23.0, soc_pct),
        SiStatus(100.0, 10, 1, 0, 56.0),
        RelayStatus(
            RelayBits.RELAY1, FunctionBits1.GD_ON | FunctionBits1.EXT_VF_OK, FunctionBits2(0), 0
        ),
        TotalLoad(800.0),
        ExternalVoltage(231.0, None, None, 50.01),
        PowerSummary(0.0, 1500.0, 0.0),
    ]
    return [encode(model) for model in models]


@dataclass(frozen=True)
class Received:
    at: float  #: monotonic time the adapter got the frame from the host
    frame: HostFrame


class FakeSi:
    """The SI on the far side of a simulated CANable (a real pty at ``link_path``)."""

    def __init__(self, link_path: Path) -> None:
        self.received: list[Received] = []
        self.adapter = SlcanPty(self._on_host_frame, link_path=link_path)

    @property
    def path(self) -> str:
        return str(self.adapter.link_path)

    def plug(self) -> None:
        self.adapter.plug()

    def unplug(self) -> None:
        self.adapter.unplug()

    def _on_host_frame(self, frame: HostFrame) -> None:
        self.received.append(Received(time.monotonic(), frame))

    def send(self, can_id: int, data: bytes) -> bool:
        return self.adapter.send_frame(can_id, data)

    def send_cycle(self, frames: list[tuple[int, bytes]] | None = None) -> int:
        return sum(self.send(can_id, data) for can_id, data in frames or si_cycle())

    def write_raw(self, payload: bytes) -> None:
        """Bytes straight onto the host's serial line (garbage a broken adapter might send)."""
        master = self.adapter._master  # private, but the test plays the adapter itself
        assert master is not None
        os.write(master, payload)

    def frames(self, can_id: int, since: float = 0.0) -> list[Received]:
        return [r for r in self.received if r.frame.can_id == can_id and r.at >= since]

    def limits(self, since: float = 0.0) -> list[ChargeLimits]:
        return [decode(0x351, r.frame.data) for r in self.frames(0x351, since)]

    def charge_currents(self, since: float = 0.0) -> list[float]:
        """CCL of every 0x351 received since ``since`` (never "not provided": we always send it)."""
        currents = [lim.charge_current_a for lim in self.limits(since)]
        assert None not in currents
        return [c for c in currents if c is not None]

    def latest(self, can_id: int) -> Any:
        frames = self.frames(can_id)
        return decode(can_id, frames[-1].frame.data) if frames else None

    def whole_set_since(self, since: float = 0.0) -> bool:
        """The frame set whose 0x351 came first since ``since`` has arrived to its last frame.

        The gateway writes a set in :data:`BMS_CYCLE_IDS` order; on a loaded machine the
        adapter can have read the 0x351 of a set and not yet its 0x355 or 0x35A.
        """
        first = self.frames(BMS_CYCLE_IDS[0], since)
        return bool(first) and bool(self.frames(BMS_CYCLE_IDS[-1], first[0].at))


# -- the gateway process ------------------------------------------------------------------


def write_config(directory: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    path = directory / "smavenus.toml"
    path.write_text(toml_document(sections))
    return path


def slcan_config(
    directory: Path, link: str, **sections: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = {
        "can": {"interface": "slcan", "channel": link},
        "paths": {"state_dir": str(directory / "state")},
        "logging": {"level": "info", "format": "plain"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


class GatewayProcess:
    """``smavenus-can-gateway --config FILE`` as a subprocess; its log lines are kept."""

    def __init__(
        self,
        config: Path,
        env: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        stderr: int | None = None,
    ) -> None:
        assert GATEWAY is not None, "pip install the project first (scripts/test does)"
        #: What runs instead of the console script (a staged-fault variant of its main()).
        self.command = command or [str(GATEWAY)]
        #: A descriptor for stderr instead of a pipe this object reads (then no lines kept).
        self.stderr = stderr
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> GatewayProcess:
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            "--config",
            str(self.config),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE if self.stderr is None else self.stderr,
        )
        if self.stderr is None:
            self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def events(self, name: str) -> list[str]:
        return [line for line in self.lines if f" event={name} " in f"{line} "]

    def log_text(self) -> str:
        return "\n".join(self.lines)

    def assert_clean_log(self, *expected: str) -> None:
        """No errors, no tracebacks, and no lost bus unless the test caused one."""
        text = self.log_text()
        assert "Traceback" not in text, text
        assert not [line for line in self.lines if line.startswith("level=error")], text
        if "can_bus_lost" not in expected:
            assert not self.events("can_bus_lost"), text

    async def kill9(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return await self.wait()

    async def stop(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
        return await self.wait(timeout_s)

    async def wait(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout_s)
        except asyncio.TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 30.0)
        return code


# -- D-Bus peers ------------------------------------------------------------------------------


class Controller:
    """Stands in for the bms-controller: owns its name, emits commands."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.seq = 0

    @classmethod
    async def connect(cls, own_name: bool = True) -> Controller:
        bus = await connect_system_bus()
        if own_name:
            await request_name(bus, names.CONTROLLER_BUS_NAME)
        return cls(bus)

    def command(self, **values: Any) -> BmsCommand:
        self.seq += 1
        fields: dict[str, Any] = {
            "seq": self.seq,
            "sent_monotonic": time.monotonic(),
            "sent_unix": time.time(),
            "charge_voltage_v": 56.0,
            "charge_current_a": 100.0,
            "discharge_current_a": 150.0,
            "discharge_voltage_v": 46.0,
            "soc_pct": 60.0,
        }
        fields.update(values)
        return BmsCommand.model_validate(fields)

    async def emit(self, command: BmsCommand | str) -> None:
        payload = command if isinstance(command, str) else command.model_dump_json()
        await self.bus.send(
            new_signal(
                names.CONTROLLER_PATH,
                names.CONTROLLER_INTERFACE,
                names.COMMAND_SIGNAL,
                "s",
                [payload],
            )
        )

    async def close(self) -> None:
        self.bus.disconnect()
        await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


class GatewayListener:
    """Records the gateway's signals and calls its methods, as a subscriber would."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.snapshots: list[tuple[float, SiSnapshot]] = []
        self.health: list[GatewayHealth] = []
        self._subscriptions = [
            SignalSubscription(bus, names.GATEWAY_INTERFACE, names.SNAPSHOT_SIGNAL, self._snap),
            SignalSubscription(bus, names.GATEWAY_INTERFACE, names.HEALTH_SIGNAL, self._health),
        ]

    async def start(self) -> GatewayListener:
        for subscription in self._subscriptions:
            await subscription.start()
        return self

    def _snap(self, msg: Message) -> None:
        self.snapshots.append((time.monotonic(), SiSnapshot.model_validate_json(msg.body[0])))

    def _health(self, msg: Message) -> None:
        self.health.append(GatewayHealth.model_validate_json(msg.body[0]))

    async def method(self, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        reply = await call(
            self.bus,
            names.GATEWAY_BUS_NAME,
            names.GATEWAY_PATH,
            names.GATEWAY_INTERFACE,
            member,
            signature=signature,
            body=body or [],
        )
        return reply[0]

    async def get_health(self) -> GatewayHealth:
        return GatewayHealth.model_validate_json(await self.method(names.GET_HEALTH_METHOD))

    async def get_snapshot(self) -> SiSnapshot:
        return SiSnapshot.model_validate_json(await self.method(names.GET_SNAPSHOT_METHOD))

    async def gateway_on_bus(self) -> bool:
        try:
            await self.get_health()
        except Exception:  # not on the bus yet
            return False
        return True


async def wait_for_gateway(listener: GatewayListener, timeout_s: float = 30.0) -> None:
    await eventually(listener.gateway_on_bus, timeout_s, "the gateway to appear on D-Bus")


Check = Callable[[], Awaitable[bool]]
