"""The simulated Venus services of one run, wired together: the battery monitor, the battery's
BMS (on the monitor's service or its own), the systemcalc stand-in with DVCC, and the
AC-coupled PV inverter on the SI's output when the scenario has AC PV.

The runner hands over the simulation's outputs (monitor readings, BMS updates, edge actions)
and DVCC reports each of its cycles back through ``on_dvcc_cycle``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from smavenus.io.sim.dvcc import CycleCallback
from smavenus.io.sim.victron import SimBatteryService, SimSystemCalc
from smavenus.sim.bms import BMS_MEASURED_PATHS, BMS_SERVICE_SPECS, BMS_SPECS, bms_identity
from smavenus.sim.dvcc import BmsView, controlling_bms
from smavenus.sim.monitor import (
    MEASURED_PATHS,
    MONITOR_SPECS,
    MonitorReading,
    monitor_identity,
    monitor_values,
)
from smavenus.sim.pvinverter import (
    MEASURED_PATHS as PV_MEASURED_PATHS,
)
from smavenus.sim.pvinverter import (
    PV_INVERTER_SPECS,
    PvInverterMeter,
    pv_inverter_identity,
)
from smavenus.sim.scenario import PvAcEvent, PvDcEvent
from smavenus.sim.simulation import EdgeAction, Simulation

log = structlog.get_logger(__name__)


class SimVenus:
    """``com.victronenergy.battery.<name>`` (+ ``<name>_bms``) and ``com.victronenergy.system``."""

    def __init__(
        self,
        sim: Simulation,
        name: str,
        *,
        systemcalc: bool = True,
        on_dvcc_cycle: CycleCallback | None = None,
    ) -> None:
        self.sim = sim
        scenario = sim.scenario
        cfg, bms_cfg = scenario.monitor, scenario.bms
        shared = bms_cfg.enabled and bms_cfg.service == "monitor"
        self.monitor = SimBatteryService(
            f"com.victronenergy.battery.{name}",
            MONITOR_SPECS + (BMS_SPECS if shared else ()),
            monitor_identity(cfg),
            MEASURED_PATHS + (BMS_MEASURED_PATHS if shared else ()),
            on_mirror=self._mirror,
        )
        #: The BMS's service: the monitor's own, a separate one, or none.
        self.bms: SimBatteryService | None = None
        if shared:
            self.bms = self.monitor
        elif bms_cfg.enabled:
            self.bms = SimBatteryService(
                f"com.victronenergy.battery.{name}_bms",
                BMS_SERVICE_SPECS,
                bms_identity(bms_cfg),
                BMS_MEASURED_PATHS,
            )
        self.system: SimSystemCalc | None = None
        if systemcalc:
            self.system = SimSystemCalc(
                self.monitor.service_name,
                cfg.device_instance,
                bms=self.bms_view,
                dvcc=lambda: sim.venus.dvcc,
                on_dvcc_cycle=on_dvcc_cycle,
            )
        self._has_dc_pv = scenario.pv.dc_current_a > 0 or any(
            isinstance(e, PvDcEvent) for e in scenario.events
        )
        #: ``com.victronenergy.pvinverter.<name>`` on the SI's output (``/Position`` 1).
        self.pv_inverter: SimBatteryService | None = None
        self._pv_meter: PvInverterMeter | None = None
        if any(w > 0 for w in scenario.pv.ac_power_w) or any(
            isinstance(e, PvAcEvent) for e in scenario.events
        ):
            self.pv_inverter = SimBatteryService(
                f"com.victronenergy.pvinverter.{name}",
                PV_INVERTER_SPECS,
                pv_inverter_identity(),
                PV_MEASURED_PATHS,
            )
            self._pv_meter = PvInverterMeter(sim.scenario.si.lines)

    async def start(self) -> None:
        if self.pv_inverter is not None:
            await self.pv_inverter.start()
        await self.monitor.start()
        if self.bms is not None and self.bms is not self.monitor:
            await self.bms.start()
        if self.system is not None:
            await self.system.start()

    async def stop(self) -> None:
        if self.system is not None:
            await self.system.close()
        if self.bms is not None:
            await self.bms.stop()
        await self.monitor.stop()
        if self.pv_inverter is not None:
            await self.pv_inverter.stop()

    def bms_view(self) -> BmsView | None:
        """The controlling BMS as systemcalc sees it (None: no BMS on the bus)."""
        bms = self.bms
        return None if bms is None else controlling_bms(bms.service_name, bms.published)

    def reading(self, reading: MonitorReading) -> None:
        if self.system is not None:
            self.system.pv(
                reading.pv_dc_current_a if self._has_dc_pv else None,
                reading.voltage_v if self._has_dc_pv else None,
            )
        self.monitor.update(monitor_values(reading, self.sim.scenario.monitor))
        if self.pv_inverter is not None and self._pv_meter is not None and reading.pv_ac_w:
            self.pv_inverter.update(self._pv_meter.values(reading.time_s, reading.pv_ac_w))

    def bms_update(self, values: Mapping[str, Any]) -> None:
        if self.bms is not None:
            self.bms.update(values)
        if self.system is not None:
            self.system.refresh()

    async def edge(self, action: EdgeAction) -> bool:
        """Perform an action aimed at a Venus service; False if it is not one of ours."""
        target = action.target
        if target == "monitor":
            await self.monitor.set_state(action.state, action.detail)
        elif target == "bms" and self.bms is not None:
            await self.bms.set_state(action.state, action.detail)
        elif target == "system" and self.system is not None:
            await self.system.set_state(action.state)
        elif target == "dvcc" and self.system is not None:
            self.system.dvcc_changed(self.sim.venus.dvcc)
        else:
            return False
        if target in ("monitor", "bms") and self.system is not None:
            self.system.refresh()  # the controlling BMS may have come or gone
        return True

    def _mirror(self, values: Mapping[str, Any] | None) -> None:
        if self.system is not None:
            self.system.mirror(values)
