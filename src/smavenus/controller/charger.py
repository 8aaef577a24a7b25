"""The charge stages as a table, and the PI regulator that shapes the charge current.

Theory of operation
-------------------

In LiIon_Ext-BMS mode the Sunny Island has no charge algorithm of its own: it charges at up
to the charge current limit (CCL) we send. So the controller *is* the charger. It has three
states and moves between them only along the rows of :data:`TRANSITIONS`; each row names a
condition, and a condition may have to hold for a while (``hold``) before it fires:

========== ============================ ============ =====================================
from       condition                    to           notes
========== ============================ ============ =====================================
bulk       absorption_voltage_reached   absorption   the regulator shapes the current near
                                                     the pack's (or highest cell's) target
absorption voltage_below_rebulk         bulk         held ``rebulk_delay_s``
absorption tail_current                 float        pack at target, current ≤ tail, held
absorption absorption_time_up           float        ``absorption_max_s`` on the monotonic
float      voltage_below_rebulk         bulk         held ``rebulk_delay_s``
float      full_charge_due              bulk         every ``full_charge_interval_days``
========== ============================ ============ =====================================

Rows are tried in order; the first that fires wins. Conditions that need the battery
monitor's precision (reaching absorption, tail current) do not fire while the controller
runs on the SI's own measurements: it then only leaves a state on timers and rebulk.

**The regulator** is one PI controller on the charge current, active in every state. Its
error is the room left below the state's target: ``target − V`` for the pack (absorption
voltage in bulk and absorption, float voltage in float) and, when the monitor publishes cell
voltages, ``cells × (cell_regulate_voltage_v − highest cell)``; the smaller wins, so a runner
cell is held as well as the pack. Far below the target the PI sits at the bulk current (bulk
*is* the regulator saturated), so the SI may charge at full current the moment a source
appears. Gains are per Ah of capacity: a bank's resistance scales with 1/capacity, so
``kp × capacity × R`` — the loop gain — is the same for any bank.

Anti-windup: the integral is clamped to ``[0, max]`` and does not integrate further into a
saturated output; and near the target (within :data:`TRACKING_BAND_V_PER_CELL`) it may not
run more than a small headroom above the current the SI actually delivers, so a limit the
SI is not using (loads took the power, the sun went behind a cloud) cannot build up and
overshoot the voltage when the current comes back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.controller.sources import Measurements
from smavenus.events import LogEvent

#: bulk → absorption once the error is this small (per cell: 0.08 V for 16 cells).
AT_TARGET_BAND_V_PER_CELL = 0.005
#: Tracking anti-windup engages this close to the target (0.32 V for 16 cells).
TRACKING_BAND_V_PER_CELL = 0.02
#: How far the integral may run above the delivered current, as a C-rate (5.6 A at 280 Ah).
TRACKING_HEADROOM_C = 0.02
MIN_TRACKING_HEADROOM_A = 1.0
SECONDS_PER_DAY = 86400.0


class ChargeState(enum.Enum):
    BULK = "bulk"
    ABSORPTION = "absorption"
    FLOAT = "float"


@dataclass(frozen=True, slots=True)
class ChargeContext:
    """What the conditions look at on one cycle."""

    now: float
    now_unix: float
    cfg: AppConfig
    m: Measurements
    #: Room below the absorption targets (pack and highest cell), in pack volts.
    error_to_absorption_v: float | None
    state_since: float
    last_full_charge_unix: float | None
    #: Last cycle the regulator held the charge current below its ceiling (it is shaping the
    #: current to the voltage: the constant-voltage phase has begun).
    regulating: bool = False

    @property
    def precise(self) -> bool:
        """Measurements from the battery monitor (not the SI's 0.1 V terminal voltage)."""
        return self.m.source == "battery_monitor"

    @property
    def at_target_band_v(self) -> float:
        return AT_TARGET_BAND_V_PER_CELL * self.cfg.battery.cell_count


@dataclass(frozen=True, slots=True)
class Condition:
    holds: Callable[[ChargeContext], bool]
    #: How long it must hold before it fires (seconds, from the configuration).
    hold_s: Callable[[AppConfig], float] = lambda cfg: 0.0


def _constant_voltage_reached(c: ChargeContext) -> bool:
    """The regulator has started to shape the current near the absorption targets."""
    band = GOVERNOR_BAND_V_PER_CELL * c.cfg.battery.cell_count
    return (
        c.precise
        and c.regulating
        and c.error_to_absorption_v is not None
        and c.error_to_absorption_v <= band
    )


def _at_absorption_target(c: ChargeContext) -> bool:
    return (
        c.precise
        and c.error_to_absorption_v is not None
        and c.error_to_absorption_v <= c.at_target_band_v
    )


def _tail_current(c: ChargeContext) -> bool:
    """Full: the *pack* is held at the absorption voltage and takes no more than the tail
    current. A runner cell held at its limit is not a full battery: absorption goes on (the
    balancer is at work) until it ends on time."""
    pack_at_target = (
        c.m.voltage_v is not None
        and c.m.voltage_v
        >= pack_target_v(ChargeState.ABSORPTION, c.cfg, degraded=False) - c.at_target_band_v
    )
    return (
        _at_absorption_target(c)
        and pack_at_target
        and c.m.current_a is not None
        and c.m.current_a <= c.cfg.controller.tail_current_a
    )


def _below_rebulk(c: ChargeContext) -> bool:
    return c.m.voltage_v is not None and c.m.voltage_v < c.cfg.controller.rebulk_voltage_v


def _absorption_time_up(c: ChargeContext) -> bool:
    return c.now - c.state_since >= c.cfg.controller.absorption_max_s


def full_charge_due(cfg: AppConfig, now_unix: float, last_full_charge_unix: float | None) -> bool:
    days = cfg.controller.full_charge_interval_days
    if days <= 0:
        return False
    if last_full_charge_unix is None:
        return True
    return now_unix - last_full_charge_unix >= days * SECONDS_PER_DAY


CONDITIONS: dict[str, Condition] = {
    "absorption_voltage_reached": Condition(_constant_voltage_reached),
    "tail_current": Condition(_tail_current, lambda cfg: cfg.controller.tail_current_hold_s),
    "absorption_time_up": Condition(_absorption_time_up),
    "voltage_below_rebulk": Condition(_below_rebulk, lambda cfg: cfg.controller.rebulk_delay_s),
    "full_charge_due": Condition(
        lambda c: full_charge_due(c.cfg, c.now_unix, c.last_full_charge_unix)
    ),
}

#: The whole state machine: for each state, the (condition, next state) rows in priority order.
TRANSITIONS: dict[ChargeState, tuple[tuple[str, ChargeState], ...]] = {
    ChargeState.BULK: (("absorption_voltage_reached", ChargeState.ABSORPTION),),
    ChargeState.ABSORPTION: (
        ("voltage_below_rebulk", ChargeState.BULK),
        ("tail_current", ChargeState.FLOAT),
        ("absorption_time_up", ChargeState.FLOAT),
    ),
    ChargeState.FLOAT: (
        ("voltage_below_rebulk", ChargeState.BULK),
        ("full_charge_due", ChargeState.BULK),
    ),
}


@dataclass
class ChargeStateMachine:
    state: ChargeState
    since: float
    reason: str = "start"
    #: When each condition started to hold continuously (for ``hold``).
    _holding_since: dict[str, float] = field(default_factory=dict)

    def step(self, ctx: ChargeContext, events: list[LogEvent]) -> str | None:
        """Fire at most one transition; return the condition that fired."""
        rows = TRANSITIONS[self.state]
        fired: tuple[str, ChargeState] | None = None
        for name, target in rows:
            condition = CONDITIONS[name]
            if not condition.holds(ctx):
                self._holding_since.pop(name, None)
                continue
            since = self._holding_since.setdefault(name, ctx.now)
            if fired is None and ctx.now - since >= condition.hold_s(ctx.cfg):
                fired = (name, target)
        if fired is None:
            return None
        name, target = fired
        events.append(
            LogEvent(
                "charge_state_changed",
                "info",
                {
                    "old": self.state.value,
                    "new": target.value,
                    "reason": name,
                    "after_s": round(ctx.now - self.since, 1),
                    "voltage_v": ctx.m.voltage_v,
                    "current_a": ctx.m.current_a,
                    "source": ctx.m.source,
                },
            )
        )
        self.state, self.since, self.reason = target, ctx.now, name
        self._holding_since.clear()
        return name

    def next_deadline(self, cfg: AppConfig) -> float | None:
        """When a condition that holds now would fire, or when absorption times out."""
        deadlines = [
            since + CONDITIONS[name].hold_s(cfg)
            for name, since in self._holding_since.items()
            if CONDITIONS[name].hold_s(cfg) > 0
        ]
        if self.state is ChargeState.ABSORPTION:
            deadlines.append(self.since + cfg.controller.absorption_max_s)
        return min(deadlines) if deadlines else None


def pack_target_v(state: ChargeState, cfg: AppConfig, degraded: bool) -> float:
    target = (
        cfg.controller.float_voltage_v
        if state is ChargeState.FLOAT
        else cfg.controller.absorption_voltage_v
    )
    if degraded:
        target = min(target, cfg.controller.float_voltage_v)
    return min(target, cfg.battery.max_charge_voltage_v)


def regulation_error_v(m: Measurements, pack_target: float, cfg: AppConfig) -> float | None:
    """Room below the targets in pack volts: the pack's or the highest cell's, the smaller."""
    if m.voltage_v is None:
        return None
    error = pack_target - m.voltage_v
    if m.max_cell_v is not None:
        cell_error = cfg.battery.cell_count * (
            cfg.controller.cell_regulate_voltage_v - m.max_cell_v
        )
        error = min(error, cell_error)
    return error


#: Lead: the regulator acts on the voltage expected this long ahead (about the SI's lag in
#: following a new limit plus one cycle), from the filtered slope of a *rising* voltage.
LEAD_S = 4.0
#: Time constant of the slope filter.
SLOPE_FILTER_S = 4.0
#: Above the target the integral runs this much faster: limits move down quickly.
DOWN_GAIN_FACTOR = 4.0
#: Approach governor: within this band below the target (per cell; 0.48 V for 16 cells) the
#: reference creeps up at GOVERNOR_RATE instead of jumping to the target, so the battery
#: enters the steep end of its curve at the current it can take, not at the bulk current.
GOVERNOR_BAND_V_PER_CELL = 0.03
GOVERNOR_RATE_V_PER_S_PER_CELL = 0.0003


@dataclass
class PiRegulator:
    """Charge current from the room below the target: PI with lead, governor and anti-windup.

    ``error_v`` is the room below the target in pack volts (positive: may charge). The
    output is the charge current limit in ``[0, max_a]``.
    """

    integral_a: float = 0.0
    slope_v_per_s: float = 0.0
    reserve_v: float | None = None
    _last_voltage_v: float | None = None

    def step(
        self,
        error_v: float,
        *,
        voltage_v: float,
        dt_s: float,
        cfg: AppConfig,
        max_a: float,
        delivered_a: float | None,
    ) -> float:
        capacity, cells = cfg.battery.capacity_ah, cfg.battery.cell_count
        kp = cfg.controller.kp_a_per_v_per_ah * capacity
        ki = cfg.controller.ki_a_per_v_s_per_ah * capacity
        # slope of the measured voltage (filtered), for the lead
        if self._last_voltage_v is not None and dt_s > 0:
            raw = (voltage_v - self._last_voltage_v) / dt_s
            self.slope_v_per_s += (raw - self.slope_v_per_s) * min(dt_s / SLOPE_FILTER_S, 1.0)
        self._last_voltage_v = voltage_v
        # approach governor: keep a reserve below the target that shrinks at a fixed rate
        band = GOVERNOR_BAND_V_PER_CELL * cells
        if error_v > band:
            # far below the target the regulator is saturated: bulk is the full current
            self.reserve_v = band
            self.integral_a = max_a
        else:
            reserve = band if self.reserve_v is None else self.reserve_v
            self.reserve_v = max(0.0, reserve - GOVERNOR_RATE_V_PER_S_PER_CELL * cells * dt_s)
        error = error_v - self.reserve_v - LEAD_S * max(self.slope_v_per_s, 0.0)
        # integral with conditional integration (no winding into a saturated output)
        unclamped = kp * error + self.integral_a
        saturated = (unclamped >= max_a and error > 0) or (unclamped <= 0 and error < 0)
        if not saturated:
            self.integral_a += ki * (DOWN_GAIN_FACTOR if error < 0 else 1.0) * error * dt_s
        self.integral_a = min(max(self.integral_a, 0.0), max_a)
        # tracking: near the target, never far above what the SI actually delivers
        if delivered_a is not None and error_v <= TRACKING_BAND_V_PER_CELL * cells:
            headroom = max(MIN_TRACKING_HEADROOM_A, TRACKING_HEADROOM_C * capacity)
            self.integral_a = min(self.integral_a, max(delivered_a, 0.0) + headroom)
        return min(max(kp * error + self.integral_a, 0.0), max_a)

    def reset(self, current_a: float) -> None:
        self.integral_a = max(current_a, 0.0)
        self.slope_v_per_s = 0.0
        self.reserve_v = None
        self._last_voltage_v = None
