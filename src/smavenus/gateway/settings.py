"""The numbers the gateway core runs on, taken once from the validated configuration.

The core never sees :class:`~smavenus.config.AppConfig`: it gets this flat, frozen record, so
a test can build one in a line and nothing reads configuration after start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.config import AppConfig


@dataclass(frozen=True, slots=True)
class HardLimits:
    """``[battery]``: nothing the gateway sends may leave these bounds."""

    max_charge_voltage_v: float
    min_discharge_voltage_v: float
    max_charge_current_a: float
    max_discharge_current_a: float


@dataclass(frozen=True, slots=True)
class BatteryIdentity:
    """What 0x35E and 0x35F show on the SI's display."""

    manufacturer: str
    battery_type: int
    bms_version: int
    capacity_ah: float


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    limits: HardLimits
    identity: BatteryIdentity
    #: ``[can]``: what the health reports as the link, and the BMS frame period.
    interface: str
    channel: str
    bms_period_s: float
    #: The staleness policy (``[gateway]``; see ``docs/gateway.md``).
    command_max_age_s: float
    stale_charge_ramp_a_per_s: float
    safe_discharge_current_a: float
    fallback_soc_pct: float
    #: Cold start sends the float voltage as CVL (``[controller] float_voltage_v``).
    cold_start_charge_voltage_v: float
    #: SI status frames and snapshots.
    si_absent_after_s: float
    snapshot_gap_s: float
    health_period_s: float
    #: The CAN link's recovery.
    reopen_backoff_initial_s: float
    reopen_backoff_max_s: float
    bus_off_reopen_after_s: float
    #: Stale escalation: W947 after the first, DVL up and DCL down after the second.
    stale_soc_hold_s: float = 300.0
    stale_discharge_limit_s: float = 900.0
    #: ``[controller] low_voltage_v`` and its discharge current: the escalated DVL and DCL.
    stale_discharge_voltage_v: float = 48.0
    stale_discharge_current_a: float = 20.0
    #: Reasons to re-open a link that claims to be fine.
    send_stall_reopen_after_s: float = 3.0
    si_silent_reopen_after_s: float = 30.0
    #: How late the frame stream (or the bus's recovery) may be before the watchdog acts.
    watchdog_stall_s: float = 5.0
    #: The edge gives up an open after this long (the watchdog allows for it).
    open_timeout_s: float = 5.0
    persist_interval_s: float = 10.0

    @classmethod
    def from_config(cls, cfg: AppConfig) -> GatewaySettings:
        bat, gw = cfg.battery, cfg.gateway
        return cls(
            limits=HardLimits(
                max_charge_voltage_v=bat.max_charge_voltage_v,
                min_discharge_voltage_v=bat.min_discharge_voltage_v,
                max_charge_current_a=bat.max_charge_current_a,
                max_discharge_current_a=bat.max_discharge_current_a,
            ),
            identity=BatteryIdentity(
                manufacturer=bat.manufacturer,
                battery_type=bat.battery_type,
                bms_version=bat.bms_version,
                capacity_ah=bat.capacity_ah,
            ),
            interface=cfg.can.interface,
            channel=cfg.can.channel,
            bms_period_s=cfg.can.bms_period_s,
            command_max_age_s=gw.command_max_age_s,
            stale_charge_ramp_a_per_s=gw.stale_charge_ramp_a_per_s,
            safe_discharge_current_a=gw.safe_discharge_current_a,
            fallback_soc_pct=gw.fallback_soc_pct,
            cold_start_charge_voltage_v=cfg.controller.float_voltage_v,
            si_absent_after_s=gw.si_absent_after_s,
            snapshot_gap_s=gw.snapshot_gap_s,
            health_period_s=gw.health_period_s,
            reopen_backoff_initial_s=gw.reopen_backoff_initial_s,
            reopen_backoff_max_s=gw.reopen_backoff_max_s,
            bus_off_reopen_after_s=gw.bus_off_reopen_after_s,
            stale_soc_hold_s=gw.stale_soc_hold_s,
            stale_discharge_limit_s=gw.stale_discharge_limit_s,
            stale_discharge_voltage_v=cfg.controller.low_voltage_v,
            stale_discharge_current_a=cfg.controller.low_voltage_discharge_current_a,
            send_stall_reopen_after_s=gw.send_stall_reopen_after_s,
            si_silent_reopen_after_s=gw.si_silent_reopen_after_s,
            watchdog_stall_s=gw.watchdog_stall_s,
            persist_interval_s=gw.persist_interval_s,
        )
