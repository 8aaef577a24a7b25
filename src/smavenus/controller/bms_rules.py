"""The battery BMS's own word as protection rules: its alarms, permissions and absence.

**Alarms (R17).** A BMS publishes ``/Alarms/<Name>`` at 0 (ok), 1 (warning) or 2 (alarm).
Level 1 raises the matching SMA *warning* at once. Level 2 also applies the effect at once,
and raises the SMA *alarm* (the SI stops) only where :data:`ALARM_TABLE` says so, after
``alarm_delay_s`` while still at 2 — an alarm is for when the limits did not help, and it
also blacks out an off-grid site. A BMS alarm that goes missing (the BMS vanished) keeps its
level like every other rule.

**Permissions (R12, R13).** ``/Io/AllowToCharge`` 0, a charge-current limit of 0 or a limit
we refuse as implausible block charging, without an SMA warning of their own (a BMS says
"no charging" whenever the battery is full: that is normal). ``/Io/AllowToDischarge`` 0 or a
discharge limit of 0 make the discharge current 0 — which the SI heeds only on grid: off
grid, while it still discharges more than 2 A after ``alarm_delay_s``, the SMA alarm of the
BMS's reason stops it (``stop_inverting_on_zero_dcl``), the SI analogue of a Multi shutting
down on a zero discharge limit.

**Absence (R15, R16).** A BMS that was there and is not fresh for ``bms_lost_grace_s``
raises the *general* warning; what that does to the limits is in
:mod:`smavenus.controller.bms_presence`.
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.controller.rules import FLAG_ON, Context, Effect, Rule, Side, _flag_rule
from smavenus.ipc.messages import ConditionName


@dataclass(frozen=True, slots=True)
class BmsAlarm:
    paths: tuple[str, ...]  #: Victron's /Alarms/<Name> leaves that map here
    condition: ConditionName
    effect: Effect  #: applied at level 2
    sma_alarm: bool  #: level 2 raises the SMA alarm (after alarm_delay_s)


ALARM_TABLE: dict[str, BmsAlarm] = {
    "bms_high_voltage": BmsAlarm(("HighVoltage", "HighCellVoltage"), "high_voltage",
                                 Effect.BLOCK_CHARGE, True),
    "bms_low_voltage": BmsAlarm(("LowVoltage", "LowCellVoltage"), "low_voltage",
                                Effect.BLOCK_DISCHARGE, False),
    "bms_high_temperature": BmsAlarm(("HighTemperature",), "high_temperature",
                                     Effect.BLOCK_CHARGE | Effect.BLOCK_DISCHARGE, True),
    "bms_low_temperature": BmsAlarm(("LowTemperature",), "low_temperature",
                                    Effect.BLOCK_CHARGE, True),
    "bms_high_charge_temperature": BmsAlarm(("HighChargeTemperature",), "high_temperature_charge",
                                            Effect.BLOCK_CHARGE, False),
    "bms_low_charge_temperature": BmsAlarm(("LowChargeTemperature",), "low_temperature_charge",
                                           Effect.BLOCK_CHARGE, False),
    "bms_high_current": BmsAlarm(("HighDischargeCurrent", "HighCurrent"), "high_current",
                                 Effect.LIMIT_DISCHARGE, False),
    "bms_high_charge_current": BmsAlarm(("HighChargeCurrent",), "high_charge_current",
                                        Effect.HALVE_CHARGE, False),
    "bms_contactor": BmsAlarm(("Contactor",), "contactor",
                              Effect.BLOCK_CHARGE | Effect.BLOCK_DISCHARGE, True),
    "bms_fuse_blown": BmsAlarm(("FuseBlown",), "short_circuit",
                               Effect.BLOCK_CHARGE | Effect.BLOCK_DISCHARGE, True),
    "bms_internal_failure": BmsAlarm(("InternalFailure",), "bms_internal", Effect.BLOCK_CHARGE,
                                     True),
    "bms_internal_temperature": BmsAlarm(("HighInternalTemperature",), "bms_internal",
                                         Effect.BLOCK_CHARGE, False),
    "bms_cell_imbalance": BmsAlarm(("CellImbalance",), "cell_imbalance", Effect.NONE, False),
    "bms_cable": BmsAlarm(("BmsCable",), "general", Effect.NONE, False),
    "bms_other": BmsAlarm(("LowSoc", "StateOfHealth", "MidVoltage", "Alarm"), "general",
                          Effect.NONE, False),
}  # fmt: skip

#: Every /Alarms/<Name> a BMS may publish that the table maps.
KNOWN_ALARMS = frozenset(path for row in ALARM_TABLE.values() for path in row.paths)
#: "Still discharging" off grid, for R13 (A).
DISCHARGING_A = 2.0


def _level(paths: tuple[str, ...]) -> object:
    def measure(c: Context) -> float | None:
        levels = [c.bms.alarms[p] for p in paths if p in c.bms.alarms]
        if not levels:
            return None  # never published, or the BMS is gone: the level is kept
        return float(max(levels))

    return measure


def _alarm_rule(name: str, row: BmsAlarm) -> Rule:
    return Rule(
        name,
        row.condition,
        Side.HIGH,
        _level(row.paths),  # type: ignore[arg-type]
        lambda cfg: 1.0,
        (lambda cfg: 2.0) if row.sma_alarm else (lambda cfg: None),
        lambda cfg: 0.5,
        row.effect,
        f"the BMS's /Alarms/{'|'.join(row.paths)} at 1 (warning) or 2 (alarm)",
        effect_when=lambda level: level >= 2.0,
    )


def _low_voltage_reported(c: Context) -> bool:
    return any(c.bms.alarms.get(p, 0) >= 1 for p in ("LowVoltage", "LowCellVoltage"))


def _stop_inverting(c: Context, low_voltage: bool) -> bool:
    return (
        c.stop_inverting_on_zero_dcl
        and c.bms.discharge_blocked is not None
        and c.inverting_off_grid
        and _low_voltage_reported(c) == low_voltage
    )


BMS_RULES: tuple[Rule, ...] = (
    *(_alarm_rule(name, row) for name, row in ALARM_TABLE.items()),
    _flag_rule(
        "bms_charge_blocked", None,
        lambda c: c.bms.charge_blocked is not None,
        Effect.BLOCK_CHARGE,
        "the BMS forbids charging (AllowToCharge 0, a charge limit of 0, or a limit refused "
        "as implausible)",
    ),
    _flag_rule(
        "bms_discharge_blocked", None,
        lambda c: c.bms.discharge_blocked is not None,
        Effect.BLOCK_DISCHARGE,
        "the BMS forbids discharging (AllowToDischarge 0 or a discharge limit of 0)",
    ),
    _flag_rule(
        "bms_discharge_blocked_off_grid", "low_voltage",
        lambda c: _stop_inverting(c, low_voltage=True),
        Effect.NONE,
        "the BMS forbids discharging for low voltage and the SI, off grid, still discharges",
        alarm=lambda cfg: FLAG_ON,
    ),
    _flag_rule(
        "bms_discharge_blocked_off_grid_general", "general",
        lambda c: _stop_inverting(c, low_voltage=False),
        Effect.NONE,
        "the BMS forbids discharging and the SI, off grid, still discharges",
        alarm=lambda cfg: FLAG_ON,
    ),
    _flag_rule(
        "bms_lost", "general",
        lambda c: c.bms.lost,
        Effect.NONE,  # the limits of a lost BMS: smavenus.controller.bms_presence
        "the battery BMS was there and has not been fresh for bms_lost_grace_s",
    ),
    _flag_rule(
        "bms_discharge_voltage_above_sma_range", "general",
        lambda c: c.bms.dvl_above_sma_range,
        Effect.NONE,
        "the BMS's discharge voltage is above SMA's 48 V maximum: 48 V is sent",
    ),
)  # fmt: skip
