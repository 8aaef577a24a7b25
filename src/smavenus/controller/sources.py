"""Which sources are alive, what regulation measures on, and the worst reading of each quantity.

Two uses, two rules (docs/controller.md, "Sources"):

* **Regulation** (the PI, the charge stages, the SoC, the tail current) keeps **one primary
  source**, never mixing values of two: the battery monitor when it is fresh and alive, else
  the BMS's own measurements (when it is a separate service), else the SI's terminals.
* **Protection** uses the **worst fresh reading of every source**: the highest pack voltage
  for the high-voltage rules, the lowest for the low ones, the highest and lowest cell of any
  source, the hottest and coldest sensor. A source leaves this set only when it is stale,
  invalid or frozen — never because it disagrees with another one (that is a fault of its
  own, :mod:`smavenus.controller.disagreement`).

The SI measures at its terminals: its voltage is corrected by ``[battery]
cable_resistance_ohm`` (``V − I × R``, + = charging) before it is compared or protects.

**Frozen** (liveness by values, not by a poll that refreshes a timestamp): a source whose
voltage has not changed for ``frozen_after_s`` while the SI's voltage moved at least
:data:`FROZEN_REFERENCE_MOVE_V` or its current reached :data:`FROZEN_REFERENCE_CURRENT_A` is
treated as stale. In SI standby nothing moves, so a frozen value is then not detected — the
protections it feeds stay as they are, on the cautious side.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

from smavenus.config import AppConfig
from smavenus.controller.inputs import BmsSample, MonitorSample, SiSample, is_fresh
from smavenus.controller.plausibility import plausible
from smavenus.events import LogEvent
from smavenus.ipc.messages import MeasurementSource

S = TypeVar("S")

#: The reference must have moved this much (V) or carried this current (A) for "frozen".
FROZEN_REFERENCE_MOVE_V = 0.2
FROZEN_REFERENCE_CURRENT_A = 5.0


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the controller regulates on this cycle, from one source."""

    source: MeasurementSource
    voltage_v: float | None = None
    current_a: float | None = None
    temperature_c: float | None = None
    soc_pct: float | None = None
    min_cell_v: float | None = None
    max_cell_v: float | None = None
    #: The SI's own values when fresh (its current is what CCL limits).
    si_voltage_v: float | None = None
    si_current_a: float | None = None
    monitor_stale: bool = False
    si_stale: bool = True

    @property
    def cell_spread_v(self) -> float | None:
        if self.min_cell_v is None or self.max_cell_v is None:
            return None
        return self.max_cell_v - self.min_cell_v

    @property
    def charger_current_a(self) -> float | None:
        """The current the SI's charge limit acts on: the SI's own if known, else the battery's."""
        return self.si_current_a if self.si_current_a is not None else self.current_a


@dataclass(frozen=True, slots=True)
class Readings:
    """The worst fresh reading of each quantity over every live source (``None``: none)."""

    high_voltage_v: float | None = None
    low_voltage_v: float | None = None
    max_cell_v: float | None = None
    min_cell_v: float | None = None
    high_temperature_c: float | None = None
    low_temperature_c: float | None = None
    charge_current_a: float | None = None  #: the largest charging current (A, ≥ 0)
    discharge_current_a: float | None = None  #: the largest discharging current (A, ≥ 0)
    #: Pack voltages of the live sources, by source (for the disagreement check).
    voltages: dict[str, float] = field(default_factory=dict)

    @property
    def cell_spread_v(self) -> float | None:
        if self.min_cell_v is None or self.max_cell_v is None:
            return None
        return self.max_cell_v - self.min_cell_v


@dataclass
class Liveness:
    """Tells a frozen source: its value unchanged while the SI's moved or carried current."""

    value: float | None = None
    changed_at: float | None = None
    reference_low_v: float | None = None
    reference_high_v: float | None = None
    reference_current_a: float = 0.0
    frozen: bool = False

    def observe(
        self,
        value: float | None,
        now: float,
        si_voltage_v: float | None,
        si_current_a: float | None,
    ) -> None:
        if value is None or value != self.value or self.changed_at is None:
            self.value, self.changed_at = value, now
            self.reference_low_v = self.reference_high_v = si_voltage_v
            self.reference_current_a = 0.0
            return
        if si_voltage_v is not None:
            low, high = self.reference_low_v, self.reference_high_v
            self.reference_low_v = si_voltage_v if low is None else min(low, si_voltage_v)
            self.reference_high_v = si_voltage_v if high is None else max(high, si_voltage_v)
        if si_current_a is not None:
            self.reference_current_a = max(self.reference_current_a, abs(si_current_a))

    def judge(self, now: float, frozen_after_s: float) -> bool:
        moved = (
            self.reference_low_v is not None
            and self.reference_high_v is not None
            and self.reference_high_v - self.reference_low_v >= FROZEN_REFERENCE_MOVE_V
        ) or self.reference_current_a >= FROZEN_REFERENCE_CURRENT_A
        self.frozen = (
            self.value is not None
            and self.changed_at is not None
            and now - self.changed_at >= frozen_after_s
            and moved
        )
        return self.frozen


