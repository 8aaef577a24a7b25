"""Scenario sections and events for the Venus side of the simulated world: a battery BMS
(``[bms]``, events ``bms`` and ``bms_limits``) and systemcalc's DVCC (``[dvcc]``, event
``dvcc``). Both are off by default, so a scenario without them runs as before.

Paths, units and alarm levels are Victron's (``battery-bms-and-dvcc.md`` §1-§2); the
defaults describe a 16-cell 280 Ah LiFePO4 bank like ``[battery]``'s, with a BMS in the
style of dbus-serialbattery (CVL 3.45 V/cell, DVL 2.9 V/cell).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from smavenus.sim.scenario_types import ScenarioModel, ServiceStateEvent, TimedEvent

#: ``/Alarms/<name>`` a BMS publishes here (0 ok, 1 warning, 2 alarm).
BMS_ALARMS: tuple[str, ...] = (
    "LowVoltage",
    "HighVoltage",
    "LowCellVoltage",
    "HighCellVoltage",
    "LowSoc",
    "HighChargeCurrent",
    "HighDischargeCurrent",
    "HighCurrent",
    "CellImbalance",
    "InternalFailure",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "HighTemperature",
    "LowTemperature",
    "HighInternalTemperature",
    "FuseBlown",
    "Contactor",
    "BmsCable",
)

#: The four ``/Info`` limits, by their scenario key.
LimitName = Literal[
    "max_charge_voltage_v",
    "max_charge_current_a",
    "max_discharge_current_a",
    "battery_low_voltage_v",
]
AlarmLevel = Annotated[int, Field(ge=0, le=2)]
#: Wide on purpose: a test may want a BMS to publish nonsense (serialbattery's 655.34 V DVL).
LimitVolts = Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)]
LimitAmps = Annotated[float, Field(ge=0.0, le=10_000.0, allow_inf_nan=False)]
CellVolts = Annotated[float, Field(ge=1.0, le=5.0, allow_inf_nan=False)]
Celsius = Annotated[float, Field(ge=-40.0, le=100.0, allow_inf_nan=False)]


class BmsSection(ScenarioModel):
    """``[bms]``: the battery's own BMS on D-Bus (needs ``--battery-monitor``)."""

    enabled: bool = False
    service: Literal["monitor", "separate"] = Field(
        "monitor",
        description="monitor: the battery monitor's service carries the BMS paths "
        "(serialbattery, CAN-bus batteries); separate: com.victronenergy.battery.<name>_bms",
    )
    device_instance: int = Field(513, ge=0, le=999, description="separate service only")
    product_id: int = Field(0xBA77, ge=0, le=0xFFFF, description="0xBA77: dbus-serialbattery")
    product_name: str = Field("Simulated LiFePO4 BMS", min_length=1)
    period_s: float = Field(1.0, gt=0.05, le=60.0, description="update period (simulated)")
    soc_offset_pct: float = Field(0.0, ge=-100, le=100, description="BMS SoC minus true SoC")
    modules: int = Field(1, ge=1, le=64, description="/System/NrOfModulesOnline")
    # -- what it asks for --------------------------------------------------------------
    max_charge_voltage_v: LimitVolts = Field(55.2, description="/Info/MaxChargeVoltage (CVL)")
    max_charge_current_a: LimitAmps = Field(140.0, description="/Info/MaxChargeCurrent, 0.5 C")
    max_discharge_current_a: LimitAmps = Field(200.0, description="/Info/MaxDischargeCurrent")
    battery_low_voltage_v: LimitVolts = Field(46.4, description="/Info/BatteryLowVoltage")
    allow_to_charge: bool = True
    allow_to_discharge: bool = True
    charge_request: bool = False
    block_at_cell_alarm: bool = Field(
        True,
        description="AllowToCharge 0 while HighCellVoltage is 2, AllowToDischarge 0 while "
        "LowCellVoltage is 2 (as serialbattery does)",
    )
    # -- alarms that follow the simulated cells (the pack ones are these × cells) ----------
    high_cell_warning_v: CellVolts = 3.55
    high_cell_alarm_v: CellVolts = 3.65
    low_cell_warning_v: CellVolts = 2.90
    low_cell_alarm_v: CellVolts = 2.80
    cell_imbalance_warning_v: float = Field(0.15, gt=0.0, le=2.0, allow_inf_nan=False)
    cell_imbalance_alarm_v: float = Field(0.30, gt=0.0, le=2.0, allow_inf_nan=False)
    low_soc_warning_pct: float = Field(10.0, ge=0.0, le=100.0)
    low_soc_alarm_pct: float = Field(5.0, ge=0.0, le=100.0)
    high_temperature_warning_c: Celsius = 50.0
    high_temperature_alarm_c: Celsius = 60.0
    low_temperature_warning_c: Celsius = -10.0
    low_temperature_alarm_c: Celsius = -20.0
    high_charge_temperature_warning_c: Celsius = 40.0
    high_charge_temperature_alarm_c: Celsius = 45.0
    low_charge_temperature_warning_c: Celsius = 5.0
    low_charge_temperature_alarm_c: Celsius = 0.0

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> BmsSection:
        rising = (
            ("high_cell_warning_v", "high_cell_alarm_v"),
            ("cell_imbalance_warning_v", "cell_imbalance_alarm_v"),
            ("high_temperature_warning_c", "high_temperature_alarm_c"),
            ("high_charge_temperature_warning_c", "high_charge_temperature_alarm_c"),
        )
        falling = (
            ("low_cell_warning_v", "low_cell_alarm_v"),
            ("low_soc_warning_pct", "low_soc_alarm_pct"),
            ("low_temperature_warning_c", "low_temperature_alarm_c"),
            ("low_charge_temperature_warning_c", "low_charge_temperature_alarm_c"),
        )
        problems = [
            f"{warning} must be below {alarm}"
            for warning, alarm in rising
            if not getattr(self, warning) < getattr(self, alarm)
        ] + [
            f"{warning} must be above {alarm}"
            for warning, alarm in falling
            if not getattr(self, warning) > getattr(self, alarm)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DvccSection(ScenarioModel):
    """``[dvcc]``: the systemcalc stand-in plays DVCC (writes into the vebus service)."""

    enabled: bool = Field(False, description="/Settings/Services/Bol bit 0")
    period_s: float = Field(
        3.0, gt=0.05, le=60.0, description="wall-clock seconds between writes (not --speed)"
    )
    max_charge_current_a: float = Field(
        -1.0,
        ge=-1.0,
        le=10_000.0,
        allow_inf_nan=False,
        description="user 'limit charge current' (/Settings/SystemSetup/MaxChargeCurrent); -1 off",
    )
    max_charge_voltage_v: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="user 'limit managed battery charge voltage'; 0 off",
    )


