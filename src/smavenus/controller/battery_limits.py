"""The battery's own word and DVCC's: ceilings on our limits, permissions, and the BMS's absence.

Rules R1–R16 of ``../shared/reference/battery-bms-and-dvcc.md``, with one deliberate
difference: where the reference prefers DVCC's charge current over the BMS's own (to keep
Victron's vendor quirks, which *raise* a BMS's 0 A to 40 A or C/4 for some batteries), we
take the **smaller** of the two. smavenus promises never to ask for more than the battery
allows; the battery's own ``/Info/MaxChargeCurrent`` is that allowance.

Every candidate is used only while its source is fresh:

* **the BMS** (``/ActiveBmsService`` or ``[controller] bms_service``): connected, a valid
  ``/Info/MaxChargeVoltage`` (what makes a battery service a BMS for Victron), a valid pack
  voltage, at least one module online, updated within ``input_max_age_s``, not frozen;
* **DVCC's writes** into our vebus service: only while system ``/Control/Dvcc`` is 1, each
  only while younger than ``bol_max_age_s``; ``/Dc/0/MaxChargeCurrent`` (no BMS) stays in
  force while DVCC is on (DVCC writes it once when the user removes the limit);
* **the user's DVCC settings**: only while DVCC is on.

A BMS charge limit is for the whole battery: the other chargers' share (DC-coupled MPPTs,
measured as the battery current minus the SI's, filtered) is taken off before it becomes the
SI's ceiling. A candidate outside SMA's ranges is refused and means "no charging", never a
bigger limit (dbus-serialbattery has published 655.34 V there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.inputs import (
    BmsSample,
    DvccWrite,
    DvccWrites,
    SystemSample,
    UserDvccLimits,
    is_fresh,
)
from smavenus.controller.limits import (
    SMA_CVL_MAX_V,
    SMA_CVL_MIN_V,
    SMA_DVL_MAX_V,
    SMA_DVL_MIN_V,
    Limit,
)
from smavenus.events import LogEvent

#: SMA's ranges of 0x351's voltages.
CVL_RANGE_V = (SMA_CVL_MIN_V, SMA_CVL_MAX_V)
DVL_RANGE_V = (SMA_DVL_MIN_V, SMA_DVL_MAX_V)
#: A DVCC /Dc/0/MaxChargeCurrent at or above this means "no limit" (systemcalc writes 10000).
NO_LIMIT_A = 10000.0
#: DVCC sends 0 instead of anything at or below 1 A (dvcc.py).
DVCC_ZERO_BELOW_A = 1.0
#: Time constant of the other chargers' current filter (DVCC's own is about 3 s).
OTHER_CHARGERS_FILTER_S = 3.0


#: A limit a source asks for, named by the source (``bms_info``, ``dvcc``, ``user_dvcc_limit``).
Ceiling = Limit


@dataclass(frozen=True, slots=True)
class BatteryWord:
    """Everything the BMS and DVCC say this cycle, as ceilings and permissions."""

    charge_voltage_v: Ceiling | None = None  #: the smallest fresh CVL (plausible)
    charge_current_a: Ceiling | None = None  #: the smallest fresh CCL, our share
    discharge_current_a: Ceiling | None = None  #: the smallest fresh DCL
    discharge_voltage_v: Ceiling | None = None  #: the largest fresh DVL (a floor)
    charge_blocked: str | None = None
    discharge_blocked: str | None = None
    charge_request: bool = False
    dvl_above_sma_range: bool = False
    bms_fresh: bool = False
    dvcc_on: bool = False
    #: Every candidate by limit and source, for the status (what each source says).
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)


def usable_bms(bms: BmsSample | None, now: float, cfg: AppConfig) -> BmsSample | None:
    """R2: the BMS sample if it counts as a fresh BMS this cycle, else ``None``."""
    if bms is None or not bms.connected:
        return None
    if not is_fresh(bms.updated_at, now, cfg.controller.input_max_age_s):
        return None
    if bms.max_charge_voltage_v is None or bms.voltage_v is None:
        return None
    if bms.modules_online is not None and bms.modules_online < 1:
        return None
    return bms


@dataclass
class OtherChargers:
    """The other chargers' current into the battery (A, ≥ 0), low-pass filtered."""

    value_a: float = 0.0
    _last: float | None = None

    def update(self, battery_a: float | None, si_a: float | None, now: float) -> float:
        if battery_a is None or si_a is None:
            return self.value_a  # the last estimate stays (it only ever subtracts)
        dt = 0.0 if self._last is None else min(max(now - self._last, 0.0), 10.0)
        self._last = now
        target = max(battery_a - si_a, 0.0)
        alpha = (
            1.0
            if dt == 0.0 and self.value_a == 0.0
            else 1.0 - math.exp(-dt / OTHER_CHARGERS_FILTER_S)
        )
        self.value_a += (target - self.value_a) * alpha
        return self.value_a