@dataclass(frozen=True, slots=True)
class LiveSources:
    """The sources usable this cycle (``None``: stale, invalid, frozen or absent)."""

    monitor: MonitorSample | None
    bms: BmsSample | None
    si: SiSample | None
    #: The BMS is the monitor's own service (its measurements are the monitor's).
    bms_is_monitor: bool


def si_battery_voltage(si: SiSample, cfg: AppConfig) -> float | None:
    """The SI's voltage corrected for the cable: what the battery itself has."""
    if si.voltage_v is None:
        return None
    resistance = cfg.battery.cable_resistance_ohm
    if resistance <= 0 or si.current_a is None:
        return si.voltage_v
    return si.voltage_v - si.current_a * resistance


@dataclass
class SourceTracker:
    """Freshness and liveness of the measuring sources, cycle by cycle."""

    monitor: Liveness = field(default_factory=Liveness)
    bms: Liveness = field(default_factory=Liveness)
    cells_seen: bool = False
    #: Source → the fields it published this cycle that no battery can show.
    implausible: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def live(
        self,
        cfg: AppConfig,
        now: float,
        *,
        monitor: MonitorSample | None,
        bms: BmsSample | None,
        si: SiSample | None,
        events: list[LogEvent],
    ) -> LiveSources:
        max_age = cfg.controller.input_max_age_s
        monitor = self._plausible("battery_monitor", monitor, cfg, events)
        bms = self._plausible("bms", bms, cfg, events)
        si = self._plausible("si", si, cfg, events)
        si_ok = si if si is not None and is_fresh(si.received_at, now, max_age) else None
        si_v = None if si_ok is None else si_ok.voltage_v
        si_i = None if si_ok is None else si_ok.current_a
        monitor_ok = (
            monitor if monitor is not None and is_fresh(monitor.updated_at, now, max_age) else None
        )
        bms_ok = (
            bms
            if bms is not None and bms.connected and is_fresh(bms.updated_at, now, max_age)
            else None
        )
        bms_is_monitor = bms is not None and monitor is not None and bms.service == monitor.service
        for name, liveness, sample in (
            ("battery_monitor", self.monitor, monitor_ok),
            ("bms", self.bms, None if bms_is_monitor else bms_ok),
        ):
            value = None if sample is None else sample.voltage_v
            was = liveness.frozen
            if sample is None:
                liveness.observe(None, now, si_v, si_i)
                liveness.frozen = False
            else:
                liveness.observe(value, now, si_v, si_i)
                liveness.judge(now, cfg.controller.frozen_after_s)
            if liveness.frozen != was:
                events.append(
                    LogEvent(
                        "source_frozen" if liveness.frozen else "source_moving_again",
                        "warning" if liveness.frozen else "info",
                        {"source": name, "voltage_v": value, "unchanged_s": None
                         if liveness.changed_at is None else round(now - liveness.changed_at, 1)},
                    )
                )  # fmt: skip
        if self.monitor.frozen:
            monitor_ok = None
        if self.bms.frozen or (bms_is_monitor and self.monitor.frozen):
            bms_ok = None
        live = LiveSources(monitor_ok, bms_ok, si_ok, bms_is_monitor)
        readings_seen = [s for s in (live.monitor, live.bms) if s is not None]
        if any(s.min_cell_v is not None or s.max_cell_v is not None for s in readings_seen):
            self.cells_seen = True
        return live

    def _plausible(
        self, name: str, sample: S | None, cfg: AppConfig, events: list[LogEvent]
    ) -> S | None:
        """The sample without values no battery can show (logged when that changes)."""
        if sample is None:
            bad: tuple[str, ...] = ()
        else:
            sample, bad = plausible(sample, cfg)
        was = self.implausible.get(name, ())
        if bad != was:
            events.append(
                LogEvent(
                    "reading_implausible" if bad else "reading_plausible_again",
                    "warning" if bad else "info",
                    {"source": name, "fields": list(bad or was)},
                )
            )
            if bad:
                self.implausible[name] = bad
            else:
                self.implausible.pop(name, None)
        return sample

    @property
    def frozen_sources(self) -> tuple[str, ...]:
        return tuple(
            name for name, liveness in (("battery_monitor", self.monitor), ("bms", self.bms))
            if liveness.frozen
        )  # fmt: skip


