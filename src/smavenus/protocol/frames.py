"""The typed value of every SMA frame, one frozen dataclass per CAN ID.

Field names carry their unit (``voltage_v``, ``current_a``, ``l1_w``). ``None`` means the
sender marked the value invalid (0x8000/0xFFFF), or, when encoding, that we do not provide it.
Signs are SMA's own; where SMA's sign differs from Victron's it is said at the field.
The byte layouts live in :mod:`smavenus.protocol.specs`, not here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from smavenus.protocol.fields import PairState

# --------------------------------------------------------------------------------------------
# Enumerations and bit sets
# --------------------------------------------------------------------------------------------


class AlarmCondition(enum.Enum):
    """The 0x35A conditions in wire order (SMA-TI §7.1); value = (SI alarm, SI warning) event."""

    GENERAL = (920, 936)
    HIGH_VOLTAGE = (921, 937)
    LOW_VOLTAGE = (922, 938)
    HIGH_TEMPERATURE = (923, 939)
    LOW_TEMPERATURE = (924, 940)
    HIGH_TEMPERATURE_CHARGE = (925, 941)
    LOW_TEMPERATURE_CHARGE = (926, 942)
    HIGH_CURRENT = (927, 943)
    HIGH_CHARGE_CURRENT = (928, 944)
    CONTACTOR = (929, 945)
    SHORT_CIRCUIT = (930, 946)
    BMS_INTERNAL = (931, 947)
    CELL_IMBALANCE = (932, 948)
    #: SMA reserves these pairs ("do not use"); we never raise them but decode them if set.
    RESERVED_1 = (933, 949)
    RESERVED_2 = (934, 950)
    GENERATOR = (935, 951)

    @property
    def alarm_event(self) -> str:
        return f"F{self.value[0]}"

    @property
    def warning_event(self) -> str:
        return f"W{self.value[1]}"

    @property
    def usable(self) -> bool:
        """False for the pairs SMA reserves; we send them as 00 ("no change")."""
        return self not in _RESERVED_CONDITIONS


_RESERVED_CONDITIONS = frozenset(
    {AlarmCondition.RESERVED_1, AlarmCondition.RESERVED_2, AlarmCondition.GENERATOR}
)
ALARM_CONDITIONS: tuple[AlarmCondition, ...] = tuple(AlarmCondition)


class OperatingState(enum.IntEnum):
    """0x306 byte 3 (SMA-TI: "valid only SI6.0H-11 FW 2.1"); other values are kept as ints."""

    NONE = 0
    OPERATING = 1
    WARNING = 3
    FAILURE = 4


#: 0x306 byte 2 shows 10 when the SI runs with an external BMS (SMA-TI §6).
CHARGING_PROCEDURE_EXTERNAL_BMS = 10


class RelayBits(enum.IntFlag, boundary=enum.KEEP):
    """0x307 bytes 0-1: relay states of master and slaves (SD ``can.c``)."""

    RELAY1 = 0x0001
    RELAY2 = 0x0002
    SLAVE1_RELAY1 = 0x0004
    SLAVE1_RELAY2 = 0x0008
    SLAVE2_RELAY1 = 0x0010
    SLAVE2_RELAY2 = 0x0020
    SLAVE3_RELAY1 = 0x0040
    SLAVE3_RELAY2 = 0x0080
    GN_RN = 0x0100  #: generator run request (ESSdev2 reads it as "generator input mode")
    SLAVE1_GN_RN = 0x0200
    SLAVE2_GN_RN = 0x0400
    SLAVE3_GN_RN = 0x0800


class FunctionBits1(enum.IntFlag, boundary=enum.KEEP):
    """0x307 bytes 2-3. SMA's own parameter names, from SD ``can.c``; SVD agrees on 0x40/0x80.

    Conflict: mobiletru's decoder takes these from byte 1; SD and SVD both use bytes 2-3,
    which we follow.
    """

    AUTO_GN = 0x0001
    AUTO_LOD_EXT = 0x0002
    AUTO_LOD_SOC = 0x0004
    TM1 = 0x0008
    TM2 = 0x0010
    EXT_PWR_DER = 0x0020
    EXT_VF_OK = 0x0040  #: valid voltage and frequency on AC2 (grid or generator)
    GD_ON = 0x0080  #: AC2 relay closed: the SI is connected to grid/generator
    ERROR = 0x0100
    RUN = 0x0200
    BAT_FAN = 0x0400
    ACD_CIR = 0x0800
    MCC_BAT_FAN = 0x1000
    MCC_AUTO_LOD = 0x2000
    CHP = 0x4000
    CHP_ADD = 0x8000


class FunctionBits2(enum.IntFlag, boundary=enum.KEEP):
    """0x307 bytes 4-5 (SD ``can.c``)."""

    SI_COM_REMOTE = 0x0001
    OVERLOAD = 0x0002
    EXT_SRC_CONN = 0x0100
    SILENT = 0x0200
    CURRENT = 0x0400
    FEED_SELF_C = 0x0800
    ESAVE = 0x1000


class OnOffCommand(enum.IntEnum):
    """0x35C byte 0 as the original's successor (madsci1016 master) sends it. Not SMA-documented."""

    ON = 0x01
    OFF = 0x02


