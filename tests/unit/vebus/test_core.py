"""The sans-I/O core: staleness, deadlines, latched facts, energy, persistence."""

from __future__ import annotations

from typing import Any

import pytest

from smavenus.config import parse_config
from smavenus.protocol import RelayStatus
from smavenus.vebus.core import VebusCore
from smavenus.vebus.enums import Mode, VebusChargeState, VebusState
from smavenus.vebus.inputs import Options
from smavenus.vebus.paths import Source
from smavenus.vebus.settings import BatteryLimits, CoreSettings, Identity, service_suffix
from smavenus.vebus.state import PublisherState
from smavenus.victron.items import ItemStore, ItemType
from tests.unit.vebus.si import (
    GRID_ON,
    NO_GRID,
    controller_status,
    gateway_health,
    relay,
    scene,
    snapshot,
)

T0 = 1000.0
MAX_AGE = 5.0


def make_core(state: PublisherState | None = None, now: float = T0, **settings: Any) -> VebusCore:
    return VebusCore(
        CoreSettings(
            Identity("smavenus-vebus-publisher", "0.1.0", "SMA CAN can0", "SMA Sunny Island", 276),
            BatteryLimits(56.8, 140.0, 200.0, 44.8),
            max_age_s=MAX_AGE,
            **settings,
        ),
        state or PublisherState(),
        now,
    )


def paths_with(core: VebusCore, source: Source) -> set[str]:
    return {p.path for p in core.paths if p.source is source}


def test_every_path_has_one_owner_fixed_or_computed() -> None:
    core = make_core(mode_control=True)
    core.on_snapshot(snapshot(scene(), T0), T0)
    fixed, computed = set(core.fixed_values()), set(core.values(T0))
    assert fixed | computed == {p.path for p in core.paths}
    assert not fixed & computed
    # what Venus writes is never overwritten by a cycle's publish
    assert paths_with(core, Source.WRITTEN) <= fixed


def test_values_have_their_declared_types() -> None:
    core = make_core()
    core.on_controller(controller_status("absorption", sent=T0))
    core.on_health(gateway_health(sent=T0))
    core.on_snapshot(snapshot(scene(ext_w=(1500,), inv_w=(-500,)), T0), T0)
    store = ItemStore(p.spec for p in core.paths)
    store.update(core.fixed_values())
    store.update(core.values(T0))  # raises if a value cannot be coerced
    for path, spec in store.specs.items():
        value = store[path]
        if value is not None and spec.type is ItemType.INT:
            assert type(value) is int, path
    assert store["/FirmwareVersion"] >= 0x422  # DVCC's minimum
    assert store["/State"] == VebusState.ABSORPTION
    assert store["/VebusChargeState"] == VebusChargeState.ABSORPTION


def test_before_any_snapshot_the_service_is_disconnected() -> None:
    values = make_core().values(T0)
    assert values["/Connected"] == 0
    assert values["/Dc/0/Voltage"] is None
    assert values["/Ac/NumberOfPhases"] == 1  # [vebus] phases until the SI is seen


def test_an_old_snapshot_makes_every_si_value_invalid_never_frozen() -> None:
    core = make_core()
    core.on_controller(controller_status(sent=T0))
    core.on_health(gateway_health(sent=T0))
    core.on_snapshot(snapshot(scene(), T0), T0)
    just_fresh = core.values(T0 + MAX_AGE - 0.001)
    assert just_fresh["/Connected"] == 1
    assert just_fresh["/Dc/0/Voltage"] == 52.8
    assert core.next_deadline(T0 + 1) == T0 + MAX_AGE

    stale = core.values(T0 + MAX_AGE)
    assert stale["/Connected"] == 0
    for path in {p.path for p in core.paths if p.source.goes_stale}:
        assert stale[path] is None, path
    names = [e.name for e in core.drain_events()]
    assert names.count("si_snapshot_stale") == 1
    core.values(T0 + MAX_AGE + 1)
    assert "si_snapshot_stale" not in [e.name for e in core.drain_events()]  # once per transition


def test_si_absent_means_disconnected_even_with_a_fresh_snapshot() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(), T0, si_present=False), T0)
    assert core.values(T0)["/Connected"] == 0


def test_a_frame_the_si_skipped_stays_valid_until_it_is_too_old() -> None:
    core = make_core()
    frames = scene()
    core.on_snapshot(snapshot(frames, T0, received_at={RelayStatus: T0 - 4.0}), T0)
    assert core.values(T0)["/Ac/ActiveIn/Connected"] == 1
    assert core.next_deadline(T0) == T0 + 1.0  # when the relay frame goes stale
    later = core.values(T0 + 1.0)
    assert later["/Connected"] == 1
    assert later["/Ac/ActiveIn/ActiveInput"] is None
    assert later["/Alarms/Overload"] is None
    assert later["/Dc/0/Voltage"] == 52.8
    assert "si_frame_relay_status_stale" in [e.name for e in core.drain_events()]


