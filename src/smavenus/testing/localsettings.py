"""A stand-in for Venus OS's localsettings (``com.victronenergy.settings``) on a private bus.

It implements the part of localsettings v1.76's D-Bus API that drivers use (``venus-dbus.md``
§3): ``AddSettings`` on ``/`` (existing values kept; min/max/default updated; per-entry error
codes), ``RemoveSettings``, per-setting BusItem ``GetValue``/``GetText``/``SetValue`` (0, or -1
for a type or range refusal) with ``GetMin``/``GetMax``/``GetDefault``, ``GetItems`` on ``/``,
``PropertiesChanged`` on every change (localsettings never sends ItemsChanged), and the
``ClassAndVrmInstance`` rule that bumps a taken ``class:instance`` to the next free one.
Values can be seeded (a GX has ``/Settings/System/TimeZone``, ``/Settings/SystemSetup/AcInput1``
…) and persisted to a JSON file so a restart keeps them.

Run it alone with ``python -m smavenus.testing.localsettings [--state FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import (
    MethodError,
    MethodRouter,
    connect_system_bus,
    emit,
    new_signal,
    request_name,
)
from smavenus.io.dbus.busitem import BUSITEM, INVALID, from_variant
from smavenus.io.dbus.localsettings import SETTINGS_INTERFACE, SETTINGS_SERVICE
from smavenus.io.files import write_atomically
from smavenus.log import configure_logging

log = structlog.get_logger(__name__)

# AddSettings error codes (localsettings)
OK, BAD_TYPE, INVALID_PATH, TYPE_DIFFERS, INVALID_DEFAULT, OUT_OF_RANGE, NOT_UNDER_SETTINGS = (
    0, -3, -4, -5, -6, -7, -9,
)  # fmt: skip

#: What a GX has out of the box that our services read.
GX_DEFAULTS: dict[str, Any] = {
    "/Settings/System/TimeZone": "UTC",
    "/Settings/SystemSetup/AcInput1": 1,
    "/Settings/SystemSetup/AcInput2": 2,
}


@dataclass
class Setting:
    value: Any
    default: Any
    minimum: Any = None
    maximum: Any = None

    @property
    def kind(self) -> str:
        if isinstance(self.default, str):
            return "s"
        return "d" if isinstance(self.default, float) else "i"

    def variant(self, value: Any) -> Variant:
        if value is None:
            return INVALID
        return Variant(self.kind, value)

    def coerce(self, value: Any) -> Any:
        """The value as this setting's type, or raise ValueError (type conversion fails)."""
        if self.kind == "s":
            if not isinstance(value, str):
                raise ValueError("text expected")
            return value
        if isinstance(value, (str, bool)) or not isinstance(value, (int, float)):
            raise ValueError("number expected")
        if math.isnan(value):
            raise ValueError("not a number")
        return float(value) if self.kind == "d" else int(value)

    def in_range(self, value: Any) -> bool:
        if self.kind == "s":
            return True
        if (
            self.minimum is not None
            and self.maximum is not None
            and self.minimum == self.maximum == 0
        ):
            return True  # localsettings: 0, 0 means "no limits"
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


