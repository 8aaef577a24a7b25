"""A restarted controller continues where the last one stopped, it does not start over.

* :func:`saved_state` — what survives a restart: latched protections (and the SMA alarms
  they raise), the sensor-disagreement latch, what was learnt about the installation (cell
  voltages and a temperature are published; which BMS belongs here and its last charge
  voltage), the charge state and the time in it, the last full charge;
* :func:`restore` — taken over at start: protections latched before stay latched (an alarm
  is held again in full), the learnt facts stay learnt, and the charge state is resumed when
  the file is younger than :data:`~smavenus.controller.state.CHARGE_STATE_MAX_AGE_S`;
* :func:`seed_limits` — the first command starts from the limits the gateway is sending now,
  so nothing jumps: a tighter limit still applies at once, a looser one ramps as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smavenus.controller import limits as lim
from smavenus.controller.charger import ChargeState
from smavenus.controller.protections import LatchedRule
from smavenus.controller.state import CHARGE_STATE_MAX_AGE_S, ControllerState, LatchedProtection
from smavenus.events import LogEvent

if TYPE_CHECKING:
    from smavenus.controller.controller import ChargeController


def saved_state(c: ChargeController, now: float, now_unix: float) -> ControllerState:
    return ControllerState(
        last_full_charge_unix=c.last_full_charge_unix,
        saved_unix=now_unix,
        charge_state=c.charger.state.value,
        charge_state_since_unix=now_unix - (now - c.charger.since),
        protections=tuple(
            LatchedProtection(name=r.name, level=2 if r.level == 2 else 1, since_unix=r.since_unix)
            for r in c.protections.latched(now, now_unix)
        ),
        sensor_disagreement=c.disagreement.latched,
        cells_seen=c.sources.cells_seen,
        bms_service=c.presence.seen_service,
        bms_last_charge_voltage_v=c.presence.last_cvl_v,
        toml_settings=dict(c.toml_settings),
    )


def same_state(a: ControllerState, b: ControllerState) -> bool:
    """Equal but for the time of saving and the drift of the time-in-state stamp."""
    ignore = {"saved_unix", "charge_state_since_unix", "protections"}
    if a.model_dump(exclude=ignore) != b.model_dump(exclude=ignore):
        return False
    if a.charge_state_since_unix is None or b.charge_state_since_unix is None:
        return a.charge_state_since_unix == b.charge_state_since_unix
    key = [(p.name, p.level) for p in a.protections] == [(p.name, p.level) for p in b.protections]
    return key and abs(a.charge_state_since_unix - b.charge_state_since_unix) < 1.0


def restore(
    c: ChargeController, state: ControllerState, now: float, now_unix: float
) -> list[LogEvent]:
    events: list[LogEvent] = []
    c.last_full_charge_unix = state.last_full_charge_unix
    c.sources.cells_seen = state.cells_seen
    if state.bms_service is not None:
        c.presence.seen_service = state.bms_service
        c.presence.last_cvl_v = state.bms_last_charge_voltage_v
        c.presence.lost_since = c.started_at  # not fresh yet: lost unless it answers in time
    restored = c.protections.restore(
        (LatchedRule(p.name, p.level, p.since_unix) for p in state.protections), now, now_unix
    )
    if state.sensor_disagreement:
        c.disagreement.latched, c.disagreement.pair = True, "before the restart"
    age = None if state.saved_unix is None else now_unix - state.saved_unix
    resumed = None
    if (
        state.charge_state is not None
        and state.charge_state_since_unix is not None
        and age is not None
        and 0.0 <= age <= CHARGE_STATE_MAX_AGE_S
    ):
        c.charger.state = ChargeState(state.charge_state)
        c.charger.since = now - max(now_unix - state.charge_state_since_unix, 0.0)
        c.charger.reason = "resumed"
        resumed = state.charge_state
    c.toml_settings = dict(state.toml_settings)
    events.append(
        LogEvent("controller_state_restored", "info" if not restored else "warning",
                 {"latched": restored, "sensor_disagreement": state.sensor_disagreement,
                  "charge_state": resumed, "saved_s_ago": None if age is None else round(age),
                  "bms_service": state.bms_service})
    )  # fmt: skip
    return events


def seed_limits(
    c: ChargeController, *, charge_voltage_v: float, charge_current_a: float,
    discharge_current_a: float, discharge_voltage_v: float,
) -> None:  # fmt: skip
    """The limits the gateway sends now, as if this controller had sent them last."""
    why = "sent by the gateway at start"
    c.shaper.sent = lim.Limits(
        lim.Limit(charge_voltage_v, why), lim.Limit(charge_current_a, why),
        lim.Limit(discharge_current_a, why), lim.Limit(discharge_voltage_v, why),
    )  # fmt: skip
    # The regulator continues from the current being allowed, not from zero or the maximum.
    c.planner.regulator.reset(charge_current_a)