# --------------------------------------------------------------------------------------------
# SI → bus: the Sunny Remote display data (sent by the SI about once a second)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExternalPower:
    """0x300: active power on AC2 (grid/generator) per line; + = taken from AC2, 100 W steps."""

    l1_w: float | None
    l2_w: float | None
    l3_w: float | None


@dataclass(frozen=True, slots=True)
class InverterPower:
    """0x301: active power of the SI per line; + = inverter delivers to AC (discharging)."""

    l1_w: float | None
    l2_w: float | None
    l3_w: float | None


@dataclass(frozen=True, slots=True)
class ExternalReactivePower:
    """0x302: reactive power on AC2 per line, 100 var steps."""

    l1_var: float | None
    l2_var: float | None
    l3_var: float | None


@dataclass(frozen=True, slots=True)
class InverterReactivePower:
    """0x303: reactive power of the SI per line, 100 var steps."""

    l1_var: float | None
    l2_var: float | None
    l3_var: float | None


@dataclass(frozen=True, slots=True)
class OutputVoltage:
    """0x304: AC1 (output) voltage per line and the output frequency."""

    l1_v: float | None
    l2_v: float | None
    l3_v: float | None
    frequency_hz: float | None


@dataclass(frozen=True, slots=True)
class BatteryStatus:
    """0x305: the SI's own battery measurement.

    ``current_a`` has SMA's sign: **negative while charging** (Victron's sign is the opposite).
    ``soc_pct`` is the SoC the SI received from us, echoed back at 0.1 % resolution.
    """

    voltage_v: float | None
    current_a: float | None
    temperature_c: float | None
    soc_pct: float | None


@dataclass(frozen=True, slots=True)
class SiStatus:
    """0x306: SoH echo, charging procedure, operating state, active error, CV set-point."""

    soh_pct: float | None
    charging_procedure: int
    operating_state: int
    error_number: int
    charge_voltage_setpoint_v: float | None

    @property
    def operating_state_name(self) -> str:
        try:
            return OperatingState(self.operating_state).name.lower()
        except ValueError:
            return f"unknown_{self.operating_state}"


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """0x307: relay, function and sync bits."""

    relays: RelayBits
    functions1: FunctionBits1
    functions2: FunctionBits2
    sync_bits: int

    @property
    def ac2_connected(self) -> bool:
        """AC2 relay closed (GdOn): the SI is running on grid or generator."""
        return FunctionBits1.GD_ON in self.functions1

    @property
    def ac2_voltage_valid(self) -> bool:
        """Valid voltage present on AC2 (ExtVfOk)."""
        return FunctionBits1.EXT_VF_OK in self.functions1


@dataclass(frozen=True, slots=True)
class TotalLoad:
    """0x308: total AC load power of the cluster (TotLodPwr), 100 W steps."""

    total_load_w: float | None


@dataclass(frozen=True, slots=True)
class ExternalVoltage:
    """0x309: AC2 (grid/generator) voltage per line and its frequency."""

    l1_v: float | None
    l2_v: float | None
    l3_v: float | None
    frequency_hz: float | None


@dataclass(frozen=True, slots=True)
class PowerSummary:
    """0x30A: PVPwrAt / GdCsmpPwrAt / GdFeedPwr. Unit unverified (SD divides by 10: 0.1 kW)."""

    pv_power_w: float | None
    grid_consumption_power_w: float | None
    grid_feed_power_w: float | None


