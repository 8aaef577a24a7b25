"""``com.victronenergy.vebus.<suffix>`` on the bus: the store, its identity and its writes.

* The device instance is claimed in localsettings (``/Settings/Devices/<uid>/
  ClassAndVrmInstance``, ``vebus:<n>``, bumped by localsettings if taken). When the user
  changes it, ``/DeviceInstance`` is updated and the service **re-registers** (releases and
  re-takes its name) so every consumer rescans it; without localsettings the configured
  instance is used.
* ``/CustomName`` is kept in localsettings (``/Settings/Devices/<uid>/CustomName``, next to
  the instance, as gui-v2 does) and mirrored into the state file, which is the only copy
  when there is no localsettings.
* ``/Mode`` On/Off, when enabled, is sent to the SI through the gateway's ``RemoteOnOff``;
  the write is accepted at once (SetValue must answer) and taken back (one ``ItemsChanged``)
  if the gateway refuses or is not there. Other modes are refused with SetValue's code 2 and
  a log line: the SI has no "charger only" or "inverter only" (gui-v2 offers them whenever
  there is an AC input, and snaps back when refused).
* ``/RedetectSystem`` = 1 forgets the lines and AC input learnt from the SI (they are learnt
  again from the next snapshots) and returns to 0. ``/SystemReset`` ("Restart VE.Bus
  system") is refused with code 2 and a log line: restarting the SI drops every load on its
  output, which a GUI button must not do.
* DVCC's routine writes (``/BatteryOperationalLimits/*``, ``/Dc/0/MaxChargeCurrent``, every
  3 s, as Int32 or Double) are accepted, coerced and logged at debug level only; every
  accepted one, also one that repeats the value, is handed to ``dvcc_write`` (the publisher's
  endpoint stamps and forwards it). ``/Dc/0/MaxChargeCurrent`` refuses the invalid marker
  (code 2): DVCC writes that path only while it is valid, so once invalid it would never be
  written again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BusItemService
from smavenus.io.dbus.localsettings import LocalSettings, SettingSpec
from smavenus.io.tasks import OwnedTasks
from smavenus.ipc import names
from smavenus.ipc.messages import DVCC_WRITE_PATHS
from smavenus.vebus.core import VebusCore
from smavenus.vebus.enums import Mode
from smavenus.vebus.paths import DC_MAX_CHARGE_CURRENT
from smavenus.victron.items import ItemStore

log = structlog.get_logger(__name__)

#: Sends a /Mode to the SI; raises if it could not be sent.
ModeRequest = Callable[[Mode], Awaitable[None]]
#: Told of every accepted DVCC write: (path, stored value; None = invalid).
DvccWriteCallback = Callable[[str, Any], None]

DVCC_PATHS = frozenset(DVCC_WRITE_PATHS)
SWITCHABLE_MODES = frozenset({Mode.ON, Mode.OFF})
UNSUPPORTED_MODES = frozenset({Mode.CHARGER_ONLY, Mode.INVERTER_ONLY})
UNSUPPORTED_MODE_REASON = "the SI has no charger-only or inverter-only mode"
SYSTEM_RESET_REASON = "restarting the SI would drop every load on its output"
#: A longer /CustomName is refused (SetValue code 2): it is a display name, not storage.
MAX_CUSTOM_NAME_CHARS = 128


def parse_instance(value: Any) -> int | None:
    """``"vebus:277"`` → 277; anything else → None."""
    device_class, _, number = str(value).partition(":")
    if device_class != "vebus" or not number.isdigit():
        return None
    return int(number)


async def gateway_remote_on_off(bus: MessageBus, mode: Mode) -> None:
    """Ask the can-gateway to send the SI's on/off command (0x35C)."""
    await call(
        bus,
        names.GATEWAY_BUS_NAME,
        names.GATEWAY_PATH,
        names.GATEWAY_INTERFACE,
        names.REMOTE_ON_OFF_METHOD,
        signature="s",
        body=["on" if mode is Mode.ON else "off"],
    )


