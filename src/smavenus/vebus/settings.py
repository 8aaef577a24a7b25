"""What the vebus-publisher's core is told once, at start: who it is on the bus, the DVCC
paths' starting values, how old an input may be, and the configuration choices it follows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smavenus.config import AppConfig
from smavenus.vebus.inputs import Options

#: Installation constants no SI frame tells us (venus-dbus.md §1.3, §2.1).
PRODUCT_ID = 0
#: VE.Bus firmware numbers are hex-coded; DVCC raises "firmware insufficient" below 0x422.
FIRMWARE_VERSION = 0x476
#: /FirmwareFeatures/BolFrame: we take DVCC's battery operational limits (the controller
#: follows them), so systemcalc sets /Control/MaxChargeCurrent as for a Multi that
#: understands BOL frames (gui-v1 offers "Limit charge current" only then).
BOL_FRAME = 1


@dataclass(frozen=True)
class Identity:
    process_name: str
    process_version: str
    connection: str
    product_name: str
    device_instance: int


@dataclass(frozen=True)
class BatteryLimits:
    """Starting values of the DVCC-written paths (DVCC only writes paths that are valid)."""

    max_charge_voltage_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    low_voltage_v: float


@dataclass(frozen=True)
class CoreSettings:
    identity: Identity
    limits: BatteryLimits
    #: The SI snapshot and its frames: ``[vebus] snapshot_max_age_s``.
    max_age_s: float = 5.0
    #: The gateway's health and the controller's status come at their own periods.
    health_max_age_s: float = 5.0
    controller_max_age_s: float = 5.0
    save_interval_s: float = 8.0
    mode_control: bool = False
    ac_in_current_limit_a: float | None = None
    options: Options = field(default_factory=Options)
    #: /Ac/NumberOfPhases until the SI shows its lines (venus-platform sets up the vebus
    #: alarm notifications only once it is valid).
    phases: int = 1

    @property
    def ac_inputs(self) -> int:
        """/Ac/NumberOfAcInputs: the SI always has its AC2 terminal; 2 when it also serves
        the generator as a second input."""
        return 2 if self.options.generator_as_ac_in_2 else 1

    @classmethod
    def from_config(
        cls, cfg: AppConfig, *, process_name: str, process_version: str
    ) -> CoreSettings:
        vebus, battery = cfg.vebus, cfg.battery
        max_age = vebus.snapshot_max_age_s
        return cls(
            identity=Identity(
                process_name=process_name,
                process_version=process_version,
                connection=f"SMA CAN {cfg.can.channel}",
                product_name=vebus.product_name,
                device_instance=vebus.device_instance,
            ),
            limits=BatteryLimits(
                max_charge_voltage_v=battery.max_charge_voltage_v,
                max_charge_current_a=battery.max_charge_current_a,
                max_discharge_current_a=battery.max_discharge_current_a,
                low_voltage_v=battery.min_discharge_voltage_v,
            ),
            max_age_s=max_age,
            health_max_age_s=max(max_age, 3 * cfg.gateway.health_period_s),
            controller_max_age_s=max(max_age, 3 * cfg.controller.period_s),
            save_interval_s=vebus.state_save_interval_s,
            mode_control=vebus.allow_mode_control and cfg.gateway.enable_remote_on_off,
            ac_in_current_limit_a=vebus.ac_in_current_limit_a,
            phases=vebus.phases,
            options=Options(
                generator_as_ac_in_2=vebus.generator_as_ac_in_2,
                grid_lost_alarm=vebus.grid_lost_alarm,
            ),
        )


def service_suffix(cfg: AppConfig) -> str:
    """``[vebus] service_suffix``, or ``sma_`` + the CAN channel's name (``sma_can0``)."""
    if cfg.vebus.service_suffix:
        return cfg.vebus.service_suffix
    channel = cfg.can.channel.rstrip("/").rsplit("/", 1)[-1]
    return "sma_" + (re.sub(r"[^A-Za-z0-9_]", "_", channel) or "can")
