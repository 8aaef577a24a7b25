"""``/State`` and ``/VebusChargeState``: what a Multi would show for the SI's state. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smavenus.protocol import frames as f
from smavenus.vebus.enums import VebusChargeState, VebusState
from smavenus.vebus.inputs import (
    AC_PRESENT_MIN_V,
    ChargePhase,
    Fresh,
    ac_input_connected,
    line_value,
)
from smavenus.vebus.measurements import battery_current_a
from smavenus.vebus.paths import LINES

#: Battery current (Victron sign) beyond which the battery counts as charging/discharging.
BATTERY_ACTIVE_MIN_A = 1.0

#: phase → (/State while on an AC input, /VebusChargeState)
PHASES: Mapping[ChargePhase, tuple[VebusState, VebusChargeState]] = {
    ChargePhase.BULK: (VebusState.BULK, VebusChargeState.BULK),
    ChargePhase.ABSORPTION: (VebusState.ABSORPTION, VebusChargeState.ABSORPTION),
    ChargePhase.FLOAT: (VebusState.FLOAT, VebusChargeState.FLOAT),
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
            (v := line_value(si.output_voltage, n, "v")) is not None and v >= AC_PRESENT_MIN_V
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