class VebusDbusService:
    def __init__(
        self,
        bus: MessageBus,
        core: VebusCore,
        *,
        name: str,
        uid: str,
        use_localsettings: bool = True,
        mode_request: ModeRequest | None = None,
        dvcc_write: DvccWriteCallback | None = None,
    ) -> None:
        self.bus = bus
        self.core = core
        self.uid = uid
        self._mode_request = mode_request
        self._dvcc_write = dvcc_write
        self.store = ItemStore((p.spec for p in core.paths), on_write=self._check_write)
        self.service = BusItemService(
            bus,
            name,
            self.store,
            on_change=self._written,
            quiet_writes=DVCC_PATHS,
            on_accepted=self._accepted,
        )
        self.store.update(core.fixed_values())
        self._instance_path = f"/Settings/Devices/{uid}/ClassAndVrmInstance"
        self._name_path = f"/Settings/Devices/{uid}/CustomName"
        ident = core.settings.identity
        self.settings: LocalSettings | None = None
        if use_localsettings:
            self.settings = LocalSettings(
                bus,
                [
                    SettingSpec(self._instance_path, f"vebus:{ident.device_instance}"),
                    SettingSpec(self._name_path, core.custom_name),
                ],
                on_change=self._setting_changed,
            )
        self.registered = False
        #: Set when the name could not be taken back after a re-registration: the process
        #: must exit so its supervisor restarts it (it is no longer on the bus).
        self.lost = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks = OwnedTasks("vebus_service")

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def device_instance(self) -> int:
        value: int = self.store["/DeviceInstance"]
        return value

    async def start(self) -> None:
        """Claim the instance, then take the name: every path answers before it appears."""
        if self.settings is not None:
            await self.settings.start()
        async with self._lock:
            await self.service.register()
            self.registered = True
        log.info(
            "vebus_service_ready",
            service=self.name,
            device_instance=self.device_instance,
            localsettings=self.settings is not None and self.settings.available,
        )

    def publish(self, values: dict[str, Any]) -> dict[str, Any]:
        """One ItemsChanged with what changed (nothing is sent when nothing did).

        Before the name is taken only the store is updated: nobody can have scanned us yet.
        """
        if not self.registered:
            return self.store.update(values)
        return self.service.publish(values)

    async def stop(self) -> None:
        self._tasks.cancel()
        if self.settings is not None:
            await self.settings.stop()
        if self.registered and self.bus.connected:
            await self.service.unregister()
        self.registered = False

    # -- writes from Venus ----------------------------------------------------------------------

    def _check_mode(self, value: Any) -> bool:
        if value in UNSUPPORTED_MODES:
            log.warning("mode_write_refused", mode=value, reason=UNSUPPORTED_MODE_REASON)
            return False
        return self._mode_request is not None and value in SWITCHABLE_MODES

    def _check_write(self, path: str, value: Any) -> bool:
        if path == "/Mode":
            return self._check_mode(value)
        if path == "/SystemReset":
            if value:
                log.warning("system_reset_refused", value=value, reason=SYSTEM_RESET_REASON)
            return not value
        if path == "/RedetectSystem":
            return value in (0, 1)
        if path == "/CustomName":
            return value is None or len(value) <= MAX_CUSTOM_NAME_CHARS
        if path == DC_MAX_CHARGE_CURRENT and value is None:
            log.warning("dvcc_write_refused", path=path, reason="the path must stay valid")
            return False
        return True

    def _accepted(self, path: str, value: Any) -> None:
        if path in DVCC_PATHS and self._dvcc_write is not None:
            self._dvcc_write(path, value)

    def _written(self, path: str, value: Any) -> None:
        if path == "/CustomName":
            self.core.set_custom_name(value or "")
            if self.settings is not None and self.settings.available:
                self._tasks.spawn(self._store_setting(self._name_path, value or ""), "store_name")
        elif path == "/Mode":
            self._tasks.spawn(self._switch(Mode(value)), "switch_mode")
        elif path == "/RedetectSystem" and value == 1:
            self.core.redetect()  # its event is logged by the runner with the next cycle
            self._tasks.spawn(self._redetect_done(), "redetect")

    async def _redetect_done(self) -> None:
        # Like a Multi: the button's path reads 1 while it works and 0 when done; here the
        # work is only forgetting, so it is done at once.
        self.publish({"/RedetectSystem": 0, "/Ac/NumberOfPhases": self.core.phases})

    async def _switch(self, mode: Mode) -> None:
        assert self._mode_request is not None
        previous = self.core.mode
        try:
            await self._mode_request(mode)
        except Exception as exc:  # the gateway is absent, refuses, or the bus failed
            log.warning(
                "mode_change_failed", mode=mode.name.lower(), error=str(exc), kept=previous.name
            )
            self.publish({"/Mode": int(previous)})
            return
        self.core.set_mode(mode)
        log.info("mode_changed", old=previous.name.lower(), new=mode.name.lower())

    async def _store_setting(self, path: str, value: str) -> None:
        assert self.settings is not None
        if not await self.settings.set(path, value):
            log.warning("setting_write_refused", path=path, value=value)

    # -- localsettings ------------------------------------------------------------------------

    def _setting_changed(self, path: str, value: Any) -> None:
        if path == self._instance_path:
            instance = parse_instance(value)
            if instance is None:
                log.warning("device_instance_setting_invalid", path=path, value=value)
                return
            if instance != self.device_instance:
                log.info(
                    "device_instance_changed", old=self.device_instance, new=instance, value=value
                )
                self.store.update({"/DeviceInstance": instance})
                if self.registered:
                    self._tasks.spawn(self._reregister(), "reregister")
        elif path == self._name_path:
            name = str(value)
            if name != self.store["/CustomName"]:
                self.core.set_custom_name(name)
                self.publish({"/CustomName": name})

    async def _reregister(self) -> None:
        async with self._lock:
            try:
                await self.service.reregister()
            except Exception as exc:  # another process took the name, or the bus failed
                log.error("vebus_service_name_lost", service=self.name, error=str(exc))
                self.registered = False
                self.lost.set()
                return
        log.info("vebus_service_reregistered", device_instance=self.device_instance)
