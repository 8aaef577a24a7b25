"""A decision as the two messages the bms-controller sends: the command and the status.

The :class:`~smavenus.ipc.messages.BmsCommand` is what the gateway turns into BMS frames;
the :class:`~smavenus.ipc.messages.ControllerStatus` says what the controller is doing and
why, for the vebus-publisher, the bench, the web page and the logs.
"""

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
        battery_empty=d.battery_empty,
    )


def _input_state(at: float | None, now: float, max_age_s: float, source: str | None) -> InputState:
    return InputState(
        age_s=None if at is None else max(now - at, 0.0),
        stale=not is_fresh(at, now, max_age_s),
        source=source,
    )


def status(
    c: ChargeController, d: Decision, seq: int, sent_monotonic: float, sent_unix: float
) -> ControllerStatus:
    m = d.measurements
    limits = d.limits
    cfg = c.cfg
    max_age = cfg.controller.input_max_age_s
    monitor_at = None if c.monitor is None else c.monitor.updated_at
    si_at = None if c.si is None else c.si.received_at
    bms_at = None if c.bms is None else c.bms.updated_at
    inputs = {
        "battery_monitor": _input_state(monitor_at, d.now, max_age, c.battery_service),
        "si": _input_state(si_at, d.now, max_age, None),
    }
    if c.bms is not None or c.presence.seen_service is not None:
        inputs["bms"] = _input_state(bms_at, d.now, max_age, c.presence.seen_service)
    for name, write in (
        ("dvcc_max_charge_voltage", c.dvcc.max_charge_voltage_v),
        ("dvcc_max_charge_current", c.dvcc.max_charge_current_a),
        ("dvcc_max_discharge_current", c.dvcc.max_discharge_current_a),
        ("dvcc_battery_low_voltage", c.dvcc.battery_low_voltage_v),
    ):
        if write is not None:
            inputs[name] = _input_state(
                write.written_at, d.now, cfg.controller.bol_max_age_s, "dvcc"
            )
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
        grid_assist_mode=cfg.controller.grid_assist_mode,
        grid_requested=d.grid_requested,
        grid_reason=d.grid_reason,
        inputs=inputs,
        battery_service=c.battery_service,
        settings_source=c.settings_source,
        last_full_charge_unix=c.last_full_charge_unix,
        charge_control=d.mode,
        bms_service=c.presence.seen_service,
        bms_fresh=d.word.bms_fresh,
        bms_connection_lost=d.bms_lost,
        dvcc_on=d.word.dvcc_on,
        candidates={k: dict(v) for k, v in d.word.candidates.items() if v},
        sensor_disagreement=c.disagreement.latched,
        frozen_sources=c.sources.frozen_sources,
    )
