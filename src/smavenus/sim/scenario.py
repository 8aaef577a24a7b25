"""Scenario files: the simulated installation and what happens to it over simulated time.

A scenario is one TOML document validated here (unknown keys are errors, as in the main
configuration). Every section is optional; the defaults describe a single-phase 230 V/50 Hz
Sunny Island on a 16-cell 280 Ah LiFePO4 bank with the grid present, which is also what
``smavenus-sim`` runs without ``--scenario``. ``[[events]]`` are applied at ``at_s`` seconds
of simulated time; the same models validate the control interface's requests. The Venus-side
sections (``[bms]``, ``[dvcc]``) and their events live in ``smavenus.sim.scenario_venus``.
See ``docs/simulator.md`` for the format with examples.
"""

from __future__ import annotations

import enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from smavenus.config import format_validation_error, read_toml
from smavenus.errors import ConfigError
from smavenus.protocol.specs import BMS_CYCLE_IDS
from smavenus.sim.battery import ChemistryName
from smavenus.sim.scenario_types import Percent, Seconds, ServiceStateEvent, Watts
from smavenus.sim.scenario_types import ScenarioModel as _Model
from smavenus.sim.scenario_types import TimedEvent as _Event
from smavenus.sim.scenario_venus import (
    BmsEvent,
    BmsLimitsEvent,
    BmsSection,
    DvccEvent,
    DvccSection,
)

MAX_LINES = 3


class Preset(enum.Enum):
    """Cluster presets: lines, nominal voltage and frequency."""

    SINGLE_230_50 = "single_230_50"
    SPLIT_120_240_60 = "split_120_240_60"  #: SI 6048-US master + slave: L1/L2 at 120 V
    THREE_230_50 = "three_230_50"


PRESETS: dict[Preset, tuple[int, float, float]] = {
    Preset.SINGLE_230_50: (1, 230.0, 50.0),
    Preset.SPLIT_120_240_60: (2, 120.0, 60.0),
    Preset.THREE_230_50: (3, 230.0, 50.0),
}


class SiSection(_Model):
    """``[si]``: the cluster and the SI parameters that decide how it reacts."""

    preset: Preset = Preset.SINGLE_230_50
    unit_power_w: Watts = Field(4600.0, gt=0, description="rated AC power per unit (SI 6.0H)")
    unit_max_charge_current_a: float = Field(110.0, gt=0, le=1200.0, allow_inf_nan=False)
    efficiency: float = Field(0.95, gt=0.5, le=1.0, description="DC⇄AC conversion efficiency")
    idle_power_w: Watts = Field(25.0, description="per unit while operating")
    initial_state: Literal["operating", "standby"] = Field(
        "operating", description="standby waits for a start command (button or 0x35C on)"
    )
    autostart: bool = Field(True, description="restart by itself when a fault clears")
    bms_timeout_s: Seconds = Field(60.0, gt=0, description="F952 after this long (SMA-TI §5.1)")
    f952_watch_ids: tuple[int, ...] = Field(
        (0x355,),
        min_length=1,
        description="frames whose absence raises F952; SMA-TI names 0x355",
    )
    limits_timeout_s: Seconds = Field(60.0, gt=0, description="W952 after this long w/o 0x351")
    alarm_reaction_s: Seconds = Field(
        2.0, le=10.0, description="delay from a 0x35A alarm to standby (SMA-TI: up to 10 s)"
    )
    ccl_follow_time_constant_s: Seconds = Field(
        3.0, description="first-order lag of the applied CCL (SMA-TI: ~10 s to follow)"
    )
    bat_pro_soc_pct: tuple[Percent, Percent, Percent] = Field(
        (25.0, 20.0, 15.0), description="battery protection levels 1-3 (223.05-223.07)"
    )
    bat_pro_no_charge_s: Seconds = Field(
        300.0, description="protection acts after this long without >= 3 A charge"
    )
    bat_pro2_retry_s: Seconds = Field(7200.0, gt=0, description="level 2 restarts this often")
    dvl_restart_margin_v: float = Field(1.0, ge=0.0, le=10.0, allow_inf_nan=False)
    self_consumption: bool = Field(
        False, description="on grid, cover the loads from the battery (DCL applies)"
    )
    self_consumption_soc_min_pct: Percent = 10.0
    status_period_s: float = Field(1.0, gt=0.05, le=10.0, description="0x300-0x30A cadence")
    frame_drop_probability: float = Field(
        0.0, ge=0.0, lt=1.0, description="status frames left out (SMA-TI: 'for one cycle')"
    )
    noise: float = Field(1.0, ge=0.0, le=10.0, description="measurement noise scale; 0 = none")
    fspc_max_shift_hz: float = Field(
        1.0, ge=0.0, le=5.0, description="off-grid frequency rise that curtails AC-coupled PV"
    )

    @model_validator(mode="after")
    def _check(self) -> SiSection:
        levels = self.bat_pro_soc_pct
        if not levels[0] >= levels[1] >= levels[2]:
            raise ValueError("bat_pro_soc_pct must be level 1 >= level 2 >= level 3")
        unknown = [hex(i) for i in self.f952_watch_ids if i not in BMS_CYCLE_IDS]
        if unknown:
            raise ValueError(f"f952_watch_ids: {unknown} are not BMS frame IDs")
        return self

    @property
    def lines(self) -> int:
        return PRESETS[self.preset][0]

    @property
    def nominal_voltage_v(self) -> float:
        return PRESETS[self.preset][1]

    @property
    def nominal_frequency_hz(self) -> float:
        return PRESETS[self.preset][2]


