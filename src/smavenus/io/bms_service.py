"""The bms-controller's edges: its D-Bus face, its timer, its live settings, its state file.

* :class:`ControllerService` owns ``io.smavenus.BmsController``: it emits ``Command`` (a
  :class:`~smavenus.ipc.messages.BmsCommand` for the gateway) and ``Status`` (a
  :class:`~smavenus.ipc.messages.ControllerStatus`) every cycle and answers ``GetStatus``.
* :class:`Ticker` steps the core at its deadlines with one re-armed ``loop.call_at``
  (aioquic's timer idiom), emits what it decided and logs the decision's events. A failure
  inside a step stops the process (the supervisor restarts it; meanwhile the gateway ramps
  to safe values) rather than leaving a timer that silently never fires again.
* :class:`SettingsBridge` keeps the ``[bms]`` settings in Venus localsettings (created with
  the TOML values as defaults and the schema's bounds as min/max), applies changes live,
  refuses a change that breaks a rule (logged with the reason, the old value written back so
  the GUI shows what is in force) and follows the system time zone.
* :class:`StateFile` remembers when the last full charge ended (for the periodic one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from pydantic import BaseModel, ConfigDict, ValidationError

from smavenus.bms import BmsController, Decision
from smavenus.bms.settings import BY_PATH, SETTINGS, bounds, to_setting
from smavenus.io.dbus import ERROR_FAILED, MethodError, MethodRouter, new_signal, request_name
from smavenus.io.localsettings import LocalSettings, SettingSpec
from smavenus.ipc import names

log = structlog.get_logger("smavenus.bms_controller")

TIMEZONE_PATH = "/Settings/System/TimeZone"


class ControllerService:
    """``io.smavenus.BmsController``: the Command and Status signals and GetStatus."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.status_json: str | None = None
        self._router = MethodRouter(bus)
        self._router.add(
            names.CONTROLLER_PATH,
            names.CONTROLLER_INTERFACE,
            names.GET_STATUS_METHOD,
            self._get_status,
        )
        self.sent = 0

    async def start(self) -> None:
        self._router.install()
        await request_name(self.bus, names.CONTROLLER_BUS_NAME)
        log.info("controller_service_registered", name=names.CONTROLLER_BUS_NAME)

    async def stop(self) -> None:
        if self.bus.connected:
            with contextlib.suppress(Exception):
                await self.bus.release_name(names.CONTROLLER_BUS_NAME)
        self._router.uninstall()

    def emit(self, command_json: str, status_json: str) -> None:
        self.status_json = status_json
        for member, payload in (
            (names.COMMAND_SIGNAL, command_json),
            (names.STATUS_SIGNAL, status_json),
        ):
            signal = new_signal(
                names.CONTROLLER_PATH, names.CONTROLLER_INTERFACE, member, "s", [payload]
            )
            self.bus.send(signal)
        self.sent += 1

    def _get_status(self, _msg: Message) -> tuple[str, list[Any]]:
        if self.status_json is None:
            raise MethodError(ERROR_FAILED, "no status yet")
        return "s", [self.status_json]


class PersistedState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_full_charge_unix: float | None = None


class StateFile:
    """A small JSON file replaced atomically (temporary file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> PersistedState:
        try:
            return PersistedState.model_validate_json(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return PersistedState()
        except (OSError, ValidationError) as exc:
            log.warning("state_file_unusable", path=str(self.path), error=str(exc).splitlines()[0])
            return PersistedState()

    def save(self, state: PersistedState) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as handle:
                handle.write(state.model_dump_json())
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self.path)
        except OSError as exc:
            log.error("state_file_not_saved", path=str(self.path), error=str(exc))


class Ticker:
    """Steps the controller at its deadlines; emits and logs what each step decided."""

    def __init__(
        self,
        controller: BmsController,
        service: ControllerService,
        state_file: StateFile,
        fail: Callable[[BaseException], None],
    ) -> None:
        self.controller = controller
        self.service = service
        self.state_file = state_file
        self._fail = fail
        self._handle: asyncio.TimerHandle | None = None
        self._seq = 0
        self._saved_full_charge = controller.last_full_charge_unix
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self._tick()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self._handle = None
        try:
            now, unix = time.monotonic(), time.time()
            decision = self.controller.step(now, unix)
            self._log(decision)
            command = self.controller.command(decision, self._seq, now, unix)
            status = self.controller.status(decision, self._seq, now, unix)
            self.service.emit(command.model_dump_json(), status.model_dump_json())
            self._seq += 1
            self._persist()
            delay = max(self.controller.next_deadline() - time.monotonic(), 0.0)
            self._handle = self._loop.call_at(self._loop.time() + delay, self._tick)
        except Exception as exc:  # any failure must stop the process, loudly
            log.exception("controller_step_failed")
            self._fail(exc)

    @staticmethod
    def _log(decision: Decision) -> None:
        for event in decision.events:
            getattr(log, event.level)(event.name, **event.fields)

    def _persist(self) -> None:
        last = self.controller.last_full_charge_unix
        if last != self._saved_full_charge:
            self._saved_full_charge = last
            self.state_file.save(PersistedState(last_full_charge_unix=last))


def setting_specs(controller: BmsController) -> list[SettingSpec]:
    cfg = controller.cfg
    specs = []
    for setting in SETTINGS:
        low, high = bounds(setting.key, cfg)
        specs.append(
            SettingSpec(
                setting.path, to_setting(setting.key, getattr(cfg.bms, setting.key)), low, high
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
    """``/Settings/SmaVenus/Bms/*`` ↔ the controller, and the system time zone."""

    def __init__(self, bus: MessageBus, controller: BmsController) -> None:
        self.controller = controller
        self.toml = controller.cfg.bms
        self._pending: dict[str, Any] = {}
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.settings = LocalSettings(
            bus,
            setting_specs(controller),
            on_change=self._changed,
            on_available=self._available,
            follow=(TIMEZONE_PATH,),
        )

    async def start(self) -> None:
        await self.settings.start()
        if not self.settings.available:
            log.info("settings_from_toml", reason="localsettings is not on the bus")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.settings.stop()

    def _available(self, available: bool) -> None:
        if available:
            self.controller.settings_source = "localsettings"

    def _changed(self, path: str, value: Any) -> None:
        if path == TIMEZONE_PATH:
            self._timezone(value)
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
        old = self.controller.cfg.bms
        outcome = self.controller.apply_settings(pending)
        for key, value in outcome.accepted.items():
            log.info(
                "setting_changed",
                key=f"bms.{key}",
                old=getattr(old, key),
                new=value,
                toml=getattr(self.toml, key),
            )
        for key, reason in outcome.rejected.items():
            kept = getattr(self.controller.cfg.bms, key)
            log.warning(
                "setting_rejected", key=f"bms.{key}", value=pending[key], reason=reason, kept=kept
            )
            setting = next(s for s in SETTINGS if s.key == key)
            self._spawn(self.settings.set(setting.path, to_setting(key, kept)))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _timezone(self, value: Any) -> None:
        tz = zone(value)
        if tz is None:
            log.warning("timezone_unusable", value=value, using="UTC")
            self.controller.set_timezone(ZoneInfo("UTC"))
            return
        log.info("timezone_followed", timezone=value)
        self.controller.set_timezone(tz)