def regulation_measurements(live: LiveSources) -> Measurements:
    """D1: the monitor, else a separate BMS, else the SI — one source, never mixed."""
    si = live.si
    si_v = None if si is None else si.voltage_v
    si_i = None if si is None else si.current_a
    si_t = None if si is None else si.temperature_c
    si_only = Measurements(source="none", si_voltage_v=si_v, si_current_a=si_i, si_stale=si is None)
    if live.monitor is not None and live.monitor.voltage_v is not None:
        mon = live.monitor
        bms = live.bms
        # Cells from the monitor, else from the BMS (a SmartShunt publishes none).
        min_cell = mon.min_cell_v if mon.min_cell_v is not None or bms is None else bms.min_cell_v
        max_cell = mon.max_cell_v if mon.max_cell_v is not None or bms is None else bms.max_cell_v
        temperature = mon.temperature_c
        if temperature is None and bms is not None:
            temperature = bms.temperature_c
        return replace(
            si_only,
            source="battery_monitor",
            voltage_v=mon.voltage_v,
            current_a=mon.current_a,
            temperature_c=temperature if temperature is not None else si_t,
            soc_pct=mon.soc_pct,
            min_cell_v=min_cell,
            max_cell_v=max_cell,
            monitor_stale=False,
        )
    if live.bms is not None and live.bms.voltage_v is not None and not live.bms_is_monitor:
        bms = live.bms
        return replace(
            si_only,
            source="bms",
            voltage_v=bms.voltage_v,
            current_a=bms.current_a,
            temperature_c=bms.temperature_c if bms.temperature_c is not None else si_t,
            soc_pct=bms.soc_pct,
            min_cell_v=bms.min_cell_v,
            max_cell_v=bms.max_cell_v,
            monitor_stale=True,
        )
    if si is not None and si_v is not None:
        return replace(
            si_only, source="si", voltage_v=si_v, current_a=si_i, temperature_c=si_t,
            monitor_stale=True,
        )  # fmt: skip
    return Measurements(source="none", monitor_stale=True, si_stale=si is None)


def _measured(live: LiveSources) -> list[tuple[str, MonitorSample | BmsSample]]:
    """The live sources with measurements of their own (the BMS only if a separate service)."""
    out: list[tuple[str, MonitorSample | BmsSample]] = []
    if live.monitor is not None:
        out.append(("battery_monitor", live.monitor))
    if live.bms is not None and not live.bms_is_monitor:
        out.append(("bms", live.bms))
    return out


def _present(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def worst_readings(live: LiveSources, cfg: AppConfig) -> Readings:
    """D2: every protection sees the worst fresh reading of every live source."""
    measured = _measured(live)
    voltages = {name: s.voltage_v for name, s in measured if s.voltage_v is not None}
    currents = _present([s.current_a for _, s in measured])
    temperatures = _present([s.temperature_c for _, s in measured])
    cell_sources = [s for s in (live.monitor, live.bms) if s is not None]
    cells_low = _present([s.min_cell_v for s in cell_sources])
    cells_high = _present([s.max_cell_v for s in cell_sources])
    if live.bms is not None:
        temperatures += _present([live.bms.min_cell_temperature_c, live.bms.max_cell_temperature_c])
    if live.si is not None:
        corrected = si_battery_voltage(live.si, cfg)
        if corrected is not None:
            voltages["si"] = corrected
        temperatures += _present([live.si.temperature_c])
        currents += _present([live.si.current_a])
    return Readings(
        high_voltage_v=max(voltages.values(), default=None),
        low_voltage_v=min(voltages.values(), default=None),
        max_cell_v=max(cells_high, default=None),
        min_cell_v=min(cells_low, default=None),
        high_temperature_c=max(temperatures, default=None),
        low_temperature_c=min(temperatures, default=None),
        charge_current_a=max((max(i, 0.0) for i in currents), default=None),
        discharge_current_a=max((max(-i, 0.0) for i in currents), default=None),
        voltages=voltages,
    )