class GridSection(_Model):
    """``[grid]``: what is on AC2 and when the SI connects to it (groups 232/233)."""

    kind: Literal["grid", "generator"] = "grid"
    present: bool = Field(True, description="grid: mains present; generator: available to start")
    voltage_v: float | None = Field(None, gt=0, le=300, description="default: nominal")
    frequency_hz: float | None = Field(None, gt=0, le=100, description="default: nominal")
    request: Literal["always", "demand"] = Field(
        "demand", description="always: connect whenever valid; demand: by SoC and load"
    )
    soc_start_pct: Percent = Field(40.0, description="GdSocTm1Str: request AC2 at or below")
    soc_stop_pct: Percent = Field(80.0, description="GdSocTm1Stp: release AC2 at or above")
    power_start_w: Watts | None = Field(None, description="GdPwrStr (None: GdPwrEna off)")
    power_stop_w: Watts = Field(2000.0, description="GdPwrStp")
    valid_time_s: Seconds = Field(60.0, description="GdVldTm: AC2 valid this long first")
    generator_warmup_s: Seconds = Field(30.0, description="generator: request to valid voltage")

    @model_validator(mode="after")
    def _check(self) -> GridSection:
        if self.soc_stop_pct <= self.soc_start_pct:
            raise ValueError("soc_stop_pct must be above soc_start_pct")
        if self.power_start_w is not None and self.power_stop_w >= self.power_start_w:
            raise ValueError("power_stop_w must be below power_start_w")
        return self


class BatterySection(_Model):
    """``[battery]``: the bank the SI and the battery monitor see."""

    chemistry: ChemistryName = ChemistryName.LIFEPO4
    cells: int | None = Field(None, ge=1, le=40, description="default: 16 LiFePO4, 24 lead-acid")
    capacity_ah: float = Field(280.0, gt=0, le=65534, allow_inf_nan=False)
    soc_pct: Percent = Field(60.0, description="true SoC at start")
    internal_resistance_ohm: float | None = Field(
        None, gt=0, le=1.0, description="whole bank at 25 °C; default: per-cell value × cells"
    )
    temperature_c: float = Field(25.0, ge=-40, le=80, allow_inf_nan=False)
    ambient_c: float = Field(25.0, ge=-40, le=80, allow_inf_nan=False)
    cell_spread_pct: float = Field(
        1.0, ge=0.0, le=20.0, description="cell SoC imbalance (sigma) for min/max cell voltage"
    )


class LoadsSection(_Model):
    """``[loads]``: AC loads on the SI's output, per line (L1 first)."""

    power_w: tuple[Watts, ...] = Field((300.0,), max_length=MAX_LINES)
    power_factor: float = Field(0.98, gt=0.0, le=1.0)


class PvSection(_Model):
    """``[pv]``: DC-coupled PV (a charge current) and AC-coupled PV (on the output, per line)."""

    dc_current_a: float = Field(0.0, ge=0.0, le=1200.0, allow_inf_nan=False)
    ac_power_w: tuple[Watts, ...] = Field((), max_length=MAX_LINES)


class MonitorSection(_Model):
    """``[monitor]``: the simulated battery monitor (a SmartShunt) on D-Bus."""

    device_instance: int = Field(512, ge=0, le=999)
    product_id: int = Field(0xA389, ge=0, le=0xFFFF, description="SmartShunt 500A/50mV")
    product_name: str = Field("SmartShunt 500A/50mV", min_length=1)
    custom_name: str = ""
    period_s: float = Field(1.0, gt=0.05, le=60.0, description="update period (simulated)")
    soc_offset_pct: float = Field(
        0.0, ge=-100, le=100, description="monitor SoC minus true SoC (a drifted shunt)"
    )
    cell_voltages: bool = Field(True, description="publish /System/Min|MaxCellVoltage")


# -- events -------------------------------------------------------------------------------


class LoadEvent(_Event):
    action: Literal["load"]
    line: int = Field(1, ge=1, le=MAX_LINES)
    power_w: Watts
    ramp_s: Seconds = 0.0


class PvDcEvent(_Event):
    action: Literal["pv_dc"]
    current_a: float = Field(ge=0.0, le=1200.0, allow_inf_nan=False)
    ramp_s: Seconds = 0.0


class PvAcEvent(_Event):
    action: Literal["pv_ac"]
    line: int = Field(1, ge=1, le=MAX_LINES)
    power_w: Watts
    ramp_s: Seconds = 0.0


class GridEvent(_Event):
    """Grid loss and return (or generator failure), and AC2 voltage/frequency changes."""

    action: Literal["grid"]
    present: bool | None = None
    voltage_v: float | None = Field(None, gt=0, le=300)
    frequency_hz: float | None = Field(None, gt=0, le=100)


