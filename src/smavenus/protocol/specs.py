"""The one description of every SMA frame: ID, direction, accepted lengths and byte layout.

Encoding, decoding, the CLI, the gateway's receive filter and the tests are all derived from
:data:`FRAME_SPECS`. Sources: SMA's "Connecting Batteries with external BMS to SUNNY ISLAND"
(SMA-TI) for 0x351-0x35F, 0x00F and 0x305-0x307; SD (solardirector ``can.c``) and SVD
(SMAVenusDriver notes) for the other SI frames. See ``docs/protocol.md`` for the full notes.

Choices where sources conflict (SMA's document wins wherever it speaks):

* Byte order is little-endian and 0x351 is CVL | CCL | DCL | DVL (SMA-TI, REC, Pylon, every
  SI-tested peer). Battery-Emulator's SMA-LV writes big-endian with CCL/DCL swapped; ignored.
* 0x355 HiResSOC is 0.01 % (SMA-TI). TeslaBMSV2 writes 0.1 % units there, which the SI would
  read as a tenth of the SoC.
* 0x356 voltage is S16 at 0.01 V (SMA-TI, REC, Pylon).
* 0x35A clears with an explicit "leave" bit (SMA-TI §7.1), never with 00: see
  :meth:`AlarmsWarnings.from_active`.
* 0x35F follows SMA-TI's layout (type | BMS version | capacity | reserved); the capacity at
  bytes 4-5 is the same in the REC and Victron variants.
* 0x355 and 0x356 go out with DLC 6: SMA-TI allows 6 or 8, the original driver ran for years
  with 6, and 6 bytes leave no undefined field that would need an invalid marker.
* SI status frames are taken as DLC 8, as in every observed capture (SVD's worked examples).
* 0x304/0x309 frequency is read unsigned (SVD); SD reads it signed. Values below 327 Hz agree.

The 0x351 limits round toward safety on encode (:class:`~smavenus.protocol.fields.Rounding`):
CVL, CCL and DCL down, DVL up. Their ranges here are SMA's, and the configuration and the
limit clamps read them from here (:data:`CVL_RANGE_V`, :data:`DVL_RANGE_V`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from smavenus.protocol import frames as f
from smavenus.protocol.fields import (
    AlarmPairs,
    Ascii,
    Code,
    Field,
    IntKind,
    RawBytes,
    Rounding,
    Scaled,
)

U8, U16, S16 = IntKind.U8, IntKind.U16, IntKind.S16
#: A ceiling (a larger value is less safe) rounds down, a floor rounds up.
DOWN, UP = Rounding.DOWN, Rounding.UP


class Direction(enum.Enum):
    SI_TO_BUS = "si_to_bus"  #: status frames the Sunny Island sends for the Sunny Remote
    BMS_TO_SI = "bms_to_si"  #: frames an external BMS sends to the Sunny Island


@dataclass(frozen=True)
class FrameSpec:
    can_id: int
    name: str
    model: type[Any]
    direction: Direction
    fields: tuple[Field, ...]
    #: Data lengths accepted when decoding; the first is the length we send.
    lengths: tuple[int, ...] = (8,)
    #: False for 0x35C, which SMA's document does not describe.
    sma_documented: bool = True
    summary: str = ""

    @property
    def send_length(self) -> int:
        return self.lengths[0]


def _three_lines(unit: str, scale: float, what: str) -> tuple[Field, ...]:
    return tuple(
        Scaled(f"l{n}_{unit}", 2 * (n - 1), S16, scale, unit.upper(), description=f"{what} L{n}")
        for n in (1, 2, 3)
    )


def _limit(
    name: str,
    offset: int,
    kind: IntKind,
    unit: str,
    rounding: Rounding,
    *,
    low: float,
    high: float,
    what: str,
) -> Scaled:
    """A 0x351 limit: 0.1 steps, SMA's range, rounded toward its safe side on encode."""
    return Scaled(name, offset, kind, 0.1, unit, low, high, rounding=rounding, description=what)


def _voltages_and_frequency(what: str) -> tuple[Field, ...]:
    return (
        *_three_lines("v", 0.1, what),
        Scaled("frequency_hz", 6, U16, 0.01, "Hz", description=f"{what} frequency"),
    )


