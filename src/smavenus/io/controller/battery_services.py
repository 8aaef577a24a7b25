"""Following the battery monitor and the battery BMS on Venus's D-Bus, and what systemcalc says.

* **systemcalc** (``com.victronenergy.system``): ``/ActiveBatteryService`` (the monitor it
  selected, ``com.victronenergy.battery/512``), ``/ActiveBmsService`` (the controlling BMS,
  a service name) and ``/Control/Dvcc`` (1 while DVCC is on). Followed with one
  :class:`~smavenus.io.dbus.follower.ServiceFollower`; every change goes to the controller as a
  :class:`~smavenus.controller.inputs.SystemSample` and re-evaluates both selections.
* **the monitor**: ``[controller] battery_service``, else systemcalc's choice. Only the
  ``battery`` class is followed: when systemcalc selected our own vebus or "no battery" there
  is no monitor and the controller runs on the SI's measurements, degraded.
* **the BMS**: ``[controller] bms_service``, else systemcalc's ``/ActiveBmsService``. It may be
  the very service the monitor is (dbus-serialbattery, a CAN-bus battery).

Each chosen service is followed as Victron's own clients do (GetItems, then ItemsChanged and
PropertiesChanged from its current owner, a rescan after ``poll_after_s`` of silence). While
systemcalc restarts, its last choice is kept. Values become samples here; a value that is
not a finite number is *missing*, never a number (the core checks again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.controller.inputs import BmsSample, MonitorSample, SystemSample, finite
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.follower import ServiceFollower
from smavenus.io.dbus.primitives import DBUS_NAME, DBUS_PATH, SignalSubscription, call
from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger(__name__)

SYSTEM_SERVICE = "com.victronenergy.system"
BATTERY_CLASS = "com.victronenergy.battery"
ACTIVE_BATTERY_PATH = "/ActiveBatteryService"
ACTIVE_BMS_PATH = "/ActiveBmsService"
CONTROL_DVCC_PATH = "/Control/Dvcc"
CONNECTED_PATH = "/Connected"

#: Monitor path → MonitorSample field.
MONITOR_PATHS: dict[str, str] = {
    "/Dc/0/Voltage": "voltage_v",
    "/Dc/0/Current": "current_a",
    "/Dc/0/Temperature": "temperature_c",
    "/Soc": "soc_pct",
    "/System/MinCellVoltage": "min_cell_v",
    "/System/MaxCellVoltage": "max_cell_v",
}
#: BMS path → BmsSample number field (besides the monitor's).
BMS_PATHS: dict[str, str] = {
    **MONITOR_PATHS,
    "/System/MinCellTemperature": "min_cell_temperature_c",
    "/System/MaxCellTemperature": "max_cell_temperature_c",
    "/Info/MaxChargeVoltage": "max_charge_voltage_v",
    "/Info/MaxChargeCurrent": "max_charge_current_a",
    "/Info/MaxDischargeCurrent": "max_discharge_current_a",
    "/Info/BatteryLowVoltage": "battery_low_voltage_v",
}
#: BMS path → BmsSample flag field (0/1 on the bus).
BMS_FLAGS: dict[str, str] = {
    "/Info/ChargeRequest": "charge_request",
    "/Io/AllowToCharge": "allow_to_charge",
    "/Io/AllowToDischarge": "allow_to_discharge",
}
MODULES_ONLINE_PATH = "/System/NrOfModulesOnline"
ALARM_PREFIX = "/Alarms/"
#: Every /Alarms/<Name> Victron defines for a battery (reference §2.2).
ALARM_NAMES = (
    "LowVoltage", "HighVoltage", "LowCellVoltage", "HighCellVoltage", "LowSoc",
    "StateOfHealth", "HighChargeCurrent", "HighDischargeCurrent", "HighCurrent",
    "CellImbalance", "InternalFailure", "HighChargeTemperature", "LowChargeTemperature",
    "HighTemperature", "LowTemperature", "HighInternalTemperature", "FuseBlown", "Contactor",
    "BmsCable", "MidVoltage", "Alarm",
)  # fmt: skip


def sample_from_values(
    service: str, values: Mapping[str, Any], updated_at: float
) -> MonitorSample | None:
    """The controller's view of a monitor's paths; None when it says it is not connected."""
    if values.get(CONNECTED_PATH) == 0:
        return None
    fields = {name: finite(values.get(path)) for path, name in MONITOR_PATHS.items()}
    return MonitorSample(service=service, updated_at=updated_at, **fields)


def _flag(value: Any) -> bool | None:
    number = finite(value)
    return None if number is None else number != 0


def bms_sample_from_values(service: str, values: Mapping[str, Any], updated_at: float) -> BmsSample:
    """The controller's view of a BMS's paths (a disconnected BMS is a sample, not fresh)."""
    numbers: dict[str, Any] = {name: finite(values.get(path)) for path, name in BMS_PATHS.items()}
    flags: dict[str, Any] = {name: _flag(values.get(path)) for path, name in BMS_FLAGS.items()}
    modules = finite(values.get(MODULES_ONLINE_PATH))
    alarms = {}
    for name in ALARM_NAMES:
        level = finite(values.get(ALARM_PREFIX + name))
        if level is not None:
            alarms[name] = min(max(int(level), 0), 2)
    return BmsSample(
        service=service,
        updated_at=updated_at,
        connected=values.get(CONNECTED_PATH) != 0,
        modules_online=None if modules is None else int(modules),
        alarms=alarms,
        **numbers,
        **flags,
    )


def parse_active_battery(value: Any) -> tuple[str, int] | None:
    """``"com.victronenergy.battery/512"`` → (class, instance); anything else → None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    service_class, _, instance = value.rpartition("/")
    try:
        return service_class, int(instance)
    except ValueError:
        return None


