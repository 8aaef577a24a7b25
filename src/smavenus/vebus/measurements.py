"""Fresh SI frames → the measured path values (``/Ac/*``, ``/Dc/0/*``, ``/Soc``) and the
installation facts the SI shows (its lines, its AC input). Pure.

Signs: SMA's 0x305 battery current is negative while charging; Victron's ``/Dc/0/Current``
is positive while charging, so it is negated here and nowhere else. SMA's 0x300 (+ = taken
from AC2) is already Victron's ``/Ac/ActiveIn/*/P`` sign. Output power per line is
external + inverter power (0x300 + 0x301): both are 100 W steps, so ``/Ac/Out/Lx/P`` is
good to ±100 W and ``/Ac/ActiveIn/Lx/P`` to ±50 W.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from smavenus.vebus.energy import LinePower, Node
from smavenus.vebus.enums import ActiveInput
from smavenus.vebus.inputs import (
    AC_PRESENT_MIN_V,
    Fresh,
    Options,
    ac_input_connected,
    active_node,
    line_value,
)
from smavenus.vebus.paths import LINES


def _sum(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def current_a(power_w: float | None, voltage_v: float | None) -> float | None:
    """I = P / V, signed like P. With no voltage a current exists only if there is no power."""
    if power_w is None or voltage_v is None:
        return None
    if voltage_v < AC_PRESENT_MIN_V:
        return 0.0 if power_w == 0 else None
    return power_w / voltage_v


def apparent_va(power_w: float | None, reactive_var: float | None) -> float | None:
    if power_w is None or reactive_var is None:
        return None
    return math.hypot(power_w, reactive_var)


# -- facts the SI has shown (latched by the core) ---------------------------------------------


def lines_with_voltage(si: Fresh) -> int:
    """The highest line with a voltage on AC1 or AC2 (0: none)."""
    highest = 0
    for n in LINES:
        for frame in (si.output_voltage, si.external_voltage):
            voltage = line_value(frame, n, "v")
            if voltage is not None and voltage >= AC_PRESENT_MIN_V:
                highest = max(highest, n)
    return highest


def ac_source_present(si: Fresh) -> bool:
    """The SI shows something on AC2: a valid voltage, a closed relay, or a measured voltage."""
    if si.relay_status is not None and (
        si.relay_status.ac2_voltage_valid or ac_input_connected(si)
    ):
        return True
    return any(
        (v := line_value(si.external_voltage, n, "v")) is not None and v >= AC_PRESENT_MIN_V
        for n in LINES
    )


def line_powers(si: Fresh, lines: int) -> tuple[LinePower, ...] | None:
    """Per-line (input, inverter) power for the energy counters; None if any is unknown."""
    powers = []
    for n in LINES[: max(1, lines)]:
        ext, inv = line_value(si.external_power, n, "w"), line_value(si.inverter_power, n, "w")
        if ext is None or inv is None:
            return None
        powers.append(LinePower(ext, inv))
    return tuple(powers)


# -- path values ----------------------------------------------------------------------------


def ac_values(si: Fresh, lines: int) -> dict[str, float | None]:
    """``/Ac/ActiveIn/*`` and ``/Ac/Out/*`` per line and totals; absent lines invalid."""
    values: dict[str, float | None] = {}
    present = LINES[: max(1, lines)]
    in_p, in_s, out_p, out_s = [], [], [], []
    for n in LINES:
        if n not in present:
            for side in ("ActiveIn", "Out"):
                for quantity in ("V", "I", "F", "P", "S"):
                    values[f"/Ac/{side}/L{n}/{quantity}"] = None
            continue
        ext_v = line_value(si.external_voltage, n, "v")
        ext_p = line_value(si.external_power, n, "w")
        ext_q = line_value(si.external_reactive_power, n, "var")
        ext_s = apparent_va(ext_p, ext_q)
        values |= {
            f"/Ac/ActiveIn/L{n}/V": ext_v,
            f"/Ac/ActiveIn/L{n}/F": si.external_voltage.frequency_hz
            if si.external_voltage
            else None,
            f"/Ac/ActiveIn/L{n}/P": ext_p,
            f"/Ac/ActiveIn/L{n}/I": current_a(ext_p, ext_v),
            f"/Ac/ActiveIn/L{n}/S": ext_s,
        }
        o_v = line_value(si.output_voltage, n, "v")
        o_p = _add(ext_p, line_value(si.inverter_power, n, "w"))
        o_q = _add(ext_q, line_value(si.inverter_reactive_power, n, "var"))
        o_s = apparent_va(o_p, o_q)
        values |= {
            f"/Ac/Out/L{n}/V": o_v,
            f"/Ac/Out/L{n}/F": si.output_voltage.frequency_hz if si.output_voltage else None,
            f"/Ac/Out/L{n}/P": o_p,
            f"/Ac/Out/L{n}/I": current_a(o_p, o_v),
            f"/Ac/Out/L{n}/S": o_s,
        }
        in_p.append(ext_p)
        in_s.append(ext_s)
        out_p.append(o_p)
        out_s.append(o_s)
    values |= {
        "/Ac/ActiveIn/P": _sum(in_p),
        "/Ac/ActiveIn/S": _sum(in_s),
        "/Ac/Out/P": _sum(out_p),
        "/Ac/Out/S": _sum(out_s),
    }
    return values


def battery_current_a(si: Fresh) -> float | None:
    """Victron's sign: + = charging (SMA's 0x305 is the opposite)."""
    battery = si.battery_status
    if battery is None or battery.current_a is None:
        return None
    return -battery.current_a


def dc_values(si: Fresh) -> dict[str, float | None]:
    battery = si.battery_status
    voltage = battery.voltage_v if battery else None
    current = battery_current_a(si)
    return {
        "/Dc/0/Voltage": voltage,
        "/Dc/0/Current": current,
        "/Dc/0/Power": None if voltage is None or current is None else voltage * current,
        "/Dc/0/Temperature": battery.temperature_c if battery else None,
        "/Soc": battery.soc_pct if battery else None,
    }


#: The input feeding the SI → /Ac/ActiveIn/ActiveInput.
ACTIVE_INPUTS: Mapping[Node | None, ActiveInput] = {
    None: ActiveInput.DISCONNECTED,
    Node.AC_IN_1: ActiveInput.AC_IN_1,
    Node.AC_IN_2: ActiveInput.AC_IN_2,
}


def active_input_values(si: Fresh, options: Options) -> dict[str, int | None]:
    connected = ac_input_connected(si)
    if connected is None:
        return {"/Ac/ActiveIn/ActiveInput": None, "/Ac/ActiveIn/Connected": None}
    return {
        "/Ac/ActiveIn/ActiveInput": int(ACTIVE_INPUTS[active_node(si, options)]),
        "/Ac/ActiveIn/Connected": int(connected),
    }
