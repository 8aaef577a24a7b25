"""The seven cyclic BMS frames, built from one :class:`~smavenus.gateway.policy.BmsOutput`."""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.gateway.policy import BmsOutput
from smavenus.gateway.settings import BatteryIdentity
from smavenus.ipc.messages import SentLimits
from smavenus.protocol import (
    AlarmsWarnings,
    BatteryInfo,
    BatteryMeasurements,
    BmsEvents,
    ChargeLimits,
    ManufacturerName,
    SocSoh,
    encode,
)
from smavenus.protocol.specs import BMS_CYCLE_IDS


@dataclass(frozen=True, slots=True)
class Frame:
    can_id: int
    data: bytes


FrameSet = tuple[Frame, ...]


def build_frame_set(output: BmsOutput, identity: BatteryIdentity) -> FrameSet:
    """0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F, in :data:`BMS_CYCLE_IDS` order.

    0x35A goes out with every usable condition either raised or explicitly cleared
    (:meth:`AlarmsWarnings.from_active`), so a condition cleared here is cleared on the SI.
    """
    limits = output.limits
    models = (
        ChargeLimits(
            charge_voltage_v=limits.charge_voltage_v,
            charge_current_a=limits.charge_current_a,
            discharge_current_a=limits.discharge_current_a,
            discharge_voltage_v=limits.discharge_voltage_v,
        ),
        SocSoh(soc_pct=output.soc_pct, soh_pct=output.soh_pct, soc_hires_pct=output.soc_pct),
        BatteryMeasurements(
            voltage_v=output.battery_voltage_v,
            current_a=output.battery_current_a,
            temperature_c=output.battery_temperature_c,
        ),
        AlarmsWarnings.from_active(alarms=output.alarms, warnings=output.warnings),
        BmsEvents(),
        ManufacturerName(identity.manufacturer),
        BatteryInfo(
            battery_type=identity.battery_type,
            bms_version=identity.bms_version,
            capacity_ah=identity.capacity_ah,
        ),
    )
    frames = tuple(Frame(*encode(model)) for model in models)
    assert tuple(f.can_id for f in frames) == BMS_CYCLE_IDS
    return frames


def sent_limits(output: BmsOutput) -> SentLimits:
    """The health report's view of a frame set."""
    limits = output.limits
    # model_validate checks the condition names against the contract's Literal.
    return SentLimits.model_validate(
        {
            "charge_voltage_v": limits.charge_voltage_v,
            "charge_current_a": limits.charge_current_a,
            "discharge_current_a": limits.discharge_current_a,
            "discharge_voltage_v": limits.discharge_voltage_v,
            "soc_pct": output.soc_pct,
            "alarms": sorted(c.name.lower() for c in output.alarms),
            "warnings": sorted(c.name.lower() for c in output.warnings),
            "reasons": dict(output.reasons),
        }
    )
