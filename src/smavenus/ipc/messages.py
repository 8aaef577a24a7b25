"""Pydantic models of every payload that crosses between smavenus processes.

Receivers validate with ``Model.model_validate_json(payload)``; anything that fails is
dropped with a logged reason and changes nothing. Models ignore unknown keys (``extra``), so
a briefly newer sender during an update does not break an older receiver; breaking changes
get a new interface version instead (see :mod:`smavenus.ipc.names`).

Time: ``*_monotonic`` fields are ``CLOCK_MONOTONIC`` seconds, which every process on the host
shares (Linux), so a receiver computes an age as ``now_monotonic - sent_monotonic``.
``sent_unix`` is wall-clock time for people and logs only; ages never use it.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from smavenus.protocol import frames as f
from smavenus.protocol.frames import AlarmCondition

T = TypeVar("T")

#: Every model here ignores unknown keys (see above), is immutable, and is built on first
#: use rather than at import: each process imports all of them but uses only some (the
#: gateway never reads a controller's status), and a built validator stays in memory for
#: good (about 0.25 MiB per process, ``docs/benchmarks.md``).
PAYLOAD = ConfigDict(extra="ignore", frozen=True, defer_build=True)

Finite = Annotated[float, Field(allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]

#: Names of the 0x35A conditions a BMS may raise (SMA's reserved pairs excluded).
ConditionName = Literal[
    "general",
    "high_voltage",
    "low_voltage",
    "high_temperature",
    "low_temperature",
    "high_temperature_charge",
    "low_temperature_charge",
    "high_current",
    "high_charge_current",
    "contactor",
    "short_circuit",
    "bms_internal",
    "cell_imbalance",
]


def condition_from_name(name: str) -> AlarmCondition:
    return AlarmCondition[name.upper()]


class Message(BaseModel):
    """Fields every payload carries."""

    model_config = PAYLOAD

    seq: int = Field(ge=0, description="increments by one per message from one sender process")
    sent_monotonic: Finite
    sent_unix: Finite

    def age_s(self, now_monotonic: float) -> float:
        return now_monotonic - self.sent_monotonic


class Stamped(BaseModel, Generic[T]):
    """A decoded SI frame and when the gateway received it."""

    model_config = PAYLOAD

    received_monotonic: Finite
    value: T

    def age_s(self, now_monotonic: float) -> float:
        return now_monotonic - self.received_monotonic


class SiSnapshot(Message):
    """Everything the SI said, one coherent snapshot per SI cycle (about once a second).

    Each frame keeps the time it arrived, so a receiver can tell a value from this cycle from
    one the SI skipped this time ("due to internal restrictions some data may be left out
    for one cycle", SMA-TI §6). ``None``: never received since the gateway started.
    Field names are the frame names of :data:`smavenus.protocol.specs.SI_FRAMES`.
    """

    si_present: bool = Field(description="a status frame arrived within si_absent_after_s")
    external_power: Stamped[f.ExternalPower] | None = None
    inverter_power: Stamped[f.InverterPower] | None = None
    external_reactive_power: Stamped[f.ExternalReactivePower] | None = None
    inverter_reactive_power: Stamped[f.InverterReactivePower] | None = None
    output_voltage: Stamped[f.OutputVoltage] | None = None
    battery_status: Stamped[f.BatteryStatus] | None = None
    si_status: Stamped[f.SiStatus] | None = None
    relay_status: Stamped[f.RelayStatus] | None = None
    total_load: Stamped[f.TotalLoad] | None = None
    external_voltage: Stamped[f.ExternalVoltage] | None = None
    power_summary: Stamped[f.PowerSummary] | None = None


#: The lowest SoC sent to the SI unless the controller says the battery is truly empty: 0 %
#: makes the SI switch off completely (SMA-TI §2), which a drifting monitor must not cause.
SOC_FLOOR_PCT = 1.0


class BmsCommand(Message):
    """What the bms-controller wants the gateway to send to the SI.

    The gateway clamps every limit to the configured hard limits again before sending
    (defence in depth); out-of-range values here are clamped, not rejected. Non-finite
    numbers and unknown condition names are rejected.
    """

    charge_voltage_v: Finite
    charge_current_a: Finite
    discharge_current_a: Finite
    discharge_voltage_v: Finite
    soc_pct: Percent
    soh_pct: Percent = 100.0
    battery_voltage_v: Finite | None = None
    battery_current_a: Finite | None = Field(None, description="+ = charging (Victron's sign)")
    battery_temperature_c: Finite | None = None
    alarms: frozenset[ConditionName] = frozenset()
    warnings: frozenset[ConditionName] = frozenset()
    #: Why each limit has its value, for logs and displays: {"charge_current_a": "absorption"}.
    reasons: dict[str, str] = Field(default_factory=dict)
    battery_empty: bool = Field(
        False,
        description="the controller judged the battery truly empty (for long enough): only "
        "then may the gateway send a SoC below 1 %",
    )


BusState = Literal["opening", "active", "passive", "bus_off", "down"]
#: Where the limits being sent come from (the gateway's staleness policy).
CommandSource = Literal["cold_start", "persisted", "controller", "stale"]


class SentLimits(BaseModel):
    """The values in the last BMS frame set, after clamping, with the reason for each."""

    model_config = PAYLOAD

    charge_voltage_v: Finite
    charge_current_a: Finite
    discharge_current_a: Finite
    discharge_voltage_v: Finite
    soc_pct: Percent
    alarms: frozenset[ConditionName] = frozenset()
    warnings: frozenset[ConditionName] = frozenset()
    reasons: dict[str, str] = Field(default_factory=dict)


class GatewayHealth(Message):
    """The can-gateway's view of the bus and of what it sends."""

    interface: str
    channel: str
    bus_state: BusState
    si_present: bool
    frames_received: int = Field(ge=0)
    frames_scheduled: int = Field(
        ge=0,
        description="BMS frames scheduled for the wire: handed to the driver (slcan, virtual), "
        "or held in the kernel's periodic BCM job once per period (socketcan)",
    )
    frames_dropped: int = Field(ge=0, description="sends that failed")
    frames_malformed: int = Field(ge=0, description="SI frames that failed to decode")
    frames_foreign: int = Field(ge=0, description="frames of IDs we do not use (filtered late)")
    last_seen_monotonic: dict[str, Finite] = Field(
        default_factory=dict, description='per CAN ID ("0x305"), when it was last received'
    )
    command_source: CommandSource
    command_age_s: Finite | None = None
    sent: SentLimits | None = None
    # Added after the first version; defaults keep older senders' payloads valid.
    commands_accepted: int = Field(0, ge=0)
    commands_rejected: int = Field(
        0, ge=0, description="invalid payload, stale on arrival or out of order"
    )
    commands_unauthorized: int = Field(
        0, ge=0, description="Command signals not sent by the owner of io.smavenus.BmsController"
    )
    bus_reopens: int = Field(0, ge=0, description="times the CAN bus was re-opened after a loss")
    adapter_errors: int = Field(0, ge=0, description="unparsable lines or error replies (slcan)")


# bms-controller ----------------------------------------------------------------------------

#: The charge controller's states (docs/controller.md). The vebus publisher maps them to
#: ``/VebusChargeState`` (1 bulk, 2 absorption, 3 float) and ``/State`` (3, 4, 5).
ChargeStateName = Literal["bulk", "absorption", "float"]
#: How the controller uses the SI's SoC-based grid start (232.41 GdSocEna, 233.01-04).
GridAssistModeName = Literal["off", "low_battery", "keep_charged", "time_window"]
#: Where the controller's live settings come from.
SettingsSource = Literal["toml", "localsettings"]
#: Which measurements the controller regulates on.
MeasurementSource = Literal["battery_monitor", "bms", "si", "none"]
#: How the charge voltage is chosen this cycle: our charge stages, the battery BMS's voltage,
#: or the reduced limits of a BMS that was there and is lost (docs/controller.md).
ChargeControlMode = Literal["own", "follow_bms", "bms_lost"]
ProtectionLevel = Literal["warning", "alarm"]


class Limit(BaseModel):
    """One limit sent to the SI and the reason it has this value (``"absorption"``,
    ``"cell_over_voltage"``, ``"temperature_derate"``, ``"hard_limit"`` …)."""

    model_config = PAYLOAD

    value: Finite
    reason: str


class ControllerLimits(BaseModel):
    """The four 0x351 limits, as commanded (before the gateway's own clamp)."""

    model_config = PAYLOAD

    charge_voltage_v: Limit
    charge_current_a: Limit
    discharge_current_a: Limit
    discharge_voltage_v: Limit


class InputState(BaseModel):
    """How fresh one input is. ``age_s`` None: never received since the controller started."""

    model_config = PAYLOAD

    age_s: Finite | None = None
    stale: bool
    source: str | None = Field(None, description="the D-Bus service it comes from, if any")


class ActiveProtection(BaseModel):
    """A protection that is raising a warning or an alarm now."""

    model_config = PAYLOAD

    name: str = Field(description='the rule, e.g. "cell_high_voltage", "battery_monitor_stale"')
    condition: ConditionName | None = Field(
        None, description="the SMA condition raised; None: the rule acts on the limits only"
    )
    level: ProtectionLevel
    value: Finite | None = Field(None, description="the measured value that triggered it")
    threshold: Finite | None = Field(None, description="the threshold it crossed")
    since_monotonic: Finite


class ControllerStatus(Message):
    """What the bms-controller is doing and why; emitted with every command.

    For the vebus publisher (``/State``, ``/VebusChargeState``, ``/Alarms/*``) and displays.
    ``alarms``/``warnings`` are exactly what the matching :class:`BmsCommand` carries.
    """

    charge_state: ChargeStateName
    charge_state_since_monotonic: Finite
    charge_state_reason: str = Field(description='why the state was entered, e.g. "tail_current"')
    limits: ControllerLimits
    soc_pct: Percent = Field(description="the SoC sent to the SI")
    soc_reason: str = Field(description='"battery_monitor", "grid_request", "estimated" …')
    battery_soc_pct: Percent | None = Field(None, description="the SoC measured (monitor)")
    measurement_source: MeasurementSource
    battery_voltage_v: Finite | None = None
    battery_current_a: Finite | None = Field(None, description="+ = charging (Victron's sign)")
    battery_temperature_c: Finite | None = None
    min_cell_voltage_v: Finite | None = None
    max_cell_voltage_v: Finite | None = None
    alarms: frozenset[ConditionName] = frozenset()
    warnings: frozenset[ConditionName] = frozenset()
    protections: tuple[ActiveProtection, ...] = ()
    grid_assist_mode: GridAssistModeName
    grid_requested: bool = Field(description="the reported SoC is lowered to make the SI connect")
    grid_reason: str
    #: Keys: "battery_monitor", "si" (the SI's 0x305 in the gateway's snapshot).
    inputs: dict[str, InputState] = Field(default_factory=dict)
    battery_service: str | None = Field(None, description="the battery monitor followed")
    settings_source: SettingsSource
    last_full_charge_unix: Finite | None = Field(
        None, description="wall-clock time the last absorption ended on tail current"
    )
    # Added with the battery BMS and DVCC; defaults keep older senders' payloads valid.
    charge_control: ChargeControlMode = "own"
    bms_service: str | None = Field(None, description="the battery BMS followed, if any")
    bms_fresh: bool = False
    bms_connection_lost: bool = Field(
        False, description="a BMS was there and is lost (vebus /Alarms/BmsConnectionLost)"
    )
    dvcc_on: bool = Field(False, description="systemcalc's DVCC is on (/Control/Dvcc)")
    #: What each source says per limit: {"charge_current_a": {"bms_info": 30.0, "dvcc": 25.0}}.
    candidates: dict[str, dict[str, Finite]] = Field(default_factory=dict)
    sensor_disagreement: bool = False
    frozen_sources: tuple[str, ...] = ()


class RequestOutcome(BaseModel):
    """The controller's answer to StartFullCharge or AcknowledgeAlarms."""

    model_config = PAYLOAD

    accepted: bool
    reason: str | None = Field(None, description="why it was refused")
    released: tuple[ConditionName, ...] = Field((), description="alarms acknowledged")


# vebus-publisher ---------------------------------------------------------------------------


class WrittenValue(BaseModel):
    """One value written into the vebus service by another process, and when it arrived."""

    model_config = PAYLOAD

    value: Finite | None = Field(description="None: the writer sent the invalid marker")
    written_monotonic: Finite


class DvccWrites(Message):
    """DVCC's latest writes into our vebus service (systemcalc writes every 3 s while on).

    Every accepted write is stamped, also one that did not change the value: an unchanged
    write emits no PropertiesChanged, yet it is what tells the controller that DVCC is alive.
    ``None``: never written since the publisher started.
    """

    #: /BatteryOperationalLimits/MaxChargeVoltage
    max_charge_voltage_v: WrittenValue | None = None
    #: /BatteryOperationalLimits/MaxChargeCurrent
    max_charge_current_a: WrittenValue | None = None
    #: /BatteryOperationalLimits/MaxDischargeCurrent
    max_discharge_current_a: WrittenValue | None = None
    #: /BatteryOperationalLimits/BatteryLowVoltage
    battery_low_voltage_v: WrittenValue | None = None
    #: /Dc/0/MaxChargeCurrent
    dc_max_charge_current_a: WrittenValue | None = None


#: The vebus path of each DvccWrites field.
DVCC_WRITE_PATHS: dict[str, str] = {
    "/BatteryOperationalLimits/MaxChargeVoltage": "max_charge_voltage_v",
    "/BatteryOperationalLimits/MaxChargeCurrent": "max_charge_current_a",
    "/BatteryOperationalLimits/MaxDischargeCurrent": "max_discharge_current_a",
    "/BatteryOperationalLimits/BatteryLowVoltage": "battery_low_voltage_v",
    "/Dc/0/MaxChargeCurrent": "dc_max_charge_current_a",
}
