"""The bus-agnostic BusItem store: typing, change detection, remote writes."""

from __future__ import annotations

import math

import pytest

from smavenus.victron.items import CoercionError, ItemSpec, ItemStore, ItemType, SetResult, coerce

STATE = ItemSpec("/State", ItemType.INT)
VOLTAGE = ItemSpec("/Dc/0/Voltage", ItemType.DOUBLE, "V", decimals=2)
NAME = ItemSpec("/CustomName", ItemType.STRING, writable=True)
MODE = ItemSpec("/Mode", ItemType.INT, writable=True, minimum=1, maximum=4)


def make_store(on_write: object = None) -> ItemStore:
    return ItemStore([STATE, VOLTAGE, NAME, MODE], on_write=on_write)  # type: ignore[arg-type]


def test_integer_enums_stay_integers_even_when_given_as_doubles() -> None:
    assert coerce(STATE, 9.0) == 9 and type(coerce(STATE, 9.0)) is int
    with pytest.raises(CoercionError):
        coerce(STATE, 9.5)


def test_doubles_are_rounded_to_display_resolution() -> None:
    store = make_store()
    assert store.update({"/Dc/0/Voltage": 52.8049}) == {"/Dc/0/Voltage": 52.8}
    assert store.update({"/Dc/0/Voltage": 52.8001}) == {}  # noise below resolution: no change


def test_only_changed_paths_are_reported() -> None:
    store = make_store()
    store.update({"/State": 9, "/Dc/0/Voltage": 52.8})
    assert store.update({"/State": 9, "/Dc/0/Voltage": 53.0}) == {"/Dc/0/Voltage": 53.0}


def test_nan_and_none_are_invalid_and_shown_as_dashes() -> None:
    store = make_store()
    store.update({"/Dc/0/Voltage": 52.8})
    assert store.update({"/Dc/0/Voltage": float("nan")}) == {"/Dc/0/Voltage": None}
    assert store.text("/Dc/0/Voltage") == "---"


def test_text_has_value_and_unit() -> None:
    store = make_store()
    store.update({"/Dc/0/Voltage": 52.8})
    assert store.text("/Dc/0/Voltage") == "52.80 V"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("/State", 1, SetResult.NOT_WRITABLE),  # read-only
        ("/Nope", 1, SetResult.NOT_WRITABLE),  # no such path
        ("/CustomName", 5, SetResult.NOT_WRITABLE),  # wrong type
        ("/Mode", "on", SetResult.NOT_WRITABLE),
        ("/Mode", 7, SetResult.REFUSED),  # out of bounds
        ("/Mode", 3.0, SetResult.OK),  # an integral double is coerced
        ("/CustomName", "Shed SI", SetResult.OK),
    ],
)
def test_remote_writes_follow_velib_codes(path: str, value: object, expected: SetResult) -> None:
    assert make_store().write(path, value)[0] is expected


def test_owner_check_can_refuse_a_write_and_nothing_changes() -> None:
    store = make_store(on_write=lambda path, value: value != 4)
    store.update({"/Mode": 3})
    assert store.write("/Mode", 4) == (SetResult.REFUSED, False)
    assert store["/Mode"] == 3
    assert store.write("/Mode", 1) == (SetResult.OK, True)


def test_duplicate_and_malformed_paths_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        ItemStore([STATE, STATE])
    with pytest.raises(ValueError, match="not a BusItem path"):
        ItemSpec("Dc/0/Voltage", ItemType.DOUBLE)


def test_a_store_that_keeps_nan_carries_it_on_doubles_once() -> None:
    store = ItemStore([STATE, VOLTAGE, MODE], keep_nan=True)
    changed = store.update({"/Dc/0/Voltage": float("nan"), "/State": float("nan")})
    assert math.isnan(changed["/Dc/0/Voltage"])  # a faulty driver's NaN, as a double
    assert store["/State"] is None  # an integer path cannot hold a NaN: invalid
    assert store.update({"/Dc/0/Voltage": float("nan")}) == {}  # NaN again is no change
    assert store.update({"/Dc/0/Voltage": 52.8}) == {"/Dc/0/Voltage": 52.8}
    assert store.write("/Mode", float("nan")) == (SetResult.OK, False)  # remote: invalid
    assert store["/Mode"] is None