SI_FRAMES: tuple[FrameSpec, ...] = (
    FrameSpec(
        0x300,
        "external_power",
        f.ExternalPower,
        Direction.SI_TO_BUS,
        _three_lines("w", 100, "active power AC2 (grid/generator)"),
        summary="Active power grid/generator per line",
    ),
    FrameSpec(
        0x301,
        "inverter_power",
        f.InverterPower,
        Direction.SI_TO_BUS,
        _three_lines("w", 100, "active power Sunny Island"),
        summary="Active power Sunny Island per line",
    ),
    FrameSpec(
        0x302,
        "external_reactive_power",
        f.ExternalReactivePower,
        Direction.SI_TO_BUS,
        _three_lines("var", 100, "reactive power AC2 (grid/generator)"),
        summary="Reactive power grid/generator per line",
    ),
    FrameSpec(
        0x303,
        "inverter_reactive_power",
        f.InverterReactivePower,
        Direction.SI_TO_BUS,
        _three_lines("var", 100, "reactive power Sunny Island"),
        summary="Reactive power Sunny Island per line",
    ),
    FrameSpec(
        0x304,
        "output_voltage",
        f.OutputVoltage,
        Direction.SI_TO_BUS,
        _voltages_and_frequency("AC1 (output) voltage"),
        summary="AC1 output voltage per line and frequency",
    ),
    FrameSpec(
        0x305,
        "battery_status",
        f.BatteryStatus,
        Direction.SI_TO_BUS,
        (
            Scaled("voltage_v", 0, U16, 0.1, "V", description="battery voltage (SI measured)"),
            Scaled(
                "current_a", 2, S16, 0.1, "A", description="battery current, negative = charging"
            ),
            Scaled("temperature_c", 4, S16, 0.1, "°C", description="battery temperature"),
            Scaled("soc_pct", 6, S16, 0.1, "%", description="SoC echoed from the BMS"),
        ),
        summary="Battery voltage, current (SMA sign), temperature, SoC echo",
    ),
    FrameSpec(
        0x306,
        "si_status",
        f.SiStatus,
        Direction.SI_TO_BUS,
        (
            Scaled("soh_pct", 0, U16, 1, "%", description="SoH echoed from the BMS"),
            Code("charging_procedure", 2, U8, description="10 with an external BMS"),
            Code("operating_state", 3, U8, description="0 ---, 1 operating, 3 warning, 4 failure"),
            Code("error_number", 4, U16, description="active error message number"),
            Scaled(
                "charge_voltage_setpoint_v", 6, U16, 0.1, "V", description="CV set-point in use"
            ),
        ),
        summary="SoH, charging procedure, operating state, error, charge-voltage set-point",
    ),
    FrameSpec(
        0x307,
        "relay_status",
        f.RelayStatus,
        Direction.SI_TO_BUS,
        (
            Code("relays", 0, U16, decode_as=f.RelayBits, description="relay states"),
            Code("functions1", 2, U16, decode_as=f.FunctionBits1, description="function bits 1"),
            Code("functions2", 4, U16, decode_as=f.FunctionBits2, description="function bits 2"),
            Code("sync_bits", 6, U8, description="sync bits (unnamed in every source)"),
        ),
        summary="Relay, function and sync bits",
    ),
    FrameSpec(
        0x308,
        "total_load",
        f.TotalLoad,
        Direction.SI_TO_BUS,
        (Scaled("total_load_w", 0, S16, 100, "W", description="total load power (TotLodPwr)"),),
        summary="Total load power",
    ),
    FrameSpec(
        0x309,
        "external_voltage",
        f.ExternalVoltage,
        Direction.SI_TO_BUS,
        _voltages_and_frequency("AC2 (grid/generator) voltage"),
        summary="AC2 voltage per line and frequency",
    ),
    FrameSpec(
        0x30A,
        "power_summary",
        f.PowerSummary,
        Direction.SI_TO_BUS,
        (
            Scaled("pv_power_w", 0, S16, 100, "W", description="PVPwrAt (unit unverified)"),
            Scaled("grid_consumption_power_w", 2, S16, 100, "W", description="GdCsmpPwrAt"),
            Scaled("grid_feed_power_w", 4, S16, 100, "W", description="GdFeedPwr"),
        ),
        summary="PV power, grid consumption, grid feed (unit unverified)",
    ),
)

