"""The SI's status frames 0x300-0x30A, built from the model's state with the protocol codec.

Values go through :func:`smavenus.protocol.encode`, so they carry exactly the SI's resolution
(100 W, 100 var, 0.1 V, 0.1 A, 0.01 Hz, 0.1 %). Lines the cluster does not have are sent as 0.
Measurement noise comes from the simulation's seeded generator, drawn in a fixed order, so the
same seed and the same inputs give the same bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smavenus.protocol import (
    BatteryStatus,
    ExternalPower,
    ExternalReactivePower,
    ExternalVoltage,
    FunctionBits1,
    FunctionBits2,
    InverterPower,
    InverterReactivePower,
    OperatingState,
    OutputVoltage,
    PowerSummary,
    RelayBits,
    RelayStatus,
    SiStatus,
    TotalLoad,
    encode,
)
from smavenus.protocol.frames import CHARGING_PROCEDURE_EXTERNAL_BMS
from smavenus.sim.power import Flow
from smavenus.sim.si import SunnyIsland

#: Noise standard deviations at ``noise = 1``.
SIGMA = {
    "power_w": 15.0,
    "ac_voltage_v": 0.3,
    "frequency_hz": 0.005,
    "battery_voltage_v": 0.02,
    "battery_current_a": 0.1,
    "temperature_c": 0.05,
}
#: Output voltage sags this fraction of nominal at a unit's rated power (off grid).
VOLTAGE_DROOP = 0.02


class Noise:
    """Seeded Gaussian noise; ``scale = 0`` draws nothing (and so changes nothing)."""

    def __init__(self, seed: str, scale: float) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - simulation noise, not security
        self.scale = scale

    def __call__(self, kind: str) -> float:
        if self.scale == 0:
            return 0.0
        return self.rng.gauss(0.0, SIGMA[kind] * self.scale)


@dataclass(frozen=True, slots=True)
class AcState:
    """What the SI measures on its AC sides at the moment of sending."""

    output_v: tuple[float, ...]
    output_hz: float
    ac2_v: tuple[float, ...]
    ac2_hz: float


def ac_state(si: SunnyIsland, flow: Flow, ac2_voltage_v: float, ac2_frequency_hz: float) -> AcState:
    cfg = si.cfg
    lines = cfg.lines
    ac2_v = (ac2_voltage_v,) * lines if si.ac2.live else (0.0,) * lines
    ac2_hz = ac2_frequency_hz if si.ac2.live else 0.0
    if not si.operating:
        return AcState((0.0,) * lines, 0.0, ac2_v, ac2_hz)
    if si.relay_closed:
        return AcState(ac2_v, ac2_hz, ac2_v, ac2_hz)
    output = tuple(
        cfg.nominal_voltage_v * (1.0 - VOLTAGE_DROOP * min(abs(p) / cfg.unit_power_w, 2.0))
        for p in flow.inverter_w
    )
    return AcState(output, cfg.nominal_frequency_hz + flow.frequency_shift_hz, ac2_v, ac2_hz)


def _three(values: tuple[float, ...], noisy: Callable[[float], float]) -> tuple[float, ...]:
    padded = [noisy(v) for v in values] + [0.0] * (3 - len(values))
    return tuple(padded[:3])


def status_frames(
    si: SunnyIsland,
    flow: Flow,
    ac: AcState,
    *,
    battery_v: float,
    battery_temperature_c: float,
    power_factor: float,
    noise: Noise,
    drop_probability: float,
    rng: random.Random,
) -> list[tuple[int, bytes]]:
    """One cycle of SI frames, in ID order, minus any left out this cycle."""

    def power(value: float) -> float:
        return value + noise("power_w") if value else 0.0

    def volts(value: float) -> float:
        return value + noise("ac_voltage_v") if value else 0.0

    def hertz(value: float) -> float:
        return value + noise("frequency_hz") if value else 0.0

    tan_phi = math.tan(math.acos(power_factor))
    load_var = tuple(w * tan_phi for w in flow.load_served_w)
    on_grid = si.relay_closed
    ext_var = load_var if on_grid else (0.0,) * len(load_var)
    inv_var = (0.0,) * len(load_var) if on_grid else load_var
    ext_w, inv_w = _three(flow.external_w, power), _three(flow.inverter_w, power)
    output_w = sum(flow.external_w) + sum(flow.inverter_w)
    out_v, ac2_v = _three(ac.output_v, volts), _three(ac.ac2_v, volts)
    pv_w = sum(flow.pv_ac_used_w) + flow.pv_dc_used_a * battery_v
    grid_w = sum(flow.external_w)

    state = OperatingState.NONE
    if si.failure:
        state = OperatingState.FAILURE
    elif si.operating:
        state = OperatingState.WARNING if si.has_warning() else OperatingState.OPERATING
    functions1 = FunctionBits1(0)
    for bit, active in (
        (FunctionBits1.EXT_VF_OK, si.ac2_valid),
        (FunctionBits1.GD_ON, si.relay_closed),
        (FunctionBits1.RUN, si.operating),
        (FunctionBits1.ERROR, si.failure),
    ):
        if active:
            functions1 |= bit
    functions2 = FunctionBits2(0)
    overload = any(abs(p) > si.cfg.unit_power_w for p in flow.inverter_w)
    for bit2, active in (
        (FunctionBits2.OVERLOAD, overload),
        (FunctionBits2.EXT_SRC_CONN, si.relay_closed),
    ):
        if active:
            functions2 |= bit2
    relays = RelayBits.GN_RN if si.requested and si.grid_cfg.kind == "generator" else RelayBits(0)

    frames: list[Any] = [
        ExternalPower(*ext_w),
        InverterPower(*inv_w),
        ExternalReactivePower(*_three(ext_var, power)),
        InverterReactivePower(*_three(inv_var, power)),
        OutputVoltage(out_v[0], out_v[1], out_v[2], hertz(ac.output_hz)),
        BatteryStatus(
            voltage_v=battery_v + noise("battery_voltage_v"),
            current_a=-flow.si_dc_current_a + noise("battery_current_a"),
            temperature_c=battery_temperature_c + noise("temperature_c"),
            soc_pct=si.soc_in_use_pct,
        ),
        SiStatus(
            soh_pct=si.bms["soh_pct"],
            charging_procedure=CHARGING_PROCEDURE_EXTERNAL_BMS,
            operating_state=int(state),
            error_number=si.error_number(),
            charge_voltage_setpoint_v=si.limit("charge_voltage_v"),
        ),
        RelayStatus(relays, functions1, functions2, 0),
        TotalLoad(power(output_w)),
        ExternalVoltage(ac2_v[0], ac2_v[1], ac2_v[2], hertz(ac.ac2_hz)),
        PowerSummary(power(pv_w), power(max(grid_w, 0.0)), power(max(-grid_w, 0.0))),
    ]
    encoded = [encode(frame) for frame in frames]
    if drop_probability > 0:
        encoded = [f for f in encoded if rng.random() >= drop_probability]
    return encoded
