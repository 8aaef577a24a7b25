"""Golden frames, both directions: bytes seen or specified in the sources ⇄ typed values."""

from __future__ import annotations

import pytest

from smavenus.errors import FrameDecodeError, FrameEncodeError, FrameLengthError, UnknownFrameError
from smavenus.protocol import (
    FRAME_SPECS,
    AlarmCondition,
    AlarmsWarnings,
    ChargeLimits,
    ManufacturerName,
    PairState,
    SocSoh,
    decode,
    encode,
    frame_to_dict,
)
from tests.fixtures.frames import GOLDEN


@pytest.mark.parametrize(("can_id", "hexdata", "value"), GOLDEN, ids=lambda x: str(x)[:24])
def test_decode_golden(can_id: int, hexdata: str, value: object) -> None:
    assert decode(can_id, bytes.fromhex(hexdata)) == value


@pytest.mark.parametrize(("can_id", "hexdata", "value"), GOLDEN, ids=lambda x: str(x)[:24])
def test_encode_golden(can_id: int, hexdata: str, value: object) -> None:
    assert encode(value) == (can_id, bytes.fromhex(hexdata))


def test_every_frame_has_a_golden_case() -> None:
    covered = {can_id for can_id, _, _ in GOLDEN} | {0x35A}
    assert covered == {spec.can_id for spec in FRAME_SPECS}


# --- the SI's sign and the SoC echo --------------------------------------------------------


def test_si_battery_current_is_negative_while_charging() -> None:
    frame = decode(0x305, bytes.fromhex("10029CFFE600DE03"))
    assert frame.current_a == -10.0  # SMA's sign; the vebus publisher flips it for Victron


# --- SMA range limits, rounding, invalid markers (encode) ---------------------------------


@pytest.mark.parametrize(
    ("limits", "expected_hex"),
    [
        (
            ChargeLimits(70.0, 2000.0, 5000.0, 60.0),
            "7602E02EE02EE001",
        ),  # clamped to 63/1200/1200/48
        (ChargeLimits(30.0, -5.0, -1.0, 30.0), "9A01000000009A01"),  # clamped to 41/0/0/41
        # Rounded toward safety: CVL, CCL and DCL down, DVL up (56.9 V would exceed 56.85 V).
        (ChargeLimits(56.85, 1.25, 0.04, 44.85), "38020C000000C101"),
        (ChargeLimits(None, None, None, None), "FFFF00800080FFFF"),  # invalid = SI default
        (ChargeLimits(float("inf"), float("-inf"), 10.0, 41.0), "7602000064009A01"),
    ],
)
def test_charge_limits_clamp_round_and_mark_invalid(
    limits: ChargeLimits, expected_hex: str
) -> None:
    assert encode(limits)[1].hex().upper() == expected_hex


def test_soc_is_rounded_not_truncated() -> None:
    # The original sent int(16.4 * 100) = 1639; 16.4 % must go out as 1640.
    assert encode(SocSoh(16.4, 100, 16.4))[1] == bytes.fromhex("100064006806")
    assert encode(SocSoh(99.5, 100, 99.995))[1][0] == 100  # 99.5 rounds up, not to even
    assert encode(SocSoh(120, 130, -3))[1] == bytes.fromhex("640064000000")


def test_nan_is_refused_rather_than_sent() -> None:
    with pytest.raises(FrameEncodeError, match="charge_current_a: NaN"):
        encode(ChargeLimits(56.0, float("nan"), 10.0, 44.0))


def test_manufacturer_name_must_be_short_ascii() -> None:
    with pytest.raises(FrameEncodeError, match="not ASCII"):
        encode(ManufacturerName("BATTERIÉ"))
    with pytest.raises(FrameEncodeError, match="longer than 8"):
        encode(ManufacturerName("NINECHARS"))
    assert encode(ManufacturerName("SI"))[1] == b"SI      "