class SystemFollower:
    """systemcalc's choices and DVCC's state; listeners are called after every change."""

    def __init__(
        self,
        bus: MessageBus,
        on_sample: Callable[[SystemSample | None], None],
        *,
        poll_after_s: float,
    ) -> None:
        self._on_sample = on_sample
        self.listeners: list[Callable[[], None]] = []
        self._last_values: dict[str, Any] | None = None
        # systemcalc publishes only changes, and /Control/Dvcc hardly ever changes: a rescan
        # after a silence confirms it, so its age means what every input's age means.
        self.follower = ServiceFollower(
            bus,
            SYSTEM_SERVICE,
            self._changed,
            paths=frozenset({ACTIVE_BATTERY_PATH, ACTIVE_BMS_PATH, CONTROL_DVCC_PATH}),
            poll_after_s=poll_after_s,
        )

    @property
    def present(self) -> bool:
        return self.follower.owner is not None

    def value(self, path: str) -> Any:
        return self.follower.values.get(path)

    async def start(self) -> None:
        await self.follower.start()
        self._changed()

    async def stop(self) -> None:
        await self.follower.stop()

    def _changed(self) -> None:
        at = self.follower.updated_at
        if at is None:
            self._on_sample(None)
        else:
            dvcc = finite(self.value(CONTROL_DVCC_PATH))
            bms = self.value(ACTIVE_BMS_PATH)
            self._on_sample(
                SystemSample(
                    updated_at=at,
                    dvcc_on=None if dvcc is None else dvcc == 1,
                    active_bms_service=bms if isinstance(bms, str) and bms else None,
                )
            )
        if self.follower.values != self._last_values:
            self._last_values = dict(self.follower.values)
            for listener in self.listeners:  # a rescan that changed nothing chooses nothing
                listener()


Chooser = Callable[[SystemFollower], Awaitable[tuple[str | None, str]]]


class SelectedService:
    """One battery service, chosen by configuration or by systemcalc, followed as it appears,
    vanishes or is replaced. ``on_values(service, values, updated_at)`` after every change
    (``service`` None: none chosen now)."""

    def __init__(
        self,
        bus: MessageBus,
        role: str,
        configured: str | None,
        system: SystemFollower,
        *,
        choose: Chooser,
        on_values: Callable[[str | None, Mapping[str, Any], float | None], None],
        paths: frozenset[str],
        poll_after_s: float,
    ) -> None:
        self.bus = bus
        self.role = role
        self.configured = configured
        self.service: str | None = None
        self._system = system
        self._choose = choose
        self._on_values = on_values
        self._paths = paths
        self._poll_after_s = poll_after_s
        self._follower: ServiceFollower | None = None
        self._names: SignalSubscription | None = None
        self._lock = asyncio.Lock()
        self._tasks = OwnedTasks(role)

    async def start(self) -> None:
        if self.configured:
            log.info(f"{self.role}_configured", service=self.configured)
            await self._follow(self.configured)
            return
        self._system.listeners.append(self._resolve_soon)
        self._names = SignalSubscription(
            self.bus, DBUS_NAME, "NameOwnerChanged", self._name_changed,
            path=DBUS_PATH, sender=DBUS_NAME,
        )  # fmt: skip
        await self._names.start()
        await self._resolve()

    async def stop(self) -> None:
        self._tasks.cancel()
        if self._names is not None:
            await self._names.stop()
        if self._follower is not None:
            await self._follower.stop()

    def _name_changed(self, msg: Message) -> None:
        if msg.sender != DBUS_NAME:  # a forgery sent straight to us: only the daemon's counts
            return
        name = str(msg.body[0])
        if name.startswith(BATTERY_CLASS + ".") and name != self.service:
            self._resolve_soon()  # a battery appeared or left: the choice may change

    def _resolve_soon(self) -> None:
        self._tasks.spawn(self._resolve(), "resolve")

    async def _resolve(self) -> None:
        async with self._lock:
            if not self._system.present and self.service is not None:
                # systemcalc restarting: its choice has not changed, keep the service
                log.info(f"system_absent_keeping_{self.role}", service=self.service)
                return
            name, why = await self._choose(self._system)
            if name is None and (self.service is not None or self._follower is None):
                log.warning(f"no_{self.role}", why=why, system_present=self._system.present)
            await self._follow(name)

    async def _follow(self, name: str | None) -> None:
        if name == self.service and (name is None or self._follower is not None):
            return
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
        self.service = name
        if name is None:
            self._on_values(None, {}, None)
            return
        log.info(f"{self.role}_selected", service=name)
        self._follower = ServiceFollower(
            self.bus, name, self._changed, paths=self._paths, poll_after_s=self._poll_after_s
        )
        await self._follower.start()
        if self._follower.updated_at is None:
            self._on_values(name, {}, None)

    def _changed(self) -> None:
        follower = self._follower
        if follower is None:
            return
        self._on_values(self.service, follower.values, follower.updated_at)


