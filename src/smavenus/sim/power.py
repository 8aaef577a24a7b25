"""Where the power goes in one step: loads, PV, grid, the SI's converter and the battery.

One pure function, :func:`power_flow`. Signs: battery and SI DC currents are **positive while
charging** (Victron's sign; the 0x305 frame negates the SI's own current); inverter power is
positive when the SI delivers to AC1; external power is positive when taken from AC2.

The rules (SMA-TI §4.2/§5.3, as this model reads them):

* charging is limited by the applied CCL and by CVL: the current never exceeds the one that
  brings the terminal voltage to CVL. If CVL is **below** the battery's voltage that current is
  negative and the SI discharges the battery towards CVL, ignoring DCL;
* off grid the loads come first (DCL is ignored); surplus PV charges the battery within the
  limits and the rest is curtailed: DC-coupled PV directly, AC-coupled PV by raising the output
  frequency (SMA's frequency-shift power control);
* on grid the SI charges at the limit (backup mode) or, with self-consumption enabled, covers
  the loads from the battery up to DCL; the grid supplies or takes the difference.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowInputs:
    operating: bool
    on_grid: bool
    load_w: tuple[float, ...]
    pv_ac_w: tuple[float, ...]
    pv_dc_a: float
    ocv_v: float
    resistance_ohm: float
    charge_limit_a: float  #: the applied CCL (already capped by the units' charger rating)
    charge_voltage_v: float  #: CVL
    discharge_limit_a: float  #: DCL (observed on grid only)
    efficiency: float
    idle_w: float
    max_ac_power_w: float
    self_consumption: bool  #: and the SoC allows discharging
    fspc_max_shift_hz: float


@dataclass(frozen=True, slots=True)
class Flow:
    battery_current_a: float  #: + charging; what a shunt sees (includes DC-coupled PV)
    si_dc_current_a: float  #: + charging; the SI's own DC current
    pv_dc_used_a: float
    inverter_w: tuple[float, ...]  #: per line, + delivering to AC1
    external_w: tuple[float, ...]  #: per line, + taken from AC2
    pv_ac_used_w: tuple[float, ...]
    load_served_w: tuple[float, ...]
    frequency_shift_hz: float  #: off-grid curtailment of AC-coupled PV


def stopped_flow(lines: int) -> Flow:
    zeros = (0.0,) * lines
    return Flow(0.0, 0.0, 0.0, zeros, zeros, zeros, zeros, 0.0)


def power_flow(x: FlowInputs) -> Flow:
    lines = len(x.load_w)
    if not x.operating:
        return stopped_flow(lines)
    volts = max(x.ocv_v, 1.0)
    eff = x.efficiency

    def ac_to_dc_a(ac_in_w: float) -> float:
        """AC power the SI takes from AC1 (+) or gives (−) → DC current into the battery."""
        return ac_in_w * eff / volts if ac_in_w > 0 else ac_in_w / eff / volts

    def dc_to_ac_w(dc_a: float) -> float:
        """The inverse of :func:`ac_to_dc_a`."""
        return dc_a * volts / eff if dc_a > 0 else dc_a * volts * eff

    idle_a = x.idle_w / volts
    cv_current_a = (x.charge_voltage_v - x.ocv_v) / max(x.resistance_ohm, 1e-6)
    charge_max_a = min(x.charge_limit_a, cv_current_a)  # < 0: discharge towards CVL
    pv_ac = list(x.pv_ac_w)
    pv_dc_used = x.pv_dc_a
    shift_hz = 0.0

    if not x.on_grid:
        net_ac_w = sum(x.load_w) - sum(pv_ac)
        natural_a = ac_to_dc_a(-net_ac_w) - idle_a + pv_dc_used
        upper_a = max(charge_max_a, 0.0)
        if natural_a > upper_a:
            excess_a = natural_a - upper_a
            cut_dc = min(pv_dc_used, excess_a)
            pv_dc_used -= cut_dc
            excess_a -= cut_dc
            total_ac = sum(pv_ac)
            if excess_a > 0 and total_ac > 0:
                cut_ac_w = min(excess_a * volts / eff, total_ac)
                scale = (total_ac - cut_ac_w) / total_ac
                pv_ac = [p * scale for p in pv_ac]
                shift_hz = x.fspc_max_shift_hz * cut_ac_w / total_ac
        inverter = tuple(load - pv for load, pv in zip(x.load_w, pv_ac, strict=True))
        si_dc = ac_to_dc_a(-sum(inverter)) - idle_a
        return Flow(
            battery_current_a=si_dc + pv_dc_used,
            si_dc_current_a=si_dc,
            pv_dc_used_a=pv_dc_used,
            inverter_w=inverter,
            external_w=(0.0,) * lines,
            pv_ac_used_w=tuple(pv_ac),
            load_served_w=tuple(x.load_w),
            frequency_shift_hz=shift_hz,
        )

    net_ac_w = sum(x.load_w) - sum(pv_ac)
    if x.self_consumption:
        natural_a = ac_to_dc_a(-net_ac_w) - idle_a + pv_dc_used
        target_a = min(max(natural_a, -x.discharge_limit_a), charge_max_a)
    else:
        target_a = charge_max_a
    charge_cap_a = x.max_ac_power_w * eff / volts
    invert_cap_a = x.max_ac_power_w / eff / volts
    si_dc = min(max(target_a - pv_dc_used, -invert_cap_a), charge_cap_a)
    battery_a = si_dc + pv_dc_used
    if battery_a > max(charge_max_a, 0.0):  # DC PV the SI cannot pass on: curtail it
        cut = min(pv_dc_used, battery_a - max(charge_max_a, 0.0))
        pv_dc_used -= cut
        battery_a -= cut
    si_ac_in_w = dc_to_ac_w(si_dc + idle_a)
    inverter = tuple(-si_ac_in_w / lines for _ in range(lines))
    external = tuple(
        load - pv - inv for load, pv, inv in zip(x.load_w, pv_ac, inverter, strict=True)
    )
    return Flow(
        battery_current_a=battery_a,
        si_dc_current_a=si_dc,
        pv_dc_used_a=pv_dc_used,
        inverter_w=inverter,
        external_w=external,
        pv_ac_used_w=tuple(pv_ac),
        load_served_w=tuple(x.load_w),
        frequency_shift_hz=0.0,
    )