BMS_FRAMES: tuple[FrameSpec, ...] = (
    FrameSpec(
        0x351,
        "charge_limits",
        f.ChargeLimits,
        Direction.BMS_TO_SI,
        (
            _limit("charge_voltage_v", 0, U16, "V", DOWN, low=41.0, high=63.0, what="CVL"),
            _limit("charge_current_a", 2, S16, "A", DOWN, low=0.0, high=1200.0, what="CCL"),
            _limit("discharge_current_a", 4, S16, "A", DOWN, low=0.0, high=1200.0, what="DCL"),
            _limit("discharge_voltage_v", 6, U16, "V", UP, low=41.0, high=48.0, what="DVL"),
        ),
        summary="Charge voltage, charge/discharge current limits, discharge voltage",
    ),
    FrameSpec(
        0x355,
        "soc_soh",
        f.SocSoh,
        Direction.BMS_TO_SI,
        (
            Scaled("soc_pct", 0, U16, 1, "%", 0.0, 100.0, description="SoC"),
            Scaled("soh_pct", 2, U16, 1, "%", 0.0, 100.0, description="SoH"),
            Scaled("soc_hires_pct", 4, U16, 0.01, "%", 0.0, 100.0, description="HiResSOC"),
        ),
        lengths=(6, 8),
        summary="SoC, SoH, high-resolution SoC",
    ),
    FrameSpec(
        0x356,
        "battery_measurements",
        f.BatteryMeasurements,
        Direction.BMS_TO_SI,
        (
            Scaled("voltage_v", 0, S16, 0.01, "V", description="battery voltage"),
            Scaled("current_a", 2, S16, 0.1, "A", description="battery current, + = charging"),
            Scaled("temperature_c", 4, S16, 0.1, "°C", description="battery temperature"),
        ),
        lengths=(6, 8),
        summary="Battery voltage, current, temperature",
    ),
    FrameSpec(
        0x35A,
        "alarms_warnings",
        f.AlarmsWarnings,
        Direction.BMS_TO_SI,
        (
            AlarmPairs("alarms", 0, f.ALARM_CONDITIONS, description="alarm arrive/leave pairs"),
            AlarmPairs("warnings", 4, f.ALARM_CONDITIONS, description="warning arrive/leave pairs"),
        ),
        summary="Alarm and warning arrive/leave bit pairs",
    ),
    FrameSpec(
        0x35B,
        "bms_events",
        f.BmsEvents,
        Direction.BMS_TO_SI,
        (RawBytes("data", 0, 8, description="no published layout"),),
        summary="Events (no published layout)",
    ),
    FrameSpec(
        0x35E,
        "manufacturer_name",
        f.ManufacturerName,
        Direction.BMS_TO_SI,
        (Ascii("name", 0, 8, description="manufacturer name"),),
        lengths=(8, *range(1, 8)),
        summary="Manufacturer name (ASCII)",
    ),
    FrameSpec(
        0x35F,
        "battery_info",
        f.BatteryInfo,
        Direction.BMS_TO_SI,
        (
            Code("battery_type", 0, U16, optional=True, description="Bat-Type"),
            Code("bms_version", 2, U16, optional=True, description="BMS version"),
            Scaled("capacity_ah", 4, U16, 1, "Ah", 0.0, 65534.0, description="capacity"),
            Code("manufacturer_id", 6, U16, optional=True, description="reserved"),
        ),
        summary="Battery type, BMS version, capacity",
    ),
    FrameSpec(
        0x00F,
        "quick_stop",
        f.QuickStop,
        Direction.BMS_TO_SI,
        (),
        lengths=(0, *range(1, 9)),
        summary="Remote quick stop (no data)",
    ),
    FrameSpec(
        0x35C,
        "remote_on_off",
        f.RemoteOnOff,
        Direction.BMS_TO_SI,
        (Code("command", 0, U8, decode_as=f.OnOffCommand, description="1 = on, 2 = off"),),
        lengths=(4,),
        sma_documented=False,
        summary="Inverter on/off (NOT in SMA's document; field use by the original's successor)",
    ),
)

FRAME_SPECS: tuple[FrameSpec, ...] = SI_FRAMES + BMS_FRAMES
SPECS_BY_ID: Mapping[int, FrameSpec] = MappingProxyType({s.can_id: s for s in FRAME_SPECS})
SPECS_BY_MODEL: Mapping[type[Any], FrameSpec] = MappingProxyType({s.model: s for s in FRAME_SPECS})

#: The cyclic frame set the gateway sends every BMS period, in sending order.
BMS_CYCLE_IDS: tuple[int, ...] = (0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F)
#: The status frames the Sunny Island sends (and the only IDs the gateway listens to).
SI_STATUS_IDS: tuple[int, ...] = tuple(s.can_id for s in SI_FRAMES)


def scaled_field(can_id: int, name: str) -> Scaled:
    """The numeric field ``name`` of frame ``can_id`` in the table above."""
    for field in SPECS_BY_ID[can_id].fields:
        if field.name == name and isinstance(field, Scaled):
            return field
    raise LookupError(f"0x{can_id:03X} has no numeric field {name!r}")


#: SMA's accepted CVL and DVL (0x351), in V: the one place these ranges are written down.
CVL_RANGE_V: tuple[float, float] = scaled_field(0x351, "charge_voltage_v").range
DVL_RANGE_V: tuple[float, float] = scaled_field(0x351, "discharge_voltage_v").range
