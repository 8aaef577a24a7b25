"""The Venus side of the simulation that lives on simulated time: the battery BMS's samples and
limits, and the DVCC settings (DVCC itself writes on wall-clock time, at the edge).

``Simulation`` owns one :class:`VenusSide`; scenario events ``bms``, ``bms_limits``, ``dvcc``
(and ``monitor`` when the BMS shares the monitor's service) are routed here.
"""

from __future__ import annotations

from typing import Any

from smavenus.sim.battery import Battery
from smavenus.sim.bms import BmsModel, BmsUpdate
from smavenus.sim.dvcc import DvccSettings
from smavenus.sim.events import Recorder
from smavenus.sim.power import Flow
from smavenus.sim.scenario import MonitorEvent, Scenario
from smavenus.sim.scenario_venus import BmsEvent, BmsLimitsEvent
from smavenus.sim.status import Noise


class VenusSide:
    def __init__(self, scenario: Scenario, cells: int, recorder: Recorder, seed: int) -> None:
        #: The battery's own BMS, if the scenario has one (its own noise: other streams stay).
        self.bms = (
            BmsModel(scenario.bms, cells, recorder, Noise(f"{seed}:bms", scenario.si.noise))
            if scenario.bms.enabled
            else None
        )
        self.dvcc = DvccSettings.from_section(scenario.dvcc)
        self._samples = 0
        self._flow: Flow | None = None

    def next_sample_s(self) -> float | None:
        return None if self.bms is None else self._samples * self.bms.cfg.period_s

    def sample_if_due(self, now_s: float, battery: Battery, flow: Flow) -> BmsUpdate | None:
        self._flow = flow  # for status(): what the loads and the PV inverter do now
        due = self.next_sample_s()
        if self.bms is None or due is None or now_s < due:
            return None
        self._samples += 1
        return self.bms.sample(now_s, battery, flow)

    def check(self, event: Any) -> None:
        """Refuse a BMS event when there is no BMS (raises ValueError)."""
        if isinstance(event, (BmsEvent, BmsLimitsEvent)) and self.bms is None:
            raise ValueError(f"{event.action}: the scenario has no BMS ([bms] enabled = false)")

    def note_state(self, now_s: float, event: Any) -> None:
        """The BMS's state, for the record; on the monitor's service a monitor event is one."""
        bms = self.bms
        if bms is not None and (
            isinstance(event, BmsEvent) or (isinstance(event, MonitorEvent) and bms.shares_monitor)
        ):
            bms.set_state(now_s, event.state)

    def bms_limits(self, now_s: float, event: BmsLimitsEvent) -> list[BmsUpdate]:
        self.check(event)
        assert self.bms is not None
        update = self.bms.apply_limits(now_s, event)
        return [] if update is None else [update]

    def status(self, dvcc_record: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow
        return {
            "bms": None if self.bms is None else self.bms.status(),
            "dvcc": {**self.dvcc.status(), **dvcc_record},
            "ac": None
            if flow is None
            else {
                "load_w": [round(w, 1) for w in flow.load_served_w],
                "pv_ac_w": [round(w, 1) for w in flow.pv_ac_used_w],
                "inverter_w": [round(w, 1) for w in flow.inverter_w],
                "external_w": [round(w, 1) for w in flow.external_w],
                "frequency_shift_hz": round(flow.frequency_shift_hz, 3),
            },
        }
