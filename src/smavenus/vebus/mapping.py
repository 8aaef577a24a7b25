"""SI frames (and what the gateway and controller say) → vebus path values. Pure.

Everything here takes values that are already known to be fresh (:class:`Fresh`); the
staleness decision is made once, in :mod:`smavenus.vebus.core`. A value that cannot be
computed from fresh inputs is ``None`` (invalid on the bus), never a left-over number.

Signs: SMA's 0x305 battery current is negative while charging; Victron's ``/Dc/0/Current``
is positive while charging, so it is negated here and nowhere else. SMA's 0x300 (+ = taken
from AC2) is already Victron's ``/Ac/ActiveIn/*/P`` sign. Output power per line is
external + inverter power (0x300 + 0x301): both are 100 W steps, so ``/Ac/Out/Lx/P`` is
good to ±100 W and ``/Ac/ActiveIn/Lx/P`` to ±50 W.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smavenus.protocol import frames as f
from smavenus.vebus.energy import LinePower, Node
from smavenus.vebus.enums import ActiveInput, AlarmLevel, Led, VebusChargeState, VebusState
from smavenus.vebus.paths import LINES

#: A line exists, the inverter runs, an AC source is present: at least this voltage.
AC_PRESENT_MIN_V = 50.0
#: Battery current (Victron sign) beyond which the battery counts as charging/discharging.
BATTERY_ACTIVE_MIN_A = 1.0


class ChargePhase(enum.Enum):
    """The controller's charge state (``ControllerStatus.charge_state``)."""

    BULK = "bulk"
    ABSORPTION = "absorption"
    FLOAT = "float"


#: phase → (/State while on an AC input, /VebusChargeState)
PHASES: Mapping[ChargePhase, tuple[VebusState, VebusChargeState]] = {
    ChargePhase.BULK: (VebusState.BULK, VebusChargeState.BULK),
    ChargePhase.ABSORPTION: (VebusState.ABSORPTION, VebusChargeState.ABSORPTION),
    ChargePhase.FLOAT: (VebusState.FLOAT, VebusChargeState.FLOAT),
}


@dataclass(frozen=True)
class Fresh:
    """The SI's frames young enough to be believed; ``None``: missing or too old."""

    external_power: f.ExternalPower | None = None
    inverter_power: f.InverterPower | None = None
    external_reactive_power: f.ExternalReactivePower | None = None
    inverter_reactive_power: f.InverterReactivePower | None = None
    output_voltage: f.OutputVoltage | None = None
    battery_status: f.BatteryStatus | None = None
    si_status: f.SiStatus | None = None
    relay_status: f.RelayStatus | None = None
    external_voltage: f.ExternalVoltage | None = None


@dataclass(frozen=True)
class Conditions:
    """0x35A conditions (IPC names such as ``"low_voltage"``) raised as alarm or warning."""

    alarms: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()

    def __or__(self, other: Conditions) -> Conditions:
        return Conditions(self.alarms | other.alarms, self.warnings | other.warnings)


@dataclass(frozen=True)
class Options:
    """The configuration choices the mapping needs."""

    generator_as_ac_in_2: bool = False
    grid_lost_alarm: bool = True


def _line(frame: Any, n: int, unit: str) -> float | None:
    if frame is None:
        return None
    value: float | None = getattr(frame, f"l{n}_{unit}")
    return value


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
            voltage = _line(frame, n, "v")
            if voltage is not None and voltage >= AC_PRESENT_MIN_V:
                highest = max(highest, n)
    return highest


def ac_input_connected(si: Fresh) -> bool | None:
    relay = si.relay_status
    if relay is None:
        return None
    return relay.ac2_connected or f.FunctionBits2.EXT_SRC_CONN in relay.functions2


def ac_source_present(si: Fresh) -> bool:
    """The SI shows something on AC2: a valid voltage, a closed relay, or a measured voltage."""
    if si.relay_status is not None and (
        si.relay_status.ac2_voltage_valid or ac_input_connected(si)
    ):
        return True
    return any(
        (v := _line(si.external_voltage, n, "v")) is not None and v >= AC_PRESENT_MIN_V
        for n in LINES
    )


def active_node(si: Fresh, options: Options) -> Node | None:
    """The AC input feeding the SI; ``None`` when none is connected or it is not known."""
    if not ac_input_connected(si):
        return None
    assert si.relay_status is not None
    generator = options.generator_as_ac_in_2 and f.RelayBits.GN_RN in si.relay_status.relays
    return Node.AC_IN_2 if generator else Node.AC_IN_1


