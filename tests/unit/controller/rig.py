"""A test rig for the pure controller: set what the monitor and the SI report, run time.

No mocks: the real :class:`~smavenus.controller.BmsController`, stepped once per period on a
simulated clock (``t`` seconds since start; the wall clock is ``UNIX0 + t``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import tzinfo
from typing import Any

from smavenus.config import AppConfig, parse_config
from smavenus.controller import ChargeController, Decision, MonitorSample
from smavenus.controller.inputs import (
    BmsSample,
    DvccWrite,
    DvccWrites,
    SystemSample,
    UserDvccLimits,
)
from tests.unit.controller.plant import si_snapshot

#: 2026-01-15 12:00:00 UTC
UNIX0 = 1_768_478_400.0

MONITOR = "com.victronenergy.battery.ttyS5"
BMS = "com.victronenergy.battery.ttyUSB0"


def config(**sections: dict[str, Any]) -> AppConfig:
    return parse_config(dict(sections))


@dataclass
class Rig:
    cfg: AppConfig = field(default_factory=AppConfig)
    tz: tzinfo | None = None
    unix0: float = UNIX0
    t: float = 0.0
    monitor_values: dict[str, float | None] | None = field(
        default_factory=lambda: {
            "voltage_v": 53.0,
            "current_a": 0.0,
            "temperature_c": 20.0,
            "soc_pct": 50.0,
        }
    )
    #: False: the monitor stays on the bus but stops updating (frozen).
    monitor_alive: bool = True
    si_values: dict[str, float | None] | None = field(
        default_factory=lambda: {"voltage_v": 53.0, "current_a": 0.0, "temperature_c": 20.0}
    )
    #: The battery BMS's values (None: no BMS); ``service`` may name the monitor's service.
    bms_values: dict[str, Any] | None = None
    bms_alive: bool = True
    #: DVCC: on/off (None: systemcalc absent), and what it wrote, with the age of the writes.
    dvcc_on: bool | None = None
    dvcc_values: dict[str, float | None] = field(default_factory=dict)
    dvcc_age_s: float = 0.0
    user_dvcc: UserDvccLimits = field(default_factory=UserDvccLimits)
    #: The SI's AC2 relay (0x307): None as the plant's snapshot has no relay frame.
    grid_connected: bool | None = None
    decisions: list[Decision] = field(default_factory=list)
    controller: ChargeController = field(init=False)

    def __post_init__(self) -> None:
        kwargs: dict[str, Any] = {"tz": self.tz} if self.tz is not None else {}
        self.controller = ChargeController(self.cfg, started_at=0.0, **kwargs)

    @property
    def last(self) -> Decision:
        return self.decisions[-1]

    def set(self, **values: float | None) -> Rig:
        """Change what the monitor reports (and the SI the same voltage/current/temperature)."""
        assert self.monitor_values is not None
        self.monitor_values.update(values)
        if self.si_values is not None:
            for key in ("voltage_v", "current_a", "temperature_c"):
                if key in values:
                    self.si_values[key] = values[key]
        return self

    def feed(self) -> None:
        c = self.controller
        if self.monitor_values is None:
            c.update_monitor(None)
        elif self.monitor_alive:
            c.update_monitor(
                MonitorSample(service=MONITOR, updated_at=self.t, **self.monitor_values)
            )
        if self.si_values is not None:
            c.update_snapshot(si_snapshot(self.t, **self.si_values))  # type: ignore[arg-type]
            if c.si is not None and self.grid_connected is not None:
                c.si = replace(c.si, grid_connected=self.grid_connected)
        if self.bms_values is None:
            c.update_bms(None)
        elif self.bms_alive:
            # Unless told otherwise the BMS measures what the monitor does (they agree).
            measured = (self.monitor_values or {}).get("voltage_v") or 53.0
            values = {"service": BMS, "voltage_v": measured, "max_charge_voltage_v": 55.2}
            values.update(self.bms_values)
            c.update_bms(BmsSample(updated_at=self.t, **values))
        if self.dvcc_on is not None:
            c.update_system(SystemSample(updated_at=self.t, dvcc_on=self.dvcc_on))
        written = self.t - self.dvcc_age_s
        c.update_dvcc(DvccWrites(**{k: DvccWrite(v, written) for k, v in self.dvcc_values.items()}))
        c.update_user_dvcc(self.user_dvcc)

    def step(self) -> Decision:
        self.feed()
        decision = self.controller.step(self.t, self.unix0 + self.t)
        self.decisions.append(decision)
        return decision

    def run(self, seconds: float) -> Decision:
        """Advance ``seconds`` of simulated time, one step per period.

        The first call also steps once at t = 0 (so ``run(0)`` is that step alone). Values
        set later are first seen by the step one period after, so a condition that must
        hold ``h`` seconds fires after ``run(h + period)``.
        """
        if not self.decisions:
            self.step()
        period = self.cfg.controller.period_s
        for _ in range(round(seconds / period)):
            self.t += period
            self.step()
        return self.last

    def events(self, name: str) -> list[dict[str, Any]]:
        return [dict(e.fields) for d in self.decisions for e in d.events if e.name == name]

    @property
    def state(self) -> str:
        return self.last.charge_state.value

    @property
    def ccl(self) -> float:
        return self.last.limits.charge_current_a.value

    @property
    def cvl(self) -> float:
        return self.last.limits.charge_voltage_v.value

    @property
    def dcl(self) -> float:
        return self.last.limits.discharge_current_a.value