def _fresh_write(write: DvccWrite | None, now: float, cfg: AppConfig) -> float | None:
    if write is None or write.value is None:
        return None
    if not is_fresh(write.written_at, now, cfg.controller.bol_max_age_s):
        return None
    return write.value if math.isfinite(write.value) else None


@dataclass(frozen=True, slots=True)
class Said:
    """What the battery's side says this cycle (the BMS only if usable, see :func:`usable_bms`)."""

    bms: BmsSample | None
    dvcc: DvccWrites
    system: SystemSample | None
    user: UserDvccLimits
    other_chargers_a: float = 0.0


Candidates = dict[str, dict[str, float]]


def dvcc_is_on(said: Said, now: float, cfg: AppConfig) -> bool:
    system = said.system
    return (
        system is not None
        and system.dvcc_on is True
        and is_fresh(system.updated_at, now, cfg.controller.input_max_age_s)
    )


def candidates(said: Said, now: float, cfg: AppConfig) -> Candidates:
    """Every fresh limit by limit name and source (before plausibility)."""
    out: Candidates = {
        "charge_voltage_v": {}, "charge_current_a": {},
        "discharge_current_a": {}, "discharge_voltage_v": {},
    }  # fmt: skip
    bms = said.bms
    if bms is not None:
        for limit, value in (
            ("charge_voltage_v", bms.max_charge_voltage_v),
            ("charge_current_a", None if bms.max_charge_current_a is None
             else bms.max_charge_current_a - said.other_chargers_a),
            ("discharge_current_a", bms.max_discharge_current_a),
            ("discharge_voltage_v", bms.battery_low_voltage_v),
        ):  # fmt: skip
            if value is not None:
                out[limit]["bms_info"] = value
    if dvcc_is_on(said, now, cfg):
        _dvcc_candidates(said, now, cfg, out)
    return out


def _dvcc_candidates(said: Said, now: float, cfg: AppConfig, out: Candidates) -> None:
    dvcc, user = said.dvcc, said.user
    for limit, write in (
        ("charge_voltage_v", dvcc.max_charge_voltage_v),
        ("charge_current_a", dvcc.max_charge_current_a),
        ("discharge_current_a", dvcc.max_discharge_current_a),
        ("discharge_voltage_v", dvcc.battery_low_voltage_v),
    ):
        value = _fresh_write(write, now, cfg)
        if value is not None:
            out[limit]["dvcc"] = value
    user_a = user.max_charge_current_a
    if said.bms is not None:
        # With a BMS, DVCC's own current already holds the user's limit; while it is stale
        # the user's limit applies by itself (reference R9.2).
        if user.max_charge_voltage_v is not None and user.max_charge_voltage_v > 0:
            out["charge_voltage_v"]["user_dvcc_limit"] = user.max_charge_voltage_v
        if user_a is not None and user_a >= 0 and "dvcc" not in out["charge_current_a"]:
            out["charge_current_a"]["user_dvcc_limit"] = user_a - said.other_chargers_a
        return
    # No BMS: DVCC limits the charger through /Dc/0/MaxChargeCurrent, in force while on.
    write = dvcc.dc_max_charge_current_a
    value = None if write is None else write.value
    if value is not None and math.isfinite(value):
        if value < NO_LIMIT_A:
            out["charge_current_a"]["dvcc_charger"] = 0.0 if value <= DVCC_ZERO_BELOW_A else value
    elif user_a is not None and user_a >= 0:
        out["charge_current_a"]["user_dvcc_limit"] = user_a - said.other_chargers_a