# --------------------------------------------------------------------------------------------
# BMS → SI (what smavenus sends as the external BMS)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeLimits:
    """0x351: the four values the SI acts on (SMA-TI §5.3)."""

    charge_voltage_v: float | None  #: CVL, 41-63 V; a set-point and a limit
    charge_current_a: float | None  #: CCL, 0-1200 A; an upper limit only
    discharge_current_a: float | None  #: DCL, 0-1200 A; observed on grid only
    discharge_voltage_v: float | None  #: DVL, 41-48 V; stop and restart-inhibit voltage


@dataclass(frozen=True, slots=True)
class SocSoh:
    """0x355: state of charge and health. The SI prefers the high-resolution SoC if present."""

    soc_pct: float | None
    soh_pct: float | None
    soc_hires_pct: float | None


@dataclass(frozen=True, slots=True)
class BatteryMeasurements:
    """0x356: battery measurements, logged and displayed by the SI. Current + = charging."""

    voltage_v: float | None
    current_a: float | None
    temperature_c: float | None


def _frozen_states(
    states: Mapping[AlarmCondition, PairState],
) -> Mapping[AlarmCondition, PairState]:
    full = {condition: states.get(condition, PairState.NO_CHANGE) for condition in ALARM_CONDITIONS}
    return MappingProxyType(full)


@dataclass(frozen=True, slots=True)
class AlarmsWarnings:
    """0x35A: one arrive/leave pair per condition for alarms (bytes 0-3) and warnings (4-7)."""

    alarms: Mapping[AlarmCondition, PairState] = field(default_factory=dict)
    warnings: Mapping[AlarmCondition, PairState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alarms", _frozen_states(self.alarms))
        object.__setattr__(self, "warnings", _frozen_states(self.warnings))

    @classmethod
    def from_active(
        cls, alarms: Iterable[AlarmCondition] = (), warnings: Iterable[AlarmCondition] = ()
    ) -> AlarmsWarnings:
        """Raise the given conditions and send an explicit *leave* for every other usable one.

        SMA-TI §7.1: a pair of 00 means "no change", so a cleared condition must be sent as
        "leave", never as 00; otherwise an alarm raised once would stay raised on the SI.
        """
        raised_alarms, raised_warnings = frozenset(alarms), frozenset(warnings)
        for condition in raised_alarms | raised_warnings:
            if not condition.usable:
                raise ValueError(f"{condition.name} is reserved by SMA and must not be raised")

        def states(raised: frozenset[AlarmCondition]) -> dict[AlarmCondition, PairState]:
            return {
                c: (PairState.RAISED if c in raised else PairState.CLEARED)
                for c in ALARM_CONDITIONS
                if c.usable
            }

        return cls(alarms=states(raised_alarms), warnings=states(raised_warnings))

    @property
    def raised_alarms(self) -> frozenset[AlarmCondition]:
        return frozenset(c for c, s in self.alarms.items() if s is PairState.RAISED)

    @property
    def raised_warnings(self) -> frozenset[AlarmCondition]:
        return frozenset(c for c, s in self.warnings.items() if s is PairState.RAISED)

    def __hash__(self) -> int:
        return hash((tuple(self.alarms.items()), tuple(self.warnings.items())))


@dataclass(frozen=True, slots=True)
class BmsEvents:
    """0x35B: "Events". SMA-TI gives no layout; SD sends eight zero bytes, and so do we."""

    data: bytes = bytes(8)


@dataclass(frozen=True, slots=True)
class ManufacturerName:
    """0x35E: the BMS manufacturer, up to 8 ASCII characters (display only)."""

    name: str


@dataclass(frozen=True, slots=True)
class BatteryInfo:
    """0x35F in SMA-TI's layout (REC and Victron put other things in bytes 0-3 and 6-7).

    Only ``capacity_ah`` is common to all variants; the SI only displays this frame.
    """

    battery_type: int | None
    bms_version: int | None
    capacity_ah: float | None
    manufacturer_id: int | None = None  #: "reserved" in SMA-TI: sent as invalid (0xFFFF)


@dataclass(frozen=True, slots=True)
class QuickStop:
    """0x00F: "remote quick stop". The SI goes to standby at once; it carries no data."""


@dataclass(frozen=True, slots=True)
class RemoteOnOff:
    """0x35C: inverter on/off. **Not in SMA's document**: used in the field by the original
    driver's successor (madsci1016 master, DLC 4). SMA-TI forbids IDs it does not list, so the
    gateway sends it only when the configuration enables it explicitly.
    """

    command: OnOffCommand