def test_controller_status_goes_stale_on_its_own() -> None:
    core = make_core()
    core.on_controller(controller_status("float", sent=T0 - 4.5))
    core.on_snapshot(snapshot(scene(), T0), T0)
    assert core.values(T0)["/VebusChargeState"] == VebusChargeState.FLOAT
    assert core.next_deadline(T0) == T0 + 0.5
    assert core.values(T0 + 0.5)["/VebusChargeState"] is None
    assert "controller_status_stale" in [e.name for e in core.drain_events()]


def test_bms_alarms_from_controller_and_gateway_together() -> None:
    core = make_core()
    core.on_controller(controller_status(sent=T0, warnings=frozenset({"low_voltage"})))
    core.on_health(gateway_health("stale", sent=T0, alarms=frozenset({"high_temperature"})))
    core.on_snapshot(snapshot(scene(), T0), T0)
    values = core.values(T0)
    assert values["/Alarms/LowBattery"] == 1
    assert values["/Alarms/HighTemperature"] == 2
    assert values["/Alarms/BmsConnectionLost"] == 2
    assert values["/Leds/Temperature"] == 1


def test_bms_connection_lost_from_the_controller_and_from_the_gateway() -> None:
    core = make_core()
    core.on_health(gateway_health("controller", sent=T0))
    core.on_controller(controller_status(sent=T0 - 4.0, bms_connection_lost=True))
    core.on_snapshot(snapshot(scene(), T0), T0)
    assert core.values(T0)["/Alarms/BmsConnectionLost"] == 2  # the BMS is lost
    # the controller's status goes stale: only the gateway's view is left, and it is fine
    assert core.values(T0 + 1.0)["/Alarms/BmsConnectionLost"] == 0
    core.on_controller(controller_status(sent=T0 + 1.0))
    assert core.values(T0 + 1.0)["/Alarms/BmsConnectionLost"] == 0  # the BMS is back
    core.on_health(gateway_health("stale", sent=T0 + 1.0))  # the controller fell silent
    assert core.values(T0 + 1.0)["/Alarms/BmsConnectionLost"] == 2


def test_dvcc_sees_a_charger_it_controls() -> None:
    fixed = make_core().fixed_values()
    assert fixed["/FirmwareFeatures/BolFrame"] == 1  # systemcalc /Control/MaxChargeCurrent
    assert fixed["/FirmwareVersion"] >= 0x422  # else "firmware insufficient"
    assert fixed["/Dc/0/MaxChargeCurrent"] == 140.0  # valid from the start: DVCC writes it
    bol = {path: v for path, v in fixed.items() if path.startswith("/BatteryOperationalLimits/")}
    assert bol == {
        "/BatteryOperationalLimits/MaxChargeVoltage": 56.8,
        "/BatteryOperationalLimits/MaxChargeCurrent": 140.0,
        "/BatteryOperationalLimits/MaxDischargeCurrent": 200.0,
        "/BatteryOperationalLimits/BatteryLowVoltage": 44.8,
    }


def test_installation_facts_are_learned_persisted_and_restored() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(out_v=(120, 120), ext_v=(0, 0)), T0), T0)
    values = core.values(T0)
    assert values["/Ac/NumberOfPhases"] == 2
    restored = make_core(core.state())
    before_any_snapshot = restored.values(T0)
    assert before_any_snapshot["/Ac/NumberOfPhases"] == 2


def test_an_si_without_ac2_source_keeps_its_input_and_raises_no_grid_lost_alarm() -> None:
    core = make_core()
    off_grid = scene(ext_v=(0,), relay_status=relay(NO_GRID))
    for n in range(3):
        core.on_snapshot(snapshot(off_grid, T0 + n, seq=n), T0 + n)
    values = core.values(T0 + 2)
    assert core.fixed_values()["/Ac/NumberOfAcInputs"] == 1  # gui-v2 shows the AC table
    assert values["/Alarms/GridLost"] == 0


def test_grid_lost_after_two_frames_once_the_si_had_a_grid() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(relay_status=relay(GRID_ON)), T0), T0)
    lost = scene(ext_v=(0,), relay_status=relay(NO_GRID))
    core.on_snapshot(snapshot(lost, T0 + 1, seq=2), T0 + 1)
    assert core.values(T0 + 1)["/Alarms/GridLost"] == 0
    core.on_snapshot(snapshot(lost, T0 + 2, seq=3), T0 + 2)
    assert core.values(T0 + 2)["/Alarms/GridLost"] == 2
    quiet = make_core(options=Options(grid_lost_alarm=False))
    for n, frames in enumerate([scene(), lost, lost]):
        quiet.on_snapshot(snapshot(frames, T0 + n, seq=n), T0 + n)
    assert quiet.values(T0 + 2)["/Alarms/GridLost"] == 0


