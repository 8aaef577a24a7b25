"""Helpers for the tests marked ``kernel_can``: the SI's side of a kernel CAN interface, and
``ip`` to take interfaces down, up, away and back as an unplugged adapter would.

These tests run where the kernel has vcan0/vcan1 (in the qemu guest of ``scripts/can-vm``
where the host has none), where Python is many times slower than on the host: their deadlines
are generous, and they wait on events, never for fixed times.
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can

from smavenus.protocol import ChargeLimits, decode

from .gateway_harness import GatewayProcess, write_config

#: What a deadline must allow for under emulation (one Python process starting takes ~10 s).
GUEST_SLOW_S = 60.0


async def ip(*args: str) -> None:
    """``ip ARGS`` (needs CAP_NET_ADMIN: root, or the guest's ambient capability)."""
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, f"ip {' '.join(args)}: {err.decode().strip()}"


def exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def is_up(name: str) -> bool:
    flags = Path("/sys/class/net", name, "flags")
    return flags.exists() and bool(int(flags.read_text(), 16) & 0x1)


@dataclass(frozen=True)
class WireFrame:
    at: float  #: the kernel's receive timestamp (CLOCK_REALTIME, as time.time())
    can_id: int
    data: bytes
    error: bool


class Wire:
    """The SI's side of a kernel CAN interface: every frame with its kernel timestamp.

    Read in a thread. It survives the interface going down (the socket reports ENETDOWN
    once, then goes on) and being deleted and re-created (it binds to the new one).
    """

    def __init__(self, channel: str = "vcan0") -> None:
        self.channel = channel
        self.frames: list[WireFrame] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bus: can.BusABC | None = can.Bus(interface="socketcan", channel=channel)
        self._thread = threading.Thread(target=self._run, name="wire", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            bus = self._bus
            if bus is None:
                # Bound only once it exists again: python-can leaks the socket of a failed bind.
                if not exists(self.channel):
                    self._stop.wait(0.02)
                    continue
                bus = self._bus = can.Bus(interface="socketcan", channel=self.channel)
            try:
                msg = bus.recv(0.05)
            except can.CanOperationError as exc:
                self.errors.append(str(exc))
                if exc.error_code == errno.ENODEV:  # deleted: the socket is unbound for good
                    self._bus = None
                    bus.shutdown()
                continue
            if msg is not None:
                frame = WireFrame(
                    msg.timestamp, msg.arbitration_id, bytes(msg.data), msg.is_error_frame
                )
                with self._lock:
                    self.frames.append(frame)

    def send(self, can_id: int, data: bytes, *, extended: bool = False) -> None:
        msg = can.Message(arbitration_id=can_id, data=data, is_extended_id=extended)
        assert self._bus is not None
        self._bus.send(msg)

    def send_error_frame(self, error_class: int, data: bytes = bytes(8)) -> None:
        """An error frame as a controller reports bus-off or a restart (vcan passes it on)."""
        msg = can.Message(
            arbitration_id=error_class, data=data, is_error_frame=True, is_extended_id=False
        )
        assert self._bus is not None
        self._bus.send(msg)

    def of(self, can_id: int, since: float = 0.0) -> list[WireFrame]:
        with self._lock:
            return [f for f in self.frames if f.can_id == can_id and f.at >= since]

    def limits(self, since: float = 0.0) -> list[tuple[float, ChargeLimits]]:
        return [(f.at, decode(0x351, f.data)) for f in self.of(0x351, since)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        if self._bus is not None:
            self._bus.shutdown()


def socketcan_config(
    directory: Path, channel: str = "vcan0", **sections: Mapping[str, Any]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, dict[str, Any]] = {
        "can": {"interface": "socketcan", "channel": channel, "bms_period_s": 0.2},
        "paths": {"state_dir": str(directory / "state")},
        "logging": {"level": "debug", "format": "plain"},
        "gateway": {"reopen_backoff_max_s": 0.5},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return write_config(directory, config)


async def start_gateway(directory: Path, **sections: Mapping[str, Any]) -> GatewayProcess:
    return await GatewayProcess(socketcan_config(directory, **sections)).start()