def _permissions(bms: BmsSample | None) -> tuple[str | None, str | None]:
    """(why charging is forbidden, why discharging is) by the BMS, or None."""
    if bms is None:
        return None, None
    charge = discharge = None
    if bms.allow_to_charge is False:
        charge = "the BMS's AllowToCharge is 0"
    elif bms.max_charge_current_a is not None and bms.max_charge_current_a <= 0:
        charge = "the BMS's charge current limit is 0"
    if bms.allow_to_discharge is False:
        discharge = "the BMS's AllowToDischarge is 0"
    elif bms.max_discharge_current_a is not None and bms.max_discharge_current_a <= 0:
        discharge = "the BMS's discharge current limit is 0"
    return charge, discharge


@dataclass
class LimitJudge:
    """Combines the candidates each cycle and logs each refusal once (per source and value)."""

    refused: dict[str, float] = field(default_factory=dict)

    def judge(self, said: Said, now: float, cfg: AppConfig, events: list[LogEvent]) -> BatteryWord:
        found = candidates(said, now, cfg)
        cvl, dvl = found["charge_voltage_v"], found["discharge_voltage_v"]
        blocked = self._implausible_cvl(cvl, cfg, events)
        cvl_ceiling = _extreme(cvl, min)
        self._implausible_dvl(dvl, events)
        # Our share can fall below zero (the other chargers use it all): 0 A, not a refusal.
        ccl = {k: max(v, 0.0) for k, v in found["charge_current_a"].items()}
        dcl = {k: max(v, 0.0) for k, v in found["discharge_current_a"].items()}
        dvl_ceiling = _extreme(dvl, max)
        above = dvl_ceiling is not None and dvl_ceiling.value > DVL_RANGE_V[1]
        if dvl_ceiling is not None and above:
            dvl_ceiling = Ceiling(DVL_RANGE_V[1], f"{dvl_ceiling.reason}, at SMA's maximum")
        charge_blocked, discharge_blocked = _permissions(said.bms)
        if discharge_blocked is not None:
            dcl["bms_allow_to_discharge"] = 0.0
        return BatteryWord(
            charge_voltage_v=cvl_ceiling,
            charge_current_a=_extreme(ccl, min),
            discharge_current_a=_extreme(dcl, min),
            discharge_voltage_v=dvl_ceiling,
            charge_blocked=charge_blocked or (blocked[0] if blocked else None),
            discharge_blocked=discharge_blocked,
            charge_request=said.bms is not None and said.bms.charge_request is True,
            dvl_above_sma_range=above,
            bms_fresh=said.bms is not None,
            dvcc_on=dvcc_is_on(said, now, cfg),
            candidates={"charge_voltage_v": cvl, "charge_current_a": ccl,
                        "discharge_current_a": dcl, "discharge_voltage_v": dvl},
        )  # fmt: skip

    def _implausible_cvl(
        self, cvl: dict[str, float], cfg: AppConfig, events: list[LogEvent]
    ) -> list[str]:
        """Removes the charge voltages SMA cannot carry or at/below the floor; says why."""
        low, high = CVL_RANGE_V
        reasons = []
        for source, value in list(cvl.items()):
            if not low <= value <= high or value <= cfg.battery.min_discharge_voltage_v:
                self._refuse(f"cvl:{source}", value, "charge_voltage_v", events)
                reasons.append(f"implausible charge voltage from {source}: {value} V")
                del cvl[source]
        return reasons

    def _implausible_dvl(self, dvl: dict[str, float], events: list[LogEvent]) -> None:
        """Removes discharge voltages no pack can have (SMA's voltage range: 41–63 V).

        Unlike the reference (R11), a discharge voltage close to or above the charge voltage
        is *kept*: it contradicts the CVL, but taking it can only stop discharging sooner.
        """
        low, high = CVL_RANGE_V
        for source, value in list(dvl.items()):
            if not low <= value <= high:
                self._refuse(f"dvl:{source}", value, "discharge_voltage_v", events)
                del dvl[source]

    def _refuse(self, key: str, value: float, limit: str, events: list[LogEvent]) -> None:
        if self.refused.get(key) == value:
            return
        self.refused[key] = value
        source = key.split(":", 1)[1]
        events.append(
            LogEvent("bms_limit_rejected", "warning",
                     {"limit": limit, "source": source, "value": value,
                      "why": "outside SMA's range or inconsistent: not used"})
        )  # fmt: skip


def _extreme(found: dict[str, float], pick: Callable[..., str]) -> Ceiling | None:
    """The smallest (``min``) or largest (``max``) candidate, named by its source."""
    if not found:
        return None
    source = pick(found, key=lambda k: found[k])
    return Ceiling(found[source], source)
