"""The live page's data: the latest gateway snapshot and health and controller status in,
one JSON-ready dict out. Pure: ages are computed from the ``now`` passed in (the monotonic
clock every process on the host shares), so a frozen value shows its age.

Units are in the keys; ``None`` is "not known" (never received, or the SI left it out).
Warnings and alarms carry SMA's event numbers (W9xx / F9xx), as the SI's display shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smavenus.ipc.messages import (
    ControllerStatus,
    GatewayHealth,
    SiSnapshot,
    Stamped,
    condition_from_name,
)
from smavenus.vebus.inputs import AC_PRESENT_MIN_V

#: The four 0x351 limits: key, short name, unit.
LIMITS: tuple[tuple[str, str, str], ...] = (
    ("charge_voltage_v", "CVL", "V"),
    ("charge_current_a", "CCL", "A"),
    ("discharge_current_a", "DCL", "A"),
    ("discharge_voltage_v", "DVL", "V"),
)
LINE_NUMBERS = (1, 2, 3)
#: A line with less than this on AC1 is not there (the vebus-publisher's rule too).
PRESENT_MIN_V = AC_PRESENT_MIN_V


@dataclass
class Latest:
    """The latest message of each feed (None until received)."""

    snapshot: SiSnapshot | None = None
    health: GatewayHealth | None = None
    status: ControllerStatus | None = None


def _value(stamped: Stamped[Any] | None) -> Any:
    return None if stamped is None else stamped.value


def _line(frame: Any, n: int, unit: str) -> float | None:
    return None if frame is None else getattr(frame, f"l{n}_{unit}")


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def si_view(snap: SiSnapshot | None, now: float) -> dict[str, Any] | None:
    if snap is None:
        return None
    out_v, ext_v = _value(snap.output_voltage), _value(snap.external_voltage)
    inverter, external = _value(snap.inverter_power), _value(snap.external_power)
    relay, status = _value(snap.relay_status), _value(snap.si_status)
    lines = []
    for n in LINE_NUMBERS:
        voltage = _line(out_v, n, "v")
        if n > 1 and (voltage is None or voltage < PRESENT_MIN_V):
            continue  # the SI reports 0 V for lines it does not have
        inverter_w, external_w = _line(inverter, n, "w"), _line(external, n, "w")
        lines.append(
            {
                "line": n,
                "out_v": voltage,
                "inverter_w": inverter_w,
                "ac2_w": external_w,
                "out_w": _add(inverter_w, external_w),
                "ac2_v": _line(ext_v, n, "v"),
            }
        )
    ac2 = None
    if relay is not None:
        ac2 = "connected" if relay.ac2_connected else (
            "available" if relay.ac2_voltage_valid else "absent"
        )  # fmt: skip
    load = _value(snap.total_load)
    return {
        "present": snap.si_present,
        "age_s": round(snap.age_s(now), 1),
        "lines": lines,
        "out_hz": None if out_v is None else out_v.frequency_hz,
        "ac2_hz": None if ext_v is None else ext_v.frequency_hz,
        "ac2": ac2,
        "total_load_w": None if load is None else load.total_load_w,
        "operating_state": None if status is None else status.operating_state,
        "error_number": None if status is None else status.error_number,
        "soh_pct": None if status is None else status.soh_pct,
    }


def _conditions(latest: Latest) -> list[dict[str, Any]]:
    """Active warnings and alarms: the controller's rules, else what the gateway sends."""
    status, health = latest.status, latest.health
    rows: dict[str, dict[str, Any]] = {}
    if status is not None:
        for p in status.protections:
            rows[p.name] = {
                "name": p.name,
                "condition": p.condition,
                "level": p.level,
                "value": p.value,
                "threshold": p.threshold,
                "origin": "controller",
            }
        covered = {p.condition for p in status.protections}
        alarms, warnings = status.alarms, status.warnings
    elif health is not None and health.sent is not None:
        covered, alarms, warnings = set(), health.sent.alarms, health.sent.warnings
    else:
        covered, alarms, warnings = set(), frozenset(), frozenset()
    for condition in sorted(warnings | alarms):
        if condition in covered:
            continue  # a rule row already shows it; this one is held (alarm_min_hold_s)
        level = "alarm" if condition in alarms else "warning"
        rows[f"held:{condition}"] = {
            "name": "held" if status is not None else "sent",
            "condition": condition, "level": level, "value": None, "threshold": None,
            "origin": "controller" if status is not None else "gateway",
        }  # fmt: skip
    for row in rows.values():
        row["sma"] = _sma_number(row["condition"], row["level"])
    return sorted(rows.values(), key=lambda r: (r["level"] != "alarm", r["name"]))


