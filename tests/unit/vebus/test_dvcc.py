"""DVCC's writes, stamped and reported: what the controller is told about them."""

from __future__ import annotations

import math

import pytest

from smavenus.ipc.messages import DVCC_WRITE_PATHS, DvccWrites, WrittenValue
from smavenus.vebus.dvcc import DvccRecord

MCV = "/BatteryOperationalLimits/MaxChargeVoltage"
MCC = "/BatteryOperationalLimits/MaxChargeCurrent"
BLV = "/BatteryOperationalLimits/BatteryLowVoltage"
DC_MCC = "/Dc/0/MaxChargeCurrent"


def test_nothing_written_yet_reports_every_field_as_never_written() -> None:
    record = DvccRecord()
    assert record.empty
    message = record.message(10.0, 1.7e9)
    assert message == DvccWrites(seq=1, sent_monotonic=10.0, sent_unix=1.7e9)


def test_each_path_lands_in_its_field_with_its_stamp() -> None:
    record = DvccRecord()
    for n, path in enumerate(DVCC_WRITE_PATHS):
        assert record.record(path, 50.0 + n, 100.0 + n)
    message = record.message(200.0, 1.7e9)
    for n, name in enumerate(DVCC_WRITE_PATHS.values()):
        assert getattr(message, name) == WrittenValue(value=50.0 + n, written_monotonic=100.0 + n)


def test_a_repeated_value_is_a_new_stamp() -> None:
    """DVCC repeats its limits every 3 s: the repetition is what says it is still there."""
    record = DvccRecord()
    record.record(MCV, 55.2, 100.0)
    first = record.message(100.0, 1.7e9)
    record.record(MCV, 55.2, 103.0)
    second = record.message(103.0, 1.7e9)
    assert first.max_charge_voltage_v == WrittenValue(value=55.2, written_monotonic=100.0)
    assert second.max_charge_voltage_v == WrittenValue(value=55.2, written_monotonic=103.0)
    assert (first.seq, second.seq) == (1, 2)


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_the_invalid_marker_and_non_finite_numbers_are_recorded_as_none(
    value: float | None,
) -> None:
    record = DvccRecord()
    assert record.record(BLV, value, 100.0)
    written = record.message(100.0, 1.7e9).battery_low_voltage_v
    assert written == WrittenValue(value=None, written_monotonic=100.0)


def test_other_paths_are_not_recorded() -> None:
    record = DvccRecord()
    assert not record.record("/CustomName", 1.0, 100.0)
    assert not record.record("/Mode", 3.0, 100.0)
    assert record.empty
    assert record.message(100.0, 1.7e9) == DvccWrites(seq=1, sent_monotonic=100.0, sent_unix=1.7e9)


def test_the_latest_write_per_path_is_kept_the_others_stay() -> None:
    record = DvccRecord()
    record.record(MCC, 40.0, 100.0)
    record.record(DC_MCC, 10000.0, 100.1)
    record.record(MCC, 35.0, 103.0)
    message = record.message(103.0, 1.7e9)
    assert message.max_charge_current_a == WrittenValue(value=35.0, written_monotonic=103.0)
    assert message.dc_max_charge_current_a == WrittenValue(value=10000.0, written_monotonic=100.1)
    assert message.max_charge_voltage_v is None
    # what the controller parses is what was sent
    assert DvccWrites.model_validate_json(message.model_dump_json()) == message
