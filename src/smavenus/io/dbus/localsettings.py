"""Client of Venus OS's settings service (``com.victronenergy.settings``, "localsettings").

Creates our settings with ``AddSettings`` (existing values are never overwritten; min, max
and default are updated), follows changes through ``PropertiesChanged`` (the only change
signal localsettings emits) and re-creates them when the service comes back. Without
localsettings (plain Linux) :attr:`LocalSettings.available` stays False and callers keep
their TOML values: nothing here is required for smavenus to run.

Protocol facts (``venus-dbus.md`` §3.2): ``AddSettings`` on ``/``, interface
``com.victronenergy.Settings``, ``aa{sv} -> aa{sv}``; the variant type of ``default`` decides
the setting's type (Int32 → integer, Double → float, String → string); a setting's
``SetValue`` returns 0 or -1 (type or range refused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.io.dbus import NameOwnerWatcher, SignalSubscription, call
from smavenus.io.dbus.busitem import BUSITEM, from_variant

log = structlog.get_logger(__name__)

SETTINGS_SERVICE = "com.victronenergy.settings"
SETTINGS_INTERFACE = "com.victronenergy.Settings"

SettingValue = int | float | str


@dataclass(frozen=True)
class SettingSpec:
    """One setting: absolute path under ``/Settings``, default (its type decides the kind)."""

    path: str
    default: SettingValue
    minimum: SettingValue | None = None
    maximum: SettingValue | None = None
    silent: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/Settings/"):
            raise ValueError(f"{self.path}: settings live under /Settings/")

    def variant(self, value: SettingValue) -> Variant:
        if isinstance(self.default, str):
            return Variant("s", str(value))
        if isinstance(self.default, float):
            return Variant("d", float(value))
        return Variant("i", int(value))

    def as_entry(self) -> dict[str, Variant]:
        entry = {"path": Variant("s", self.path), "default": self.variant(self.default)}
        if self.minimum is not None:
            entry["min"] = self.variant(self.minimum)
        if self.maximum is not None:
            entry["max"] = self.variant(self.maximum)
        if self.silent:
            entry["silent"] = Variant("i", 1)
        return entry


ChangeCallback = Callable[[str, Any], None]


class LocalSettings:
    """Our settings in localsettings: created, read, followed, and written back."""

    def __init__(
        self,
        bus: MessageBus,
        specs: Iterable[SettingSpec],
        on_change: ChangeCallback | None = None,
        on_available: Callable[[bool], None] | None = None,
        follow: Iterable[str] = (),
    ) -> None:
        self.bus = bus
        self.specs = {spec.path: spec for spec in specs}
        #: Settings we read and follow but do not own (never AddSettings'd), e.g. the
        #: system's ``/Settings/System/TimeZone``.
        self.followed = frozenset(follow)
        self.values: dict[str, Any] = {}
        self.available = False
        self._on_change = on_change
        self._on_available = on_available
        self._watcher = NameOwnerWatcher(bus, (SETTINGS_SERVICE,), on_change=self._owner_changed)
        self._subscription = SignalSubscription(
            bus, BUSITEM, "PropertiesChanged", self._properties_changed, sender=SETTINGS_SERVICE
        )

    async def start(self) -> None:
        await self._subscription.start()
        await self._watcher.start()
        if self._watcher.owner(SETTINGS_SERVICE):
            await self._add_settings()
            await self._read_followed()

    async def stop(self) -> None:
        await self._subscription.stop()
        await self._watcher.stop()

    async def set(self, path: str, value: SettingValue) -> bool:
        """Write a setting through localsettings (it answers 0 accepted, -1 refused)."""
        spec = self.specs[path]
        try:
            (code,) = await call(
                self.bus, SETTINGS_SERVICE, path, BUSITEM, "SetValue",
                signature="v", body=[spec.variant(value)],
            )  # fmt: skip
        except DBusError as exc:
            log.warning("setting_write_failed", path=path, value=value, error=str(exc))
            return False
        return int(code) == 0

    async def _owner_changed(self, _name: str, _old: str | None, new: str | None) -> None:
        if new:
            await self._add_settings()
            await self._read_followed()
        else:
            self._set_available(False)
            log.warning("localsettings_gone", keeping="last known values")

    async def _add_settings(self) -> None:
        entries = [spec.as_entry() for spec in self.specs.values()]
        try:
            (results,) = await call(
                self.bus, SETTINGS_SERVICE, "/", SETTINGS_INTERFACE, "AddSettings",
                signature="aa{sv}", body=[entries],
            )  # fmt: skip
        except (DBusError, asyncio.TimeoutError) as exc:
            log.warning("localsettings_add_failed", error=str(exc))
            return
        for result in results:
            path = str(from_variant(result["path"]))
            error = int(from_variant(result.get("error", Variant("i", 0))))
            if error != 0:
                log.error("setting_not_created", path=path, error=error)
                continue
            self._store(path, from_variant(result["value"]))
        self._set_available(True)
        log.info("localsettings_ready", settings=len(self.values))

    async def _read_followed(self) -> None:
        for path in sorted(self.followed):
            try:
                (value,) = await call(self.bus, SETTINGS_SERVICE, path, BUSITEM, "GetValue")
            except (DBusError, asyncio.TimeoutError) as exc:
                log.warning("setting_not_readable", path=path, error=str(exc))
                continue
            self._store(path, from_variant(value))

    def _set_available(self, available: bool) -> None:
        if available != self.available:
            self.available = available
            if self._on_available is not None:
                self._on_available(available)

    def _properties_changed(self, msg: Message) -> None:
        known = msg.path in self.specs or msg.path in self.followed
        if not known or not self._watcher.owns(msg.sender, SETTINGS_SERVICE):
            return
        changes = msg.body[0] if msg.body else {}
        if "Value" in changes:
            self._store(str(msg.path), from_variant(changes["Value"]))

    def _store(self, path: str, value: Any) -> None:
        if path not in self.specs and path not in self.followed:
            return
        if self.values.get(path) == value and path in self.values:
            return
        self.values[path] = value
        if self._on_change is not None:
            self._on_change(path, value)
