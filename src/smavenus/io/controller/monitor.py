"""Following the battery monitor on Venus OS's D-Bus, through systemcalc's choice.

Which monitor: the one named in ``[controller] battery_service``, or else the one systemcalc
selected — ``com.victronenergy.system`` ``/ActiveBatteryService``, e.g.
``com.victronenergy.battery/512``: the ``com.victronenergy.battery.*`` service whose
``/DeviceInstance`` is 512. Only the ``battery`` class is followed: when systemcalc selected
the vebus (our own SI, published from the SI's numbers) or "no battery", there is no monitor
and the controller runs on the SI's measurements, degraded.

How it is followed: :class:`~smavenus.io.dbus.follower.ServiceFollower`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.controller.inputs import MonitorSample
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.follower import ServiceFollower
from smavenus.io.dbus.primitives import DBUS_NAME, DBUS_PATH, SignalSubscription, call

log = structlog.get_logger(__name__)


SYSTEM_SERVICE = "com.victronenergy.system"
BATTERY_CLASS = "com.victronenergy.battery"
ACTIVE_BATTERY_PATH = "/ActiveBatteryService"

#: Monitor path → MonitorSample field.
MONITOR_PATHS: dict[str, str] = {
    "/Dc/0/Voltage": "voltage_v",
    "/Dc/0/Current": "current_a",
    "/Dc/0/Temperature": "temperature_c",
    "/Soc": "soc_pct",
    "/System/MinCellVoltage": "min_cell_v",
    "/System/MaxCellVoltage": "max_cell_v",
}
CONNECTED_PATH = "/Connected"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def sample_from_values(
    service: str, values: dict[str, Any], updated_at: float
) -> MonitorSample | None:
    """The controller's view of a monitor's paths; None when it says it is not connected."""
    if values.get(CONNECTED_PATH) == 0:
        return None
    fields = {name: _number(values.get(path)) for path, name in MONITOR_PATHS.items()}
    return MonitorSample(service=service, updated_at=updated_at, **fields)


def parse_active_battery(value: Any) -> tuple[str, int] | None:
    """``"com.victronenergy.battery/512"`` → (class, instance); anything else → None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    service_class, _, instance = value.rpartition("/")
    try:
        return service_class, int(instance)
    except ValueError:
        return None


class BatteryMonitor:
    """The battery monitor the controller should use, followed as it appears, vanishes or is
    replaced. ``on_sample(sample | None)`` after every change (None: no monitor now)."""

    def __init__(
        self,
        bus: MessageBus,
        configured: str | None,
        on_sample: Callable[[MonitorSample | None], None],
        *,
        poll_after_s: float,
    ) -> None:
        self.bus = bus
        self.configured = configured
        self.service: str | None = None
        self._on_sample = on_sample
        self._poll_after_s = poll_after_s
        self._follower: ServiceFollower | None = None
        self._system: ServiceFollower | None = None
        self._names: SignalSubscription | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.configured:
            log.info("battery_monitor_configured", service=self.configured)
            await self._follow(self.configured)
            return
        self._system = ServiceFollower(
            self.bus,
            SYSTEM_SERVICE,
            self._system_changed,
            paths=frozenset({ACTIVE_BATTERY_PATH}),
        )
        self._names = SignalSubscription(
            self.bus,
            DBUS_NAME,
            "NameOwnerChanged",
            self._name_changed,
            path=DBUS_PATH,
            sender=DBUS_NAME,
        )
        await self._names.start()
        await self._system.start()
        await self._resolve()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._names is not None:
            await self._names.stop()
        if self._system is not None:
            await self._system.stop()
        if self._follower is not None:
            await self._follower.stop()

    # -- selection ---------------------------------------------------------------------------

    def _system_changed(self) -> None:
        self._spawn(self._resolve())

    def _name_changed(self, msg: Message) -> None:
        name = str(msg.body[0])
        if name.startswith(BATTERY_CLASS + ".") and name != self.service:
            self._spawn(self._resolve())  # a battery appeared or left: the selection may change

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self) -> None:
        async with self._lock:
            assert self._system is not None
            if self._system.owner is None and self.service is not None:
                # systemcalc restarting: its choice has not changed, keep the monitor
                log.info("system_absent_keeping_monitor", service=self.service)
                return
            active = self._system.values.get(ACTIVE_BATTERY_PATH)
            parsed = parse_active_battery(active)
            if parsed is None or parsed[0] != BATTERY_CLASS:
                if self.service is not None or self._follower is None:
                    log.warning(
                        "no_battery_monitor",
                        active_battery_service=active,
                        system_present=self._system.owner is not None,
                        using="the SI's own measurements",
                    )
                await self._follow(None)
                return
            name = await self._find(parsed[1])
            if name is None:
                log.warning("battery_monitor_not_found", active_battery_service=active)
            await self._follow(name)

    async def _find(self, instance: int) -> str | None:
        (names,) = await call(self.bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
        for name in sorted(n for n in names if n.startswith(BATTERY_CLASS + ".")):
            try:
                (value,) = await call(
                    self.bus, name, "/DeviceInstance", BUSITEM, "GetValue", timeout_s=2.0
                )
            except (DBusError, asyncio.TimeoutError):
                continue
            if from_variant(value) == instance:
                return str(name)
        return None

    async def _follow(self, name: str | None) -> None:
        if name == self.service and (name is None or self._follower is not None):
            return
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        self.service = name
        if name is None:
            self._on_sample(None)
            return
        log.info("battery_monitor_selected", service=name)
        self._follower = ServiceFollower(
            self.bus,
            name,
            self._monitor_changed,
            paths=frozenset({*MONITOR_PATHS, CONNECTED_PATH}),
            poll_after_s=self._poll_after_s,
        )
        await self._follower.start()
        if self._follower.updated_at is None:
            self._on_sample(None)

    def _monitor_changed(self) -> None:
        follower = self._follower
        if follower is None or follower.updated_at is None or self.service is None:
            self._on_sample(None)
            return
        self._on_sample(sample_from_values(self.service, follower.values, follower.updated_at))