def line_powers(si: Fresh, lines: int) -> tuple[LinePower, ...] | None:
    """Per-line (input, inverter) power for the energy counters; None if any is unknown."""
    powers = []
    for n in LINES[: max(1, lines)]:
        ext, inv = _line(si.external_power, n, "w"), _line(si.inverter_power, n, "w")
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
        ext_v = _line(si.external_voltage, n, "v")
        ext_p = _line(si.external_power, n, "w")
        ext_q = _line(si.external_reactive_power, n, "var")
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
        o_v = _line(si.output_voltage, n, "v")
        o_p = _add(ext_p, _line(si.inverter_power, n, "w"))
        o_q = _add(ext_q, _line(si.inverter_reactive_power, n, "var"))
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


@dataclass(frozen=True)
class StateFacts:
    failed: bool
    running: bool | None
    on_ac_input: bool | None
    battery_a: float | None
    phase: ChargePhase | None

    @property
    def charging(self) -> bool:
        return self.battery_a is not None and self.battery_a > BATTERY_ACTIVE_MIN_A

    @property
    def discharging(self) -> bool:
        return self.battery_a is not None and self.battery_a < -BATTERY_ACTIVE_MIN_A

    @property
    def phase_state(self) -> VebusState | None:
        return PHASES[self.phase][0] if self.phase is not None else None


#: First matching rule decides ``/State``. ``None`` as the result means "invalid".
STATE_RULES: tuple[tuple[Callable[[StateFacts], bool], Callable[[StateFacts], Any]], ...] = (
    (lambda s: s.failed, lambda s: VebusState.FAULT),
    (lambda s: s.running is None, lambda s: None),
    (lambda s: not s.running, lambda s: VebusState.OFF),
    (lambda s: s.on_ac_input is None, lambda s: None),
    # Off grid the SI forms the grid: a Multi shows Inverting, also while AC-coupled PV charges.
    (lambda s: not s.on_ac_input, lambda s: VebusState.INVERTING),
    # On grid and discharging: self-consumption; a Multi in ESS shows Inverting too.
    (lambda s: s.discharging, lambda s: VebusState.INVERTING),
    (lambda s: s.phase_state is not None, lambda s: s.phase_state),
    (lambda s: s.charging, lambda s: VebusState.BULK),
    (lambda s: True, lambda s: VebusState.PASSTHRU),
)


def state_facts(si: Fresh, phase: ChargePhase | None) -> StateFacts:
    failed = si.si_status is not None and si.si_status.operating_state == f.OperatingState.FAILURE
    running: bool | None = None
    if si.output_voltage is not None:
        running = any(
            (v := _line(si.output_voltage, n, "v")) is not None and v >= AC_PRESENT_MIN_V
            for n in LINES
        )
    return StateFacts(failed, running, ac_input_connected(si), battery_current_a(si), phase)


def vebus_state(facts: StateFacts) -> int | None:
    for matches, result in STATE_RULES:
        if matches(facts):
            state = result(facts)
            return None if state is None else int(state)
    raise AssertionError("the last rule always matches")  # pragma: no cover


def charge_state(phase: ChargePhase | None) -> int | None:
    return None if phase is None else int(PHASES[phase][1])


#: 0x35A condition (as named in the IPC contract) → the Victron alarm it raises.
CONDITION_ALARMS: Mapping[str, str] = {
    "low_voltage": "LowBattery",
    "high_voltage": "HighDcVoltage",
    "high_current": "HighDcCurrent",
    "high_charge_current": "HighDcCurrent",
    "high_temperature": "HighTemperature",
    "high_temperature_charge": "HighTemperature",
}
#: Conditions with no Victron alarm of their own.
OTHER_CONDITIONS_ALARM = "BmsPreAlarm"
BMS_ALARMS: tuple[str, ...] = (
    "LowBattery",
    "HighDcVoltage",
    "HighDcCurrent",
    "HighTemperature",
    "BmsPreAlarm",
)
#: The gateway's command source → /Alarms/BmsConnectionLost.
COMMAND_SOURCE_ALARM: Mapping[str, AlarmLevel] = {
    "controller": AlarmLevel.OK,
    "persisted": AlarmLevel.OK,
    "cold_start": AlarmLevel.WARNING,
    "stale": AlarmLevel.ALARM,
}