class TemperatureEvent(_Event):
    action: Literal["temperature"]
    ambient_c: float | None = Field(None, ge=-40, le=80)
    battery_c: float | None = Field(None, ge=-40, le=80, description="set the battery at once")
    ramp_s: Seconds = Field(0.0, description="ramp of the ambient temperature")


class BatteryEvent(_Event):
    """Set the true SoC (e.g. to start a test near a threshold)."""

    action: Literal["battery"]
    soc_pct: Percent


class BmsSilenceEvent(_Event):
    """The SI stops hearing BMS frames (a broken transceiver); they are still recorded."""

    action: Literal["bms_silence"]
    enabled: bool = True
    duration_s: Seconds | None = Field(None, gt=0, description="None: until disabled")


class ButtonEvent(_Event):
    """The SI's own start/stop (the button or Sunny Remote): the only way out of level 3."""

    action: Literal["button"]
    press: Literal["start", "stop"]


class MonitorEvent(ServiceStateEvent):
    """The battery monitor: vanish (release the bus name), freeze (stop updating),
    disconnect (/Connected = 0), lie (pack voltage + ``voltage_offset_v``), nan, cells_invalid,
    or restore (``smavenus.sim.faults``)."""

    action: Literal["monitor"]


class SystemEvent(_Event):
    """The systemcalc stand-in: normal, no_battery (/ActiveBatteryService invalid), vanish."""

    action: Literal["system"]
    state: Literal["normal", "no_battery", "vanish"]


class AdapterEvent(_Event):
    """The simulated USB adapter (``--slcan-link`` only): pull or plug the cable."""

    action: Literal["adapter"]
    state: Literal["unplug", "plug"]


ScenarioEvent = Annotated[
    LoadEvent
    | PvDcEvent
    | PvAcEvent
    | GridEvent
    | TemperatureEvent
    | BatteryEvent
    | BmsSilenceEvent
    | ButtonEvent
    | MonitorEvent
    | SystemEvent
    | AdapterEvent
    | BmsEvent
    | BmsLimitsEvent
    | DvccEvent,
    Field(discriminator="action"),
]


class Scenario(_Model):
    """The whole file."""

    name: str = "default"
    description: str = ""
    seed: int = Field(0, description="default seed; --seed overrides")
    duration_s: Seconds | None = Field(None, gt=0, description="stop after; None: run until told")
    step_s: float = Field(0.1, gt=0.0, le=1.0, description="integration step (simulated)")
    si: SiSection = Field(default_factory=SiSection)
    grid: GridSection = Field(default_factory=GridSection)
    battery: BatterySection = Field(default_factory=BatterySection)
    loads: LoadsSection = Field(default_factory=LoadsSection)
    pv: PvSection = Field(default_factory=PvSection)
    monitor: MonitorSection = Field(default_factory=MonitorSection)
    bms: BmsSection = Field(default_factory=BmsSection)
    dvcc: DvccSection = Field(default_factory=DvccSection)
    events: tuple[ScenarioEvent, ...] = ()

    @model_validator(mode="after")
    def _check_lines(self) -> Scenario:
        lines = self.si.lines
        problems = []
        if len(self.loads.power_w) > lines:
            problems.append(f"loads.power_w: {len(self.loads.power_w)} lines, cluster has {lines}")
        if len(self.pv.ac_power_w) > lines:
            problems.append(f"pv.ac_power_w: {len(self.pv.ac_power_w)} lines, cluster has {lines}")
        problems.extend(
            f"events[{i}]: line {event.line}, cluster has {lines}"
            for i, event in enumerate(self.events)
            if isinstance(event, (LoadEvent, PvAcEvent)) and event.line > lines
        )
        problems.extend(
            f"events[{i}]: {event.action} needs [bms] enabled = true"
            for i, event in enumerate(self.events)
            if isinstance(event, (BmsEvent, BmsLimitsEvent)) and not self.bms.enabled
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def sorted_events(self) -> tuple[ScenarioEvent, ...]:
        """Events by time; events at the same time keep their order in the file."""
        return tuple(sorted(self.events, key=lambda event: event.at_s))


def parse_scenario(data: dict[str, Any]) -> Scenario:
    """Validate an already-parsed document. Raises :class:`ConfigError` (one line per problem)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, unknown_key="unknown key")) from None


def load_scenario(path: Path | str | None) -> Scenario:
    """Read a scenario file (or a packaged example by bare name); ``None`` gives the defaults."""
    if path is None:
        return Scenario()
    file = Path(path)
    if not file.exists() and file.suffix == "" and str(path) in packaged_scenarios():
        file = packaged_scenarios()[str(path)]
    data = read_toml(file)
    return parse_scenario(data)


def packaged_scenarios() -> dict[str, Path]:
    """The example scenarios shipped in ``smavenus/data/scenarios``, by name."""
    folder = resources.files("smavenus") / "data" / "scenarios"
    return {
        entry.name.removesuffix(".toml"): Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }
