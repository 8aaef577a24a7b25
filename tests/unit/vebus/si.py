"""Building SI snapshots the way the gateway does: frames encoded to bytes and decoded back."""

from __future__ import annotations

from typing import Any

from smavenus.ipc.messages import (
    ControllerLimits,
    ControllerStatus,
    GatewayHealth,
    Limit,
    SentLimits,
    SiSnapshot,
    Stamped,
)
from smavenus.protocol import (
    BatteryStatus,
    ExternalPower,
    ExternalReactivePower,
    ExternalVoltage,
    FunctionBits1,
    FunctionBits2,
    InverterPower,
    InverterReactivePower,
    OutputVoltage,
    RelayBits,
    RelayStatus,
    SiStatus,
    decode,
    encode,
)
from smavenus.protocol.specs import SPECS_BY_MODEL

GRID_ON = FunctionBits1.GD_ON | FunctionBits1.EXT_VF_OK
GRID_WAITING = FunctionBits1.EXT_VF_OK
NO_GRID = FunctionBits1(0)
NO_FUNCTIONS2 = FunctionBits2(0)
NO_RELAYS = RelayBits(0)


def wire(frame: Any) -> Any:
    """The frame as the gateway would have it after the CAN bus: encoded, then decoded."""
    return decode(*encode(frame))


def relay(
    functions1: FunctionBits1 = GRID_ON,
    functions2: FunctionBits2 = NO_FUNCTIONS2,
    relays: RelayBits = NO_RELAYS,
) -> RelayStatus:
    return RelayStatus(relays, functions1, functions2, 0)


def scene(
    *,
    ext_w: tuple[float, ...] = (0.0,),
    inv_w: tuple[float, ...] = (0.0,),
    out_v: tuple[float, ...] = (230.0,),
    ext_v: tuple[float, ...] = (230.0,),
    ext_var: tuple[float, ...] = (0.0,),
    inv_var: tuple[float, ...] = (0.0,),
    out_hz: float = 50.0,
    ext_hz: float = 50.0,
    battery_v: float = 52.8,
    battery_a_sma: float = 0.0,
    battery_c: float = 23.0,
    soc_pct: float = 80.0,
    relay_status: RelayStatus | None = None,
    operating_state: int = 1,
) -> list[Any]:
    """One SI cycle's frames. Lines missing from a tuple are sent as 0."""

    def three(values: tuple[float, ...]) -> list[float]:
        return [*values, *([0.0] * (3 - len(values)))]

    return [
        ExternalPower(*three(ext_w)),
        InverterPower(*three(inv_w)),
        ExternalReactivePower(*three(ext_var)),
        InverterReactivePower(*three(inv_var)),
        OutputVoltage(*three(out_v), out_hz),
        BatteryStatus(battery_v, battery_a_sma, battery_c, soc_pct),
        SiStatus(100.0, 10, operating_state, 0, 56.0),
        relay_status if relay_status is not None else relay(),
        ExternalVoltage(*three(ext_v), ext_hz),
    ]


def fresh_frames(frames: list[Any]) -> dict[str, Any]:
    """``{snapshot field name: frame after the wire}``, e.g. for ``Fresh(**…)``."""
    return {SPECS_BY_MODEL[type(frame)].name: wire(frame) for frame in frames}


def snapshot(
    frames: list[Any],
    received: float,
    *,
    sent: float | None = None,
    si_present: bool = True,
    seq: int = 1,
    received_at: dict[type, float] | None = None,
) -> SiSnapshot:
    """A snapshot whose frames were all received at ``received`` (unless overridden)."""
    fields: dict[str, Any] = {}
    for frame in frames:
        spec = SPECS_BY_MODEL[type(frame)]
        at = (received_at or {}).get(type(frame), received)
        fields[spec.name] = Stamped(received_monotonic=at, value=wire(frame))
    return SiSnapshot(
        seq=seq,
        sent_monotonic=received if sent is None else sent,
        sent_unix=1.7e9,
        si_present=si_present,
        **fields,
    )


def controller_status(
    charge_state: str = "bulk",
    *,
    sent: float,
    alarms: frozenset[str] = frozenset(),
    warnings: frozenset[str] = frozenset(),
    bms_connection_lost: bool = False,
) -> ControllerStatus:
    def limit(value: float) -> Limit:
        return Limit(value=value, reason="test")

    return ControllerStatus(
        seq=1,
        sent_monotonic=sent,
        sent_unix=1.7e9,
        charge_state=charge_state,  # type: ignore[arg-type]
        charge_state_since_monotonic=sent,
        charge_state_reason="test",
        limits=ControllerLimits(
            charge_voltage_v=limit(56.0),
            charge_current_a=limit(100.0),
            discharge_current_a=limit(200.0),
            discharge_voltage_v=limit(44.8),
        ),
        soc_pct=80.0,
        soc_reason="battery_monitor",
        measurement_source="battery_monitor",
        alarms=alarms,  # type: ignore[arg-type]
        warnings=warnings,  # type: ignore[arg-type]
        grid_assist_mode="off",
        grid_requested=False,
        grid_reason="test",
        settings_source="toml",
        bms_connection_lost=bms_connection_lost,
    )


def gateway_health(
    command_source: str = "controller",
    *,
    sent: float,
    alarms: frozenset[str] = frozenset(),
    warnings: frozenset[str] = frozenset(),
) -> GatewayHealth:
    return GatewayHealth(
        seq=1,
        sent_monotonic=sent,
        sent_unix=1.7e9,
        interface="virtual",
        channel="test",
        bus_state="active",
        si_present=True,
        frames_received=0,
        frames_scheduled=0,
        frames_dropped=0,
        frames_malformed=0,
        frames_foreign=0,
        command_source=command_source,  # type: ignore[arg-type]
        sent=SentLimits(
            charge_voltage_v=56.0,
            charge_current_a=100.0,
            discharge_current_a=200.0,
            discharge_voltage_v=44.8,
            soc_pct=80.0,
            alarms=alarms,  # type: ignore[arg-type]
            warnings=warnings,  # type: ignore[arg-type]
        ),
    )