def bms_alarm_values(
    conditions: Conditions | None, command_source: str | None
) -> dict[str, int | None]:
    """Alarms from the BMS side: the conditions raised (by the controller, or by the gateway
    on its own) and whether the gateway still hears the controller."""
    values: dict[str, int | None] = {f"/Alarms/{name}": None for name in BMS_ALARMS}
    if conditions is not None:
        levels = dict.fromkeys(BMS_ALARMS, AlarmLevel.OK)
        for raised, level in (
            (conditions.warnings, AlarmLevel.WARNING),
            (conditions.alarms, AlarmLevel.ALARM),
        ):
            for condition in raised:
                name = CONDITION_ALARMS.get(condition, OTHER_CONDITIONS_ALARM)
                levels[name] = max(levels[name], level)
        values = {f"/Alarms/{name}": int(level) for name, level in levels.items()}
    lost = None
    if command_source is not None:
        lost = int(COMMAND_SOURCE_ALARM.get(command_source, AlarmLevel.ALARM))
    values["/Alarms/BmsConnectionLost"] = lost
    return values


def overload_alarm(si: Fresh) -> int | None:
    if si.relay_status is None:
        return None
    overload = f.FunctionBits2.OVERLOAD in si.relay_status.functions2
    return int(AlarmLevel.ALARM if overload else AlarmLevel.OK)


LedRule = Callable[[Mapping[str, Any], bool | None], int | None]


def _led_on(path: str, wanted: Iterable[int]) -> LedRule:
    targets = frozenset(wanted)

    def led(values: Mapping[str, Any], _ac2_valid: bool | None) -> int | None:
        value = values.get(path)
        return None if value is None else int(Led.ON if value in targets else Led.OFF)

    return led


def _led_alarm(path: str) -> LedRule:
    by_level = {AlarmLevel.OK: Led.OFF, AlarmLevel.WARNING: Led.BLINK, AlarmLevel.ALARM: Led.ON}

    def led(values: Mapping[str, Any], _ac2_valid: bool | None) -> int | None:
        value = values.get(path)
        return None if value is None else int(by_level[AlarmLevel(value)])

    return led


def _led_mains(values: Mapping[str, Any], ac2_valid: bool | None) -> int | None:
    """On while connected; blinking while AC2 is there but the SI has not connected yet."""
    connected = values.get("/Ac/ActiveIn/Connected")
    if connected is None:
        return None
    if connected:
        return int(Led.ON)
    return int(Led.BLINK if ac2_valid else Led.OFF)


#: ``/Leds/<name>`` from the values already computed (a Multi's front panel, in effect).
LED_RULES: Mapping[str, LedRule] = {
    "Mains": _led_mains,
    "Bulk": _led_on("/State", [VebusState.BULK]),
    "Absorption": _led_on("/State", [VebusState.ABSORPTION]),
    "Float": _led_on("/State", [VebusState.FLOAT]),
    "Inverter": _led_on("/State", [VebusState.INVERTING, VebusState.POWER_ASSIST]),
    "Overload": _led_alarm("/Alarms/Overload"),
    "LowBattery": _led_alarm("/Alarms/LowBattery"),
    "Temperature": _led_alarm("/Alarms/HighTemperature"),
}


def led_values(values: Mapping[str, Any], si: Fresh) -> dict[str, int | None]:
    ac2_valid = si.relay_status.ac2_voltage_valid if si.relay_status is not None else None
    return {f"/Leds/{name}": rule(values, ac2_valid) for name, rule in LED_RULES.items()}


class GridLostLatch:
    """``/Alarms/GridLost``: raised after AC2's "valid voltage" bit is clear in two
    consecutive 0x307 frames, cleared by the first frame with it set.

    The SI reports the grid as down for one frame during a relay transfer (SVD commit
    7266171), so one frame is not enough. Frames are told apart by their receive time: a
    snapshot that repeats last cycle's 0x307 does not count twice.
    """

    def __init__(self) -> None:
        self._last_frame_at: float | None = None
        self._lost_frames = 0

    def observe(self, received_monotonic: float, ac2_voltage_valid: bool) -> None:
        if received_monotonic == self._last_frame_at:
            return
        self._last_frame_at = received_monotonic
        self._lost_frames = 0 if ac2_voltage_valid else self._lost_frames + 1

    @property
    def level(self) -> AlarmLevel:
        return AlarmLevel.ALARM if self._lost_frames >= 2 else AlarmLevel.OK
