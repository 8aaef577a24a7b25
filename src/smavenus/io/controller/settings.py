"""The controller's settings in Venus localsettings, applied live, and the system time zone.

:class:`SettingsBridge` keeps the ``[controller]`` settings in localsettings (created with
the TOML values as defaults and the schema's bounds as min/max), applies changes live,
refuses a change that breaks a rule (logged with the reason, the old value written back so
the GUI shows what is in force) and follows the system time zone.
"""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from dbus_fast.aio import MessageBus

from smavenus.controller import ChargeController
from smavenus.controller.inputs import UserDvccLimits, finite
from smavenus.controller.settings import BY_KEY, BY_PATH, SETTINGS, bounds, to_setting
from smavenus.io.dbus.localsettings import LocalSettings, SettingSpec
from smavenus.io.tasks import OwnedTasks

log = structlog.get_logger("smavenus.bms_controller")

TIMEZONE_PATH = "/Settings/System/TimeZone"
#: The user's DVCC limits (Venus: Settings → DVCC): −1 (current) and 0 (voltage) mean off.
USER_MAX_CHARGE_CURRENT_PATH = "/Settings/SystemSetup/MaxChargeCurrent"
USER_MAX_CHARGE_VOLTAGE_PATH = "/Settings/SystemSetup/MaxChargeVoltage"


def setting_specs(controller: ChargeController) -> list[SettingSpec]:
    cfg = controller.cfg
    specs = []
    for setting in SETTINGS:
        low, high = bounds(setting.key, cfg)
        specs.append(
            SettingSpec(
                setting.path,
                to_setting(setting.key, getattr(cfg.controller, setting.key)),
                low,
                high,
            )
        )
    return specs


def zone(name: Any) -> ZoneInfo | None:
    """The system time zone from its setting ("" and invalid: None)."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class SettingsBridge:
    """``/Settings/SmaVenus/Controller/*`` ↔ the controller, and the system time zone."""

    def __init__(self, bus: MessageBus, controller: ChargeController) -> None:
        self.controller = controller
        self.toml = controller.cfg.controller
        self._pending: dict[str, Any] = {}
        self._flush_scheduled = False
        self._tasks = OwnedTasks("controller_settings")
        self.settings = LocalSettings(
            bus,
            setting_specs(controller),
            on_change=self._changed,
            on_available=self._available,
            follow=(TIMEZONE_PATH, USER_MAX_CHARGE_CURRENT_PATH, USER_MAX_CHARGE_VOLTAGE_PATH),
        )
        self._user_dvcc: dict[str, Any] = {}
        self._overrides_reported = False

    async def start(self) -> None:
        await self.settings.start()
        if not self.settings.available:
            log.info("settings_from_toml", reason="localsettings is not on the bus")
            self.controller.toml_settings = self._toml_values()
            return
        await self._push_toml_edits()

    def _toml_values(self) -> dict[str, float | int | str | bool]:
        return {s.key: getattr(self.toml, s.key) for s in SETTINGS}

    async def _push_toml_edits(self) -> None:
        """A ``[controller]`` value edited in the file since the last start wins, once.

        localsettings keeps the value last set on the GUI, and the file's value is only its
        default: without this, an edit of the file would be silently ignored forever.
        """
        before = self.controller.toml_settings
        now = self._toml_values()
        for key, value in now.items():
            if key in before and before[key] != value:
                setting = BY_KEY[key]
                log.info(
                    "setting_pushed_from_toml", key=f"controller.{key}", old_toml=before[key],
                    new_toml=value, path=setting.path,
                )  # fmt: skip
                if not await self.settings.set(setting.path, to_setting(key, value)):
                    log.warning("setting_push_refused", key=f"controller.{key}", value=value)
        self.controller.toml_settings = now

    async def stop(self) -> None:
        self._tasks.cancel()
        await self.settings.stop()

    def _available(self, available: bool) -> None:
        if available:
            self.controller.settings_source = "localsettings"

    def _changed(self, path: str, value: Any) -> None:
        if path == TIMEZONE_PATH:
            self._timezone(value)
            return
        if path in (USER_MAX_CHARGE_CURRENT_PATH, USER_MAX_CHARGE_VOLTAGE_PATH):
            self._user_dvcc[path] = value
            current = finite(self._user_dvcc.get(USER_MAX_CHARGE_CURRENT_PATH))
            voltage = finite(self._user_dvcc.get(USER_MAX_CHARGE_VOLTAGE_PATH))
            self.controller.update_user_dvcc(
                UserDvccLimits(
                    None if current is None or current < 0 else current,
                    None if voltage is None or voltage <= 0 else voltage,
                )
            )
            return
        setting = BY_PATH.get(path)
        if setting is None:
            return
        self._pending[setting.key] = value
        if not self._flush_scheduled:
            # Changes that arrive together (AddSettings at start) are judged together.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        old = self.controller.cfg.controller
        outcome = self.controller.apply_settings(pending)
        for key, value in outcome.accepted.items():
            log.info(
                "setting_changed",
                key=f"controller.{key}",
                old=getattr(old, key),
                new=value,
                toml=getattr(self.toml, key),
            )
        if not self._overrides_reported:
            self._overrides_reported = True
            for key, toml in self._toml_values().items():
                live = getattr(self.controller.cfg.controller, key)
                if live != toml:
                    log.info(
                        "setting_overrides_toml", key=f"controller.{key}", value=live, toml=toml
                    )
        for key, reason in outcome.rejected.items():
            kept = getattr(self.controller.cfg.controller, key)
            log.warning(
                "setting_rejected",
                key=f"controller.{key}",
                value=pending[key],
                reason=reason,
                kept=kept,
            )
            setting = next(s for s in SETTINGS if s.key == key)
            self._tasks.spawn(self.settings.set(setting.path, to_setting(key, kept)), "write_back")

    def _timezone(self, value: Any) -> None:
        tz = zone(value)
        if tz is None:
            log.warning("timezone_unusable", value=value, using="UTC")
            self.controller.set_timezone(ZoneInfo("UTC"))
            return
        log.info("timezone_followed", timezone=value)
        self.controller.set_timezone(tz)
