"""The hard limits hold for every frame the core emits, whatever the commands say."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smavenus.gateway.actions import Instant, SendFrames
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.frameset import FrameSet
from smavenus.gateway.limits import Limits, clamp_limits
from smavenus.gateway.policy import ResumePoint
from smavenus.gateway.settings import GatewaySettings, HardLimits
from smavenus.ipc.messages import BmsCommand, ConditionName
from smavenus.protocol import BatteryStatus, ChargeLimits, SocSoh, decode, encode
from smavenus.protocol.fields import ceil_to, floor_to

from .helpers import UNIX_OFFSET, at
from .helpers import settings as make_settings

#: Float noise allowed when comparing a decoded value with a limit: far below the 0.1 step.
EPS = 1e-6
DEFAULT = make_settings()
CONDITIONS: tuple[ConditionName, ...] = ("general", "high_voltage", "low_voltage", "contactor")


def assert_within(frames: FrameSet, hard: HardLimits) -> None:
    by_id = {f.can_id: f.data for f in frames}
    limits: ChargeLimits = decode(0x351, by_id[0x351])
    assert limits.charge_voltage_v is not None and limits.charge_current_a is not None
    assert limits.discharge_current_a is not None and limits.discharge_voltage_v is not None
    assert limits.charge_voltage_v <= hard.max_charge_voltage_v + EPS
    assert 0.0 <= limits.charge_current_a <= hard.max_charge_current_a + EPS
    assert 0.0 <= limits.discharge_current_a <= hard.max_discharge_current_a + EPS
    assert limits.discharge_voltage_v >= hard.min_discharge_voltage_v - EPS
    # SMA's own ranges (SMA-TI §5.3): out-of-range values are silently ignored by the SI.
    assert 41.0 <= limits.charge_voltage_v <= 63.0
    assert 41.0 <= limits.discharge_voltage_v <= 48.0
    soc: SocSoh = decode(0x355, by_id[0x355])
    assert soc.soc_pct is not None and 0 <= soc.soc_pct <= 100


hard_limits = st.builds(
    HardLimits,
    max_charge_voltage_v=st.floats(41.0, 63.0),
    min_discharge_voltage_v=st.floats(41.0, 48.0),
    max_charge_current_a=st.floats(0.0, 1200.0),
    max_discharge_current_a=st.floats(0.0, 1200.0),
)
any_value = st.floats(allow_nan=False, allow_infinity=False)
percent = st.floats(0.0, 100.0)
conditions = st.frozensets(st.sampled_from(CONDITIONS))


@st.composite
def commands(draw: st.DrawFn, t: float) -> BmsCommand:
    return BmsCommand(
        seq=0,
        sent_monotonic=t,
        sent_unix=UNIX_OFFSET + t,
        charge_voltage_v=draw(any_value),
        charge_current_a=draw(any_value),
        discharge_current_a=draw(any_value),
        discharge_voltage_v=draw(any_value),
        soc_pct=draw(percent),
        soh_pct=draw(percent),
        alarms=draw(conditions),
        warnings=draw(conditions),
    )


@st.composite
def gateway_settings(draw: st.DrawFn) -> GatewaySettings:
    hard = draw(hard_limits)
    return dataclasses.replace(
        DEFAULT,
        limits=hard,
        safe_discharge_current_a=draw(st.floats(0.0, 1200.0)),
        cold_start_charge_voltage_v=draw(st.floats(41.0, 63.0)),
        stale_charge_ramp_a_per_s=draw(st.floats(0.1, 1000.0)),
        # escalation within the test's time span, to any DVL or DCL the config allows
        stale_soc_hold_s=draw(st.floats(1.0, 60.0)),
        stale_discharge_limit_s=draw(st.floats(60.0, 120.0)),
        stale_discharge_voltage_v=draw(st.floats(41.0, 63.0)),
        stale_discharge_current_a=draw(st.floats(0.0, 1200.0)),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), gw=gateway_settings())
def test_no_emitted_frame_exceeds_the_hard_limits_for_any_command(
    data: st.DataObject, gw: GatewaySettings
) -> None:
    """Any commands, any timing, any source (cold start, persisted, controller, stale)."""
    t = 1000.0
    resume = None
    if data.draw(st.booleans(), label="resume"):
        age = data.draw(st.one_of(st.none(), st.floats(0.0, 100.0)), label="age")
        resume = ResumePoint(data.draw(commands(t)), age, "test")
    core = GatewayCore(gw, at(t), resume)
    core.start()
    core.on_bus_opening(at(t))
    emitted = [e for e in core.on_bus_opened(at(t)) if isinstance(e, SendFrames)]
    steps = data.draw(st.lists(st.tuples(st.floats(0.0, 30.0), st.booleans()), max_size=12))
    for delay, with_command in steps:
        t += delay
        if with_command:
            core.on_command(data.draw(commands(t)), at(t))
        # the SI's battery current moves a degraded SoC: any current, any sign
        battery = BatteryStatus(52.0, data.draw(st.floats(-5000.0, 5000.0)), 20.0, 50.0)
        core.on_frame(*encode(battery), at(t))
        emitted += [e for e in core.on_timer(at(t)) if isinstance(e, SendFrames)]
    assert emitted, "the bus opened: at least the first frame set went out"
    for event in emitted:
        assert_within(event.frames, gw.limits)
    assert_within(core.safe_frames(at(t)), gw.limits)


def test_a_command_above_the_limits_is_clamped_and_says_why() -> None:
    hard = DEFAULT.limits
    clamped = clamp_limits(Limits(60.0, 500.0, 900.0, 40.0), hard)
    assert clamped.limits == Limits(
        hard.max_charge_voltage_v, hard.max_charge_current_a, 200.0, hard.min_discharge_voltage_v
    )
    assert set(clamped.changes) == {
        "charge_voltage_v",
        "charge_current_a",
        "discharge_current_a",
        "discharge_voltage_v",
    }
    assert "battery.max_charge_current_a" in clamped.changes["charge_current_a"]


def test_negative_currents_become_zero() -> None:
    clamped = clamp_limits(Limits(55.0, -5.0, -1.0, 46.0), DEFAULT.limits)
    assert (clamped.limits.charge_current_a, clamped.limits.discharge_current_a) == (0.0, 0.0)


def test_values_within_the_limits_pass_unchanged() -> None:
    clamped = clamp_limits(Limits(55.2, 80.5, 120.0, 46.3), DEFAULT.limits)
    assert clamped.limits == Limits(55.2, 80.5, 120.0, 46.3)
    assert clamped.changes == {}


@pytest.mark.parametrize(
    ("requested", "ceiling", "sent"),
    [(56.85, 56.85, 56.8), (56.84, 63.0, 56.8), (56.8, 56.8, 56.8), (45.04, 63.0, 45.0)],
)
def test_ceilings_round_down_to_the_wire_step(
    requested: float, ceiling: float, sent: float
) -> None:
    """The codec rounds to nearest: 56.85 V would go out as 56.9 V, above a 56.85 V ceiling."""
    hard = dataclasses.replace(DEFAULT.limits, max_charge_voltage_v=ceiling)
    result = clamp_limits(Limits(requested, 0.0, 0.0, 46.0), hard)
    assert result.limits.charge_voltage_v == pytest.approx(sent)


def test_the_discharge_floor_rounds_up_to_the_wire_step() -> None:
    hard = dataclasses.replace(DEFAULT.limits, min_discharge_voltage_v=44.85)
    assert clamp_limits(Limits(55.0, 0.0, 0.0, 44.0), hard).limits.discharge_voltage_v == (
        pytest.approx(44.9)
    )


def test_non_finite_values_end_at_their_safe_side() -> None:
    result = clamp_limits(Limits(math.nan, math.inf, math.nan, -math.inf), DEFAULT.limits)
    assert result.limits.charge_current_a == 0.0
    assert result.limits.discharge_current_a == 0.0
    assert result.limits.charge_voltage_v == DEFAULT.limits.min_discharge_voltage_v
    assert result.limits.discharge_voltage_v == 48.0  # stop discharging as early as allowed


def test_quantizing_helpers_ignore_binary_float_noise() -> None:
    assert floor_to(56.8, 0.1) == pytest.approx(56.8)  # 56.8 / 0.1 = 567.999…
    assert ceil_to(44.8, 0.1) == pytest.approx(44.8)


def test_core_instant_is_monotonic_and_unix() -> None:
    now = at(5.0)
    assert now == Instant(5.0, UNIX_OFFSET + 5.0)
