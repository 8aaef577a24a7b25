"""A tiny stand-in BMS and frame readers for driving the pure simulation in unit tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import TypeAdapter

from smavenus.protocol import (
    AlarmCondition,
    AlarmsWarnings,
    BatteryInfo,
    BatteryMeasurements,
    BmsEvents,
    ChargeLimits,
    ManufacturerName,
    SocSoh,
    decode,
    encode,
)
from smavenus.protocol.fields import Scaled
from smavenus.protocol.specs import SPECS_BY_ID
from smavenus.sim import FrameOut, MonitorReading, ScenarioEvent, Simulation, parse_scenario

_EVENT: TypeAdapter[Any] = TypeAdapter(ScenarioEvent)


def event(action: str, **fields: Any) -> Any:
    """A scenario event, validated as a scenario file's ``[[events]]`` entry would be."""
    return _EVENT.validate_python({"action": action, **fields})


def make(seed: int = 1, **sections: Any) -> Simulation:
    return Simulation(parse_scenario(sections), seed=seed)


def bms_set(
    *,
    cvl: float | None = 56.0,
    ccl: float | None = 50.0,
    dcl: float | None = 100.0,
    dvl: float | None = 44.8,
    soc: float | None = 60.0,
    alarms: Iterable[AlarmCondition] = (),
    warnings: Iterable[AlarmCondition] = (),
    skip: Iterable[int] = (),
) -> list[tuple[int, bytes]]:
    """The gateway's cyclic frame set, as (can_id, data)."""
    frames = [
        encode(ChargeLimits(cvl, ccl, dcl, dvl)),
        encode(SocSoh(None if soc is None else round(soc), 100, soc)),
        encode(BatteryMeasurements(53.0, 0.0, 25.0)),
        encode(AlarmsWarnings.from_active(alarms, warnings)),
        encode(BmsEvents()),
        encode(ManufacturerName("SMAVENUS")),
        encode(BatteryInfo(0, 256, 280)),
    ]
    return [f for f in frames if f[0] not in set(skip)]


def unclamped(can_id: int, **values: float) -> bytes:
    """Frame data with values the codec would clamp (out of SMA's range), laid out per the
    frame table; fields not given are SMA's invalid marker."""
    spec = SPECS_BY_ID[can_id]
    buf = bytearray(spec.send_length)
    for field in spec.fields:
        assert isinstance(field, Scaled)
        value = values.get(field.name)
        raw = field.kind.invalid_raw if value is None else round(value / field.scale)
        assert raw is not None
        field.kind.write(raw, buf, field.offset)
    return bytes(buf)


def feed(
    sim: Simulation, start_s: float, end_s: float, period_s: float = 1.0, **values: Any
) -> None:
    """Send the frame set every ``period_s`` from ``start_s`` while before ``end_s``."""
    index = 0
    while (t := start_s + index * period_s) < end_s:
        for can_id, data in bms_set(**values):
            sim.receive(t, can_id, data)
        index += 1
    sim.advance_to(end_s)


def frames_of(outputs: list[Any], can_id: int) -> list[Any]:
    return [
        decode(o.can_id, o.data) for o in outputs if isinstance(o, FrameOut) and o.can_id == can_id
    ]


_SEEN: WeakKeyDictionary[Simulation, list[Any]] = WeakKeyDictionary()


def outputs(sim: Simulation) -> list[Any]:
    """Every output the simulation produced so far (collected across calls)."""
    seen = _SEEN.setdefault(sim, [])
    seen.extend(sim.take_outputs())
    return seen


def last(sim: Simulation, can_id: int) -> Any:
    """The latest frame ``can_id`` the SI sent."""
    found = frames_of(outputs(sim)[-40:], can_id)
    assert found, f"no 0x{can_id:03X} sent lately"
    return found[-1]


def readings(outputs: list[Any]) -> list[MonitorReading]:
    return [o for o in outputs if isinstance(o, MonitorReading)]


def kinds(sim: Simulation) -> list[str]:
    return [e.kind.value for e in sim.recorder.events if e.kind.value != "scenario"]