class LocalSettingsStandIn:
    """The service. ``await start()`` on a bus; ``settings`` holds the current state."""

    def __init__(
        self, bus: MessageBus, state_file: Path | None = None, seed: dict[str, Any] | None = None
    ) -> None:
        self.bus = bus
        self.state_file = state_file
        self.settings: dict[str, Setting] = {}
        self._router = MethodRouter(bus)
        self._router.add("/", SETTINGS_INTERFACE, "AddSettings", self._add_settings)
        self._router.add("/", SETTINGS_INTERFACE, "RemoveSettings", self._remove_settings)
        self._router.add("/", BUSITEM, "GetItems", self._get_items)
        for path, value in {**GX_DEFAULTS, **(seed or {})}.items():
            self._create(path, Setting(value, value))
        self._load()

    async def start(self) -> None:
        self._router.install()
        await request_name(self.bus, SETTINGS_SERVICE)
        log.info("localsettings_standin_ready", settings=len(self.settings))

    def value(self, path: str) -> Any:
        return self.settings[path].value

    def set_local(self, path: str, value: Any) -> None:
        """Change a value as the GUI would (through localsettings): signal it."""
        setting = self.settings[path]
        setting.value = setting.coerce(value)
        self._changed(path)

    # -- persistence --------------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        for path, record in json.loads(self.state_file.read_text()).items():
            self._create(
                path,
                Setting(record["value"], record["default"], record.get("min"), record.get("max")),
            )

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {
            p: {"value": s.value, "default": s.default, "min": s.minimum, "max": s.maximum}
            for p, s in self.settings.items()
        }
        write_atomically(self.state_file, json.dumps(data, indent=1).encode())

    # -- settings -------------------------------------------------------------------------------

    def _create(self, path: str, setting: Setting) -> None:
        if path not in self.settings:
            self._router.add(path, BUSITEM, "GetValue", self._get_value)
            self._router.add(path, BUSITEM, "GetText", self._get_text)
            self._router.add(path, BUSITEM, "SetValue", self._set_value)
            for member in ("GetMin", "GetMax", "GetDefault"):
                self._router.add(path, BUSITEM, member, self._get_attribute)
        self.settings[path] = setting

    def _add_one(self, entry: dict[str, Any]) -> tuple[int, Any]:
        path = str(from_variant(entry.get("path", Variant("s", ""))))
        error = self._entry_error(path, entry)
        if error != OK:
            return error, None
        default = from_variant(entry["default"])
        minimum = from_variant(entry["min"]) if "min" in entry else None
        maximum = from_variant(entry["max"]) if "max" in entry else None
        fresh = Setting(default, default, minimum, maximum)
        if not fresh.in_range(default):
            return OUT_OF_RANGE, None
        existing = self.settings.get(path)
        if existing is not None:
            if existing.kind != fresh.kind:
                return TYPE_DIFFERS, existing.value
            existing.default, existing.minimum, existing.maximum = default, minimum, maximum
            return OK, existing.value
        if path.endswith("/ClassAndVrmInstance"):
            fresh.value = fresh.default = self._free_instance(path, str(default))
        self._create(path, fresh)
        self._save()
        return OK, fresh.value

    @staticmethod
    def _entry_error(path: str, entry: dict[str, Any]) -> int:
        if not path.startswith("/Settings/"):
            return NOT_UNDER_SETTINGS
        if "default" not in entry or path.endswith("/") or "//" in path:
            return INVALID_PATH
        default = from_variant(entry["default"])
        if not isinstance(default, (int, float, str)) or isinstance(default, bool):
            return BAD_TYPE
        return OK

    def _free_instance(self, path: str, wanted: str) -> str:
        """localsettings' assureFreeInstance: first free ``class:n`` with n ≥ the one asked for."""
        device_class, _, number = wanted.partition(":")
        taken = {
            s.value
            for p, s in self.settings.items()
            if p.endswith("/ClassAndVrmInstance") and p != path
        }
        n = int(number or 0)
        while f"{device_class}:{n}" in taken:
            n += 1
        return f"{device_class}:{n}"

    def _changed(self, path: str) -> None:
        setting = self.settings[path]
        body = {"Value": setting.variant(setting.value), "Text": Variant("s", str(setting.value))}
        emit(self.bus, new_signal(path, BUSITEM, "PropertiesChanged", "a{sv}", [body]))
        self._save()

    # -- D-Bus handlers -------------------------------------------------------------------------

    def _add_settings(self, msg: Message) -> tuple[str, list[Any]]:
        if msg.signature != "aa{sv}":
            raise MethodError("org.freedesktop.DBus.Error.InvalidArgs", "AddSettings takes aa{sv}")
        results = []
        for entry in msg.body[0]:
            error, value = self._add_one(entry)
            result = {"path": entry.get("path", Variant("s", "")), "error": Variant("i", error)}
            if value is not None:
                result["value"] = self.settings[str(from_variant(entry["path"]))].variant(value)
            results.append(result)
        return "aa{sv}", [results]

    def _remove_settings(self, msg: Message) -> tuple[str, list[Any]]:
        codes = []
        for path in msg.body[0]:
            if path in self.settings:
                del self.settings[path]
                self._router.remove_path(path)
                codes.append(0)
            else:
                codes.append(-1)
        self._save()
        return "ai", [codes]

    def _get_items(self, _msg: Message) -> tuple[str, list[Any]]:
        items = {}
        for path, setting in self.settings.items():
            entry = {
                "Value": setting.variant(setting.value),
                "Text": Variant("s", str(setting.value)),
            }
            entry["Default"] = setting.variant(setting.default)
            if setting.minimum is not None:
                entry["Min"] = setting.variant(setting.minimum)
            if setting.maximum is not None:
                entry["Max"] = setting.variant(setting.maximum)
            items[path] = entry
        return "a{sa{sv}}", [items]

    def _get_value(self, msg: Message) -> tuple[str, list[Any]]:
        setting = self.settings[str(msg.path)]
        return "v", [setting.variant(setting.value)]

    def _get_text(self, msg: Message) -> tuple[str, list[Any]]:
        return "s", [str(self.settings[str(msg.path)].value)]

    def _get_attribute(self, msg: Message) -> tuple[str, list[Any]]:
        setting = self.settings[str(msg.path)]
        value = {
            "GetMin": setting.minimum,
            "GetMax": setting.maximum,
            "GetDefault": setting.default,
        }[str(msg.member)]
        return "v", [setting.variant(value)]

    def _set_value(self, msg: Message) -> tuple[str, list[Any]]:
        path = str(msg.path)
        setting = self.settings[path]
        try:
            value = setting.coerce(from_variant(msg.body[0]))
        except (ValueError, IndexError):
            return "i", [-1]
        if not setting.in_range(value):
            return "i", [-1]
        if path.endswith("/ClassAndVrmInstance"):
            value = self._free_instance(path, str(value))
        if value != setting.value:
            setting.value = value
            self._changed(path)
        return "i", [0]


async def _serve(state_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bus = await connect_system_bus()
    standin = LocalSettingsStandIn(bus, state_file)
    await standin.start()
    await stop.wait()
    bus.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--state", type=Path, help="JSON file that keeps the settings across restarts"
    )
    args = parser.parse_args()
    configure_logging("localsettings-standin")
    asyncio.run(_serve(args.state))


if __name__ == "__main__":
    main()
