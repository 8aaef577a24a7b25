"""Which ``[controller]`` values live in Venus localsettings differ from the TOML file.

localsettings keeps the value last set on the GUI (or over MQTT, or by the web page); the
file's value is only its default. ``smavenus config check`` shows every such override, so
nobody edits the file and wonders why nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from smavenus.config import AppConfig
from smavenus.controller.settings import SETTINGS, from_setting
from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call, connect_system_bus
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE


async def localsettings_overrides(
    cfg: AppConfig, timeout_s: float = 2.0
) -> list[tuple[str, Any, Any]] | None:
    """``(key, value in localsettings, value in the file)`` per difference; ``None`` when
    localsettings cannot be reached (no system bus, no settings service)."""
    try:
        bus = await asyncio.wait_for(connect_system_bus(), timeout_s)
    except (OSError, asyncio.TimeoutError, Exception):  # no bus here: nothing to compare
        return None
    try:
        try:
            await call(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "GetNameOwner", signature="s",
                       body=[SETTINGS_SERVICE], timeout_s=timeout_s)  # fmt: skip
        except Exception:  # no settings service on this bus
            return None
        differences = []
        for setting in SETTINGS:
            try:
                (variant,) = await call(
                    bus, SETTINGS_SERVICE, setting.path, BUSITEM, "GetValue", timeout_s=timeout_s
                )
            except Exception:  # noqa: S112 - never created (the controller has not run yet)
                continue
            raw = from_variant(variant)
            if raw is None:
                continue
            with contextlib.suppress(ValueError):
                live = from_setting(setting.key, raw)
                toml = getattr(cfg.controller, setting.key)
                if live != toml:
                    differences.append((setting.key, live, toml))
        return differences
    finally:
        bus.disconnect()
