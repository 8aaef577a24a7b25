"""A decision as the two messages the bms-controller sends: the command and the status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smavenus.controller import limits as lim
from smavenus.controller.inputs import is_fresh
from smavenus.ipc.messages import BmsCommand, ControllerLimits, ControllerStatus, InputState, Limit

if TYPE_CHECKING:
    from smavenus.controller.controller import ChargeController, Decision


def command(
    c: ChargeController, d: Decision, seq: int, sent_monotonic: float, sent_unix: float
) -> BmsCommand:
    limits = d.limits
    m = d.measurements
    return BmsCommand(
        seq=seq,
        sent_monotonic=sent_monotonic,
        sent_unix=sent_unix,
        charge_voltage_v=limits.charge_voltage_v.value,
        charge_current_a=limits.charge_current_a.value,
        discharge_current_a=limits.discharge_current_a.value,
        discharge_voltage_v=limits.discharge_voltage_v.value,
        soc_pct=d.soc_pct,
        battery_voltage_v=m.voltage_v,
        battery_current_a=m.current_a,
        battery_temperature_c=m.temperature_c,
        alarms=d.alarms,
        warnings=d.warnings,
        reasons={
            **{name: getattr(limits, name).reason for name in lim.TIGHTER},
            "soc_pct": d.soc_reason,
        },
    )


def status(
    c: ChargeController, d: Decision, seq: int, sent_monotonic: float, sent_unix: float
) -> ControllerStatus:
    m = d.measurements
    limits = d.limits
    max_age = c.cfg.controller.input_max_age_s
    monitor_at = None if c.monitor is None else c.monitor.updated_at
    si_at = None if c.si is None else c.si.received_at
    return ControllerStatus(
        seq=seq,
        sent_monotonic=sent_monotonic,
        sent_unix=sent_unix,
        charge_state=d.charge_state.value,
        charge_state_since_monotonic=c.charger.since,
        charge_state_reason=c.charger.reason,
        limits=ControllerLimits(
            **{
                name: Limit(value=getattr(limits, name).value, reason=getattr(limits, name).reason)
                for name in lim.TIGHTER
            }
        ),
        soc_pct=d.soc_pct,
        soc_reason=d.soc_reason,
        battery_soc_pct=m.soc_pct,
        measurement_source=m.source,
        battery_voltage_v=m.voltage_v,
        battery_current_a=m.current_a,
        battery_temperature_c=m.temperature_c,
        min_cell_voltage_v=m.min_cell_v,
        max_cell_voltage_v=m.max_cell_v,
        alarms=d.alarms,
        warnings=d.warnings,
        protections=d.verdict.active,
        grid_assist_mode=c.cfg.controller.grid_assist_mode,
        grid_requested=d.grid_requested,
        grid_reason=d.grid_reason,
        inputs={
            "battery_monitor": _input_state(monitor_at, d.now, max_age, c.battery_service),
            "si": _input_state(si_at, d.now, max_age, None),
        },
        battery_service=c.battery_service,
        settings_source=c.settings_source,
        last_full_charge_unix=c.last_full_charge_unix,
    )


def _input_state(at: float | None, now: float, max_age_s: float, source: str | None) -> InputState:
    return InputState(
        age_s=None if at is None else max(now - at, 0.0),
        stale=not is_fresh(at, now, max_age_s),
        source=source,
    )