# -- events -------------------------------------------------------------------------------


class BmsEvent(ServiceStateEvent):
    """The BMS's service: the same states as the monitor (``smavenus.sim.faults``). With
    ``service = "monitor"`` it acts on the monitor's service (one service, one state)."""

    action: Literal["bms"]


class BmsLimitsEvent(TimedEvent):
    """The BMS changes what it asks for; fields not given stay as they are."""

    action: Literal["bms_limits"]
    max_charge_voltage_v: LimitVolts | None = None
    max_charge_current_a: LimitAmps | None = None
    max_discharge_current_a: LimitAmps | None = None
    battery_low_voltage_v: LimitVolts | None = None
    allow_to_charge: bool | None = None
    allow_to_discharge: bool | None = None
    charge_request: bool | None = None
    alarms: dict[str, AlarmLevel] = Field(
        default_factory=dict,
        description="forced level per /Alarms name, at least this level; 0 removes it",
    )
    invalid: tuple[LimitName, ...] = Field((), description="these limits become invalid")

    @field_validator("alarms")
    @classmethod
    def _known_alarms(cls, alarms: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(alarms) - set(BMS_ALARMS))
        if unknown:
            raise ValueError(f"unknown alarm {', '.join(unknown)}; known: {', '.join(BMS_ALARMS)}")
        return alarms

    @model_validator(mode="after")
    def _consistent(self) -> BmsLimitsEvent:
        both = [name for name in self.invalid if getattr(self, name) is not None]
        if both:
            raise ValueError(f"{', '.join(both)}: given a value and made invalid")
        if not (self.model_fields_set - {"action", "at_s"}):
            raise ValueError("bms_limits changes nothing")
        return self


class DvccEvent(TimedEvent):
    """DVCC switched on/off, its writer stalled (a hung systemcalc: still 'on', no writes)
    or resumed, or the user's limits changed; any of them."""

    action: Literal["dvcc"]
    enabled: bool | None = None
    stalled: bool | None = None
    max_charge_current_a: float | None = Field(None, ge=-1.0, le=10_000.0, allow_inf_nan=False)
    max_charge_voltage_v: float | None = Field(None, ge=0.0, le=100.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _changes_something(self) -> DvccEvent:
        if not (self.model_fields_set - {"action", "at_s"}):
            raise ValueError("dvcc changes nothing")
        return self