def test_energy_counts_between_snapshots_and_stops_when_stale() -> None:
    core = make_core()
    inverting = scene(ext_w=(0,), inv_w=(3600,), ext_v=(0,), relay_status=relay(NO_GRID))
    core.on_snapshot(snapshot(inverting, T0), T0)
    core.on_snapshot(snapshot(inverting, T0 + 1, seq=2), T0 + 1)
    assert core.values(T0 + 1)["/Energy/InverterToAcOut"] == pytest.approx(0.001)  # 3.6 kJ
    assert core.values(T0 + 60)["/Energy/InverterToAcOut"] == pytest.approx(0.006)  # 5 s more
    assert core.values(T0 + 60)["/Energy/AcIn1ToAcOut"] == 0.0


def test_state_is_saved_on_a_cadence_and_at_once_after_a_user_change() -> None:
    core = make_core(save_interval_s=8.0)
    assert not core.save_due(T0 + 100)  # nothing changed
    core.on_snapshot(snapshot(scene(inv_w=(1000,)), T0), T0)
    core.on_snapshot(snapshot(scene(inv_w=(1000,)), T0 + 1, seq=2), T0 + 1)
    assert not core.save_due(T0 + 1)
    assert core.next_deadline(T0 + 1) == T0 + 1 + MAX_AGE  # staleness comes first
    assert core.next_deadline(T0 + 6.5) == T0 + 8.0  # then the save
    assert core.save_due(T0 + 8.0)
    core.saved(T0 + 8.0)
    assert not core.save_due(T0 + 8.0)
    core.set_mode(Mode.OFF)
    assert core.save_due(T0 + 8.0)
    assert core.next_deadline(T0 + 8.0) == T0 + 8.0
    assert core.state().mode is None  # mode control is off: nothing to remember


def test_mode_is_fixed_on_without_mode_control_and_restored_with_it() -> None:
    assert make_core().fixed_values()["/Mode"] == Mode.ON
    assert make_core().fixed_values()["/ModeIsAdjustable"] == 0
    core = make_core(PublisherState(mode=Mode.OFF), mode_control=True)
    assert core.fixed_values()["/Mode"] == Mode.OFF
    assert core.fixed_values()["/ModeIsAdjustable"] == 1
    assert core.state().mode == Mode.OFF


def test_clean_stop_counts_up_to_the_stop() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(ext_w=(3600,), inv_w=(0,)), T0), T0)
    state = core.stop(T0 + 2.0)
    assert state.energy_j["AcIn1ToAcOut"] == pytest.approx(7200.0)
    assert make_core(state).values(T0)["/Energy/AcIn1ToAcOut"] == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("can", "vebus", "suffix"),
    [
        ({"channel": "can0"}, {}, "sma_can0"),
        ({"interface": "slcan", "channel": "/dev/ttyACM0"}, {}, "sma_ttyACM0"),
        ({"interface": "slcan", "channel": "socket://10.0.0.1:3000"}, {}, "sma_10_0_0_1_3000"),
        ({"channel": "can0"}, {"service_suffix": "shed"}, "shed"),
    ],
)
def test_service_suffix(can: dict[str, str], vebus: dict[str, str], suffix: str) -> None:
    assert service_suffix(parse_config({"can": can, "vebus": vebus})) == suffix


@pytest.mark.parametrize(("vebus_allows", "gateway_allows"), [(1, 0), (0, 1), (1, 1), (0, 0)])
def test_mode_control_needs_both_the_publisher_and_the_gateway(
    vebus_allows: int, gateway_allows: int
) -> None:
    cfg = parse_config(
        {
            "vebus": {"allow_mode_control": bool(vebus_allows)},
            "gateway": {"enable_remote_on_off": bool(gateway_allows)},
        }
    )
    settings = CoreSettings.from_config(cfg, process_name="p", process_version="v")
    assert settings.mode_control == bool(vebus_allows and gateway_allows)


def test_expiry_due_only_when_an_input_went_stale_since_the_last_evaluation() -> None:
    core = make_core()
    core.on_snapshot(snapshot(scene(), T0), T0)
    core.values(T0)
    assert not core.expiry_due(T0 + MAX_AGE - 0.01)
    assert core.expiry_due(T0 + MAX_AGE)
    core.values(T0 + MAX_AGE)
    assert not core.expiry_due(T0 + MAX_AGE + 1)  # already shown