def _sma_number(condition: str | None, level: str) -> str | None:
    if condition is None:
        return None
    sma = condition_from_name(condition)
    return sma.alarm_event if level == "alarm" else sma.warning_event


def _limits(latest: Latest) -> list[dict[str, Any]]:
    status, health = latest.status, latest.health
    sent = None if health is None else health.sent
    rows = []
    for key, short, unit in LIMITS:
        commanded = None if status is None else getattr(status.limits, key)
        rows.append(
            {
                "key": key,
                "short": short,
                "unit": unit,
                "commanded": None if commanded is None else commanded.value,
                "reason": None if commanded is None else commanded.reason,
                "candidates": {} if status is None else status.candidates.get(key, {}),
                "sent": None if sent is None else getattr(sent, key),
                "sent_reason": None if sent is None else sent.reasons.get(key),
            }
        )
    return rows


def live_view(latest: Latest, now: float, now_unix: float) -> dict[str, Any]:
    status, health, snap = latest.status, latest.health, latest.snapshot
    battery_frame = None if snap is None else _value(snap.battery_status)
    view: dict[str, Any] = {
        "now_unix": now_unix,
        "si": si_view(snap, now),
        "limits": _limits(latest),
        "conditions": _conditions(latest),
        "can": None,
        "controller": None,
        "battery": {
            "soc_pct": status.battery_soc_pct if status else None,
            "soc_sent_pct": status.soc_pct if status else None,
            "voltage_v": status.battery_voltage_v if status else None,
            "current_a": status.battery_current_a if status else None,
            "temperature_c": status.battery_temperature_c if status else None,
            "min_cell_v": status.min_cell_voltage_v if status else None,
            "max_cell_v": status.max_cell_voltage_v if status else None,
            "si_voltage_v": battery_frame.voltage_v if battery_frame else None,
            "si_current_a": None
            if battery_frame is None or battery_frame.current_a is None
            else -battery_frame.current_a,  # SMA: − is charging; shown Victron's way
        },
    }
    if health is not None:
        view["can"] = health.model_dump(
            include={"interface", "channel", "bus_state", "si_present", "frames_received",
                     "frames_scheduled", "frames_dropped", "frames_malformed", "frames_foreign",
                     "command_source", "command_age_s", "commands_accepted", "commands_rejected",
                     "commands_unauthorized", "bus_reopens", "adapter_errors"}
        ) | {"age_s": round(health.age_s(now), 1)}  # fmt: skip
    if status is not None:
        view["controller"] = status.model_dump(
            include={"seq", "charge_state", "charge_state_reason", "soc_reason",
                     "measurement_source", "battery_service", "settings_source",
                     "last_full_charge_unix",
                     "charge_control", "bms_service", "bms_fresh", "bms_connection_lost",
                     "dvcc_on", "sensor_disagreement", "frozen_sources", "grid_assist_mode",
                     "grid_requested", "grid_reason"}
        ) | {
            "age_s": round(status.age_s(now), 1),
            "in_state_s": round(now - status.charge_state_since_monotonic),
            "inputs": {k: v.model_dump() for k, v in status.inputs.items()},
        }  # fmt: skip
    return view
