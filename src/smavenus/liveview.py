"""The bench's live terminal view, as text: what the SI says, what smavenus sends and why.

Pure: the latest messages and vebus values in, lines of text out (``smavenus-bench`` draws
them). Every value shows its age where it has one, so a frozen number is visible as such.
A value not known yet (a part still starting, the simulator's gap before its first BMS
frame) shows as "—"; a value of an unexpected kind shows as it is: rendering never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smavenus.ipc.messages import ControllerStatus, GatewayHealth, SiSnapshot, Stamped

DASH = "—"


@dataclass
class ViewState:
    """Everything the view shows; each part is None until it has been received."""

    channel: str = ""
    snapshot: SiSnapshot | None = None
    health: GatewayHealth | None = None
    status: ControllerStatus | None = None
    vebus_service: str | None = None
    vebus: dict[str, Any] = field(default_factory=dict)
    simulator: Mapping[str, Any] | None = None


def _fmt(value: Any, fmt: str) -> str:
    """``value`` formatted with ``fmt``; "—" if unknown, as it is if ``fmt`` does not fit."""
    if value is None:
        return DASH
    try:
        return f"{value:{fmt}}"
    except (TypeError, ValueError):
        return str(value)


def _num(value: Any, fmt: str, unit: str) -> str:
    return DASH if value is None else f"{_fmt(value, fmt)} {unit}"


def _age(now: float, stamped: Stamped[Any] | None) -> str:
    return DASH if stamped is None else f"{stamped.age_s(now):.1f} s old"


def _si_lines(snap: SiSnapshot | None, now: float) -> list[str]:
    if snap is None:
        return ["  waiting for the can-gateway's first snapshot…"]
    lines = [
        f"  snapshot #{snap.seq}, {snap.age_s(now):.1f} s old,"
        f" SI {'present' if snap.si_present else 'ABSENT'}"
    ]
    battery = snap.battery_status.value if snap.battery_status else None
    if battery is not None:
        current = battery.current_a
        direction = "" if current is None else (" (charging)" if current < 0 else " (discharging)")
        lines.append(
            f"  battery   {_num(battery.voltage_v, '.1f', 'V')}"
            f"   {_num(current, '.1f', 'A')}{direction}"
            f"   {_num(battery.temperature_c, '.1f', '°C')}"
            f"   SoC echo {_num(battery.soc_pct, '.1f', '%')}"
        )
    out = snap.output_voltage.value if snap.output_voltage else None
    inverter = snap.inverter_power.value if snap.inverter_power else None
    load = snap.total_load.value if snap.total_load else None
    if out is not None:
        lines.append(
            f"  AC out    L1 {_num(out.l1_v, '.1f', 'V')}  {_num(out.frequency_hz, '.2f', 'Hz')}"
            f"   load {_num(load.total_load_w if load else None, '.0f', 'W')}"
            f"   inverter {_num(inverter.l1_w if inverter else None, '.0f', 'W')}"
        )
    relay = snap.relay_status.value if snap.relay_status else None
    grid_v = snap.external_voltage.value if snap.external_voltage else None
    grid_p = snap.external_power.value if snap.external_power else None
    if relay is not None:
        state = (
            "connected"
            if relay.ac2_connected
            else ("available" if relay.ac2_voltage_valid else "absent")
        )
        lines.append(
            f"  AC2 grid  {state}   {_num(grid_v.l1_v if grid_v else None, '.1f', 'V')}"
            f"   {_num(grid_p.l1_w if grid_p else None, '+.0f', 'W')}"
        )
    si_status = snap.si_status.value if snap.si_status else None
    if si_status is not None:
        lines.append(
            f"  state     {si_status.operating_state_name}, error {si_status.error_number}, "
            f"CV set-point {_num(si_status.charge_voltage_setpoint_v, '.1f', 'V')}"
            f"   ({_age(now, snap.si_status)})"
        )
    return lines


def _bms_lines(health: GatewayHealth | None, now: float) -> list[str]:
    if health is None or health.sent is None:
        return ["  waiting for the can-gateway's health…"]
    sent = health.sent
    age = DASH if health.command_age_s is None else f"{health.command_age_s:.1f} s"
    lines = [f"  source {health.command_source}, command age {age}"]
    for label, key, unit in (
        ("CVL", "charge_voltage_v", "V"),
        ("CCL", "charge_current_a", "A"),
        ("DCL", "discharge_current_a", "A"),
        ("DVL", "discharge_voltage_v", "V"),
    ):
        reason = sent.reasons.get(key, "")
        lines.append(f"  {label} {_fmt(getattr(sent, key, None), '7.1f')} {unit}   {reason}")
    alarms = ", ".join(sorted(sent.alarms)) or DASH
    warnings = ", ".join(sorted(sent.warnings)) or DASH
    lines.append(f"  SoC {_fmt(sent.soc_pct, '5.1f')} %   alarms: {alarms}   warnings: {warnings}")
    return lines


def _controller_lines(status: ControllerStatus | None, now: float) -> list[str]:
    if status is None:
        return ["  waiting for the bms-controller…"]
    since = now - status.charge_state_since_monotonic
    lines = [
        f"  {status.charge_state} for {since:.0f} s ({status.charge_state_reason});"
        f" measuring from {status.measurement_source}",
        f"  battery {_num(status.battery_voltage_v, '.2f', 'V')}"
        f"  {_num(status.battery_current_a, '+.1f', 'A')}"
        f"  SoC {_num(status.battery_soc_pct, '.1f', '%')}"
        f" (sent {status.soc_pct:.1f} %, {status.soc_reason})",
        f"  grid assist {status.grid_assist_mode}: "
        f"{'requesting the grid' if status.grid_requested else 'not requesting'}"
        f" ({status.grid_reason})",
    ]
    lines.extend(f"  protection {p.level}: {p.name} ({p.condition})" for p in status.protections)
    return lines


_VEBUS_SHOWN = (
    ("/State", "State", "{}"),
    ("/Soc", "SoC", "{:.1f} %"),
    ("/Dc/0/Voltage", "DC", "{:.2f} V"),
    ("/Dc/0/Current", "", "{:+.1f} A"),
    ("/Dc/0/Power", "", "{:+.0f} W"),
    ("/Ac/Out/P", "AC out", "{:.0f} W"),
    ("/Ac/ActiveIn/P", "AC in", "{:+.0f} W"),
    ("/Connected", "connected", "{}"),
)


def _vebus_lines(service: str | None, values: Mapping[str, Any]) -> list[str]:
    if service is None:
        return ["  waiting for com.victronenergy.vebus.*…"]
    shown = []
    for path, label, fmt in _VEBUS_SHOWN:
        value = values.get(path)
        try:
            text = DASH if value is None else fmt.format(value)
        except (TypeError, ValueError):
            text = str(value)
        shown.append(f"{label} {text}".strip())
    energy = {
        p.removeprefix("/Energy/"): v for p, v in sorted(values.items()) if p.startswith("/Energy/")
    }
    nonzero = ", ".join(f"{name} {_fmt(kwh, '.3f')}" for name, kwh in energy.items() if kwh)
    return [
        f"  {service}",
        "  " + "   ".join(shown),
        f"  energy kWh: {nonzero or 'all 0 so far'}",
    ]


def _counter_lines(health: GatewayHealth | None) -> list[str]:
    if health is None:
        return []
    return [
        f"  bus {health.bus_state} ({health.interface} {health.channel}), received "
        f"{health.frames_received}, scheduled {health.frames_scheduled}, "
        f"dropped {health.frames_dropped}, malformed {health.frames_malformed}, "
        f"foreign {health.frames_foreign}, re-opens {health.bus_reopens}"
    ]


def _simulator_lines(sim: Mapping[str, Any] | None) -> list[str]:
    if not sim:
        return []
    # Each may be missing or None: the simulator has no longest gap before its first BMS frame.
    return [
        f"  simulated time {_num(sim.get('sim_time_s'), '.0f', 's')},"
        f" true SoC {_num(sim.get('true_soc_pct'), '.2f', '%')},"
        f" F952 {'YES' if sim.get('f952') else 'no'},"
        f" longest BMS gap {_num(sim.get('longest_bms_gap_s'), '.2f', 's')}"
    ]


def render(state: ViewState, now_monotonic: float) -> list[str]:
    """The screen, one string per line."""
    now = now_monotonic
    return [
        f"smavenus bench: simulated Sunny Island on {state.channel or DASH}    (Ctrl-C stops)",
        "",
        "Sunny Island (what the SI says)",
        *_si_lines(state.snapshot, now),
        "",
        "BMS frames sent to the SI (can-gateway)",
        *_bms_lines(state.health, now),
        "",
        "Charge controller (bms-controller)",
        *_controller_lines(state.status, now),
        "",
        "Victron view (vebus-publisher)",
        *_vebus_lines(state.vebus_service, state.vebus),
        "",
        "Frame counters",
        *_counter_lines(state.health),
        *_simulator_lines(state.simulator),
    ]