async def find_battery(bus: MessageBus, instance: int) -> str | None:
    """The ``com.victronenergy.battery.*`` service whose ``/DeviceInstance`` is ``instance``."""
    (names,) = await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
    for name in sorted(n for n in names if n.startswith(BATTERY_CLASS + ".")):
        try:
            (value,) = await call(bus, name, "/DeviceInstance", BUSITEM, "GetValue", timeout_s=2.0)
        except (DBusError, asyncio.TimeoutError):
            continue
        if from_variant(value) == instance:
            return str(name)
    return None


async def choose_monitor(system: SystemFollower) -> tuple[str | None, str]:
    active = system.value(ACTIVE_BATTERY_PATH)
    parsed = parse_active_battery(active)
    if parsed is None or parsed[0] != BATTERY_CLASS:
        return None, f"systemcalc's /ActiveBatteryService is {active!r}: the SI's measurements"
    name = await find_battery(system.follower.bus, parsed[1])
    return name, "" if name else f"no battery service has instance {parsed[1]}"


async def choose_bms(system: SystemFollower) -> tuple[str | None, str]:
    active = system.value(ACTIVE_BMS_PATH)
    if isinstance(active, str) and active.startswith(BATTERY_CLASS + "."):
        return active, ""
    return None, f"systemcalc's /ActiveBmsService is {active!r}: no battery BMS"


class BatteryServices:
    """The monitor, the BMS and systemcalc, as samples for the controller."""

    def __init__(
        self,
        bus: MessageBus,
        *,
        monitor_service: str | None,
        bms_service: str | None,
        on_monitor: Callable[[MonitorSample | None], None],
        on_bms: Callable[[BmsSample | None], None],
        on_system: Callable[[SystemSample | None], None],
        poll_after_s: float,
    ) -> None:
        self.system = SystemFollower(bus, on_system, poll_after_s=poll_after_s)

        def monitor(service: str | None, values: Mapping[str, Any], at: float | None) -> None:
            on_monitor(
                None if service is None or at is None else sample_from_values(service, values, at)
            )

        def bms(service: str | None, values: Mapping[str, Any], at: float | None) -> None:
            on_bms(
                None
                if service is None or at is None
                else bms_sample_from_values(service, values, at)
            )

        self.monitor = SelectedService(
            bus, "battery_monitor", monitor_service, self.system, choose=choose_monitor,
            on_values=monitor, paths=frozenset({*MONITOR_PATHS, CONNECTED_PATH}),
            poll_after_s=poll_after_s,
        )  # fmt: skip
        bms_paths = {*BMS_PATHS, *BMS_FLAGS, MODULES_ONLINE_PATH, CONNECTED_PATH}
        self.bms = SelectedService(
            bus, "battery_bms", bms_service, self.system, choose=choose_bms, on_values=bms,
            paths=frozenset({*bms_paths, *(ALARM_PREFIX + n for n in ALARM_NAMES)}),
            poll_after_s=poll_after_s,
        )  # fmt: skip

    async def start(self) -> None:
        await self.system.start()
        await self.monitor.start()
        await self.bms.start()

    async def stop(self) -> None:
        await self.bms.stop()
        await self.monitor.stop()
        await self.system.stop()