# --- 0x35A: the alarm pair encoding ---------------------------------------------------------


def test_alarm_pairs_send_explicit_leave_for_every_cleared_condition() -> None:
    data = encode(AlarmsWarnings.from_active())[1]
    # every usable pair = 0b10 ("leave"); the three reserved pairs of byte 3/7 = 00
    assert data == bytes.fromhex("AAAAAA02AAAAAA02")


def test_raised_alarm_sets_only_its_arrive_bit() -> None:
    frame = AlarmsWarnings.from_active(
        alarms=[AlarmCondition.HIGH_VOLTAGE], warnings=[AlarmCondition.LOW_TEMPERATURE_CHARGE]
    )
    data = encode(frame)[1]
    # byte 0: general leave (10), high voltage arrive (01 at bits 2-3), others leave
    assert data[0] == 0b10_10_01_10
    # byte 5: low temp charge is pair 6 → byte 5 bits 4-5 arrive
    assert data[5] == 0b10_01_10_10
    decoded = decode(0x35A, data)
    assert decoded.raised_alarms == {AlarmCondition.HIGH_VOLTAGE}
    assert decoded.raised_warnings == {AlarmCondition.LOW_TEMPERATURE_CHARGE}


def test_alarm_pairs_decode_all_four_states() -> None:
    # pairs of byte 0: general 00, high voltage 01, low voltage 10, high temperature 11
    decoded = decode(0x35A, bytes([0b11_10_01_00, 0, 0, 0, 0, 0, 0, 0]))
    assert decoded.alarms[AlarmCondition.GENERAL] is PairState.NO_CHANGE
    assert decoded.alarms[AlarmCondition.HIGH_VOLTAGE] is PairState.RAISED
    assert decoded.alarms[AlarmCondition.LOW_VOLTAGE] is PairState.CLEARED
    assert decoded.alarms[AlarmCondition.HIGH_TEMPERATURE] is PairState.IGNORED


def test_reserved_pairs_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="reserved"):
        AlarmsWarnings.from_active(alarms=[AlarmCondition.GENERATOR])


def test_alarm_event_numbers_follow_sma() -> None:
    assert AlarmCondition.GENERAL.alarm_event == "F920"
    assert AlarmCondition.CELL_IMBALANCE.warning_event == "W948"


# --- decoding errors -----------------------------------------------------------------------


def test_wrong_length_names_id_expected_and_actual() -> None:
    with pytest.raises(FrameLengthError) as info:
        decode(0x305, bytes(7))
    assert str(info.value) == "0x305: expected 8 bytes, got 7"
    assert (info.value.can_id, info.value.expected, info.value.actual) == (0x305, (8,), 7)


def test_frames_with_two_allowed_lengths_say_both() -> None:
    with pytest.raises(FrameLengthError, match="expected 6 or 8 bytes, got 4"):
        decode(0x355, bytes(4))


def test_unknown_id_is_a_typed_decode_error() -> None:
    with pytest.raises(UnknownFrameError):
        decode(0x123, bytes(8))


def test_unknown_on_off_code_is_a_decode_error() -> None:
    with pytest.raises(FrameDecodeError, match="0x35C"):
        decode(0x35C, bytes.fromhex("07000000"))


# --- JSON view ------------------------------------------------------------------------------


def test_json_view_names_bits_and_states() -> None:
    view = frame_to_dict(decode(0x307, bytes.fromhex("0101C00203000500")))
    assert view["name"] == "relay_status"
    assert view["fields"]["functions1"] == ["ext_vf_ok", "gd_on", "run"]
    assert view["fields"]["relays"] == ["gn_rn", "relay1"]


def test_json_view_keeps_unknown_bits_visible() -> None:
    view = frame_to_dict(decode(0x307, bytes.fromhex("0080000000400000")))
    assert "unknown_0x8000" in view["fields"]["relays"]
    assert "unknown_0x4000" in view["fields"]["functions2"]
