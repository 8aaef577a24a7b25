"""The simulated battery BMS: its Venus paths and what it publishes for the simulated bank.

What a BMS driver puts on ``com.victronenergy.battery.*`` (dbus-serialbattery, CAN-bus
batteries; ``battery-bms-and-dvcc.md`` §2): the four ``/Info`` limits, the ``/Io``
permissions, cell extremes, modules online and ``/Alarms/*`` (0 ok, 1 warning, 2 alarm).
The limits and permissions are the scenario's (``[bms]``, changed by ``bms_limits`` events);
the alarms follow the simulated cells, pack, SoC and temperature against ``[bms]``'s
thresholds, raised further by forced levels from events. With ``service = "monitor"`` only
:data:`BMS_SPECS` are added to the monitor's service; ``"separate"`` is a service of its
own (:data:`BMS_SERVICE_SPECS`) with its own pack measurements.

The bank has one thermal mass, so min and max cell temperature are both its temperature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smavenus.sim.battery import Battery
from smavenus.sim.events import EventKind, Recorder
from smavenus.sim.faults import state_of
from smavenus.sim.monitor import CELL_VOLTAGE_SPECS, DC_SPECS, IDENTITY_SPECS, battery_identity
from smavenus.sim.power import Flow
from smavenus.sim.scenario_venus import BMS_ALARMS, BmsLimitsEvent, BmsSection
from smavenus.sim.status import Noise
from smavenus.victron.items import ItemSpec, ItemType

INT, DBL = ItemType.INT, ItemType.DOUBLE

#: scenario key → /Info path of the four limits.
LIMIT_PATHS: Mapping[str, str] = {
    "max_charge_voltage_v": "/Info/MaxChargeVoltage",
    "max_charge_current_a": "/Info/MaxChargeCurrent",
    "max_discharge_current_a": "/Info/MaxDischargeCurrent",
    "battery_low_voltage_v": "/Info/BatteryLowVoltage",
}

BMS_SPECS: tuple[ItemSpec, ...] = (
    ItemSpec("/Info/MaxChargeVoltage", DBL, "V", decimals=3),
    ItemSpec("/Info/MaxChargeCurrent", DBL, "A", decimals=1),
    ItemSpec("/Info/MaxDischargeCurrent", DBL, "A", decimals=1),
    ItemSpec("/Info/BatteryLowVoltage", DBL, "V", decimals=3),
    ItemSpec("/Info/ChargeRequest", INT),
    ItemSpec("/Io/AllowToCharge", INT),
    ItemSpec("/Io/AllowToDischarge", INT),
    ItemSpec("/System/MinCellTemperature", DBL, "°C", decimals=1),
    ItemSpec("/System/MaxCellTemperature", DBL, "°C", decimals=1),
    ItemSpec("/System/NrOfModulesOnline", INT),
    *(ItemSpec(f"/Alarms/{name}", INT) for name in BMS_ALARMS),
)
BMS_SERVICE_SPECS: tuple[ItemSpec, ...] = (
    *IDENTITY_SPECS,
    *DC_SPECS,
    *CELL_VOLTAGE_SPECS,
    *BMS_SPECS,
)
#: Invalid while the BMS is disconnected (its /Info limits stay, as serialbattery's do).
BMS_MEASURED_PATHS: tuple[str, ...] = (
    *(s.path for s in DC_SPECS),
    *(s.path for s in CELL_VOLTAGE_SPECS),
    "/System/MinCellTemperature",
    "/System/MaxCellTemperature",
)
#: The paths recorded as ``bms_limits`` when they change (not the measurements).
RECORDED_PREFIXES = ("/Info/", "/Io/", "/Alarms/")
BMS_CONNECTION = "Simulated CAN-bus"
_UNSEEN = object()  #: a path not published yet: any value is a change


def bms_identity(cfg: BmsSection) -> dict[str, Any]:
    return battery_identity(
        cfg.device_instance, cfg.product_id, cfg.product_name, connection=BMS_CONNECTION
    )


@dataclass(frozen=True, slots=True)
class BmsReading:
    """What the BMS measures at ``time_s`` (simulated); current + while charging."""

    time_s: float
    voltage_v: float
    current_a: float
    soc_pct: float
    temperature_c: float
    min_cell_v: float
    max_cell_v: float


@dataclass(frozen=True, slots=True)
class BmsUpdate:
    """The values the BMS publishes now (an output of the simulation)."""

    time_s: float
    values: Mapping[str, Any]


def bms_reading(
    now_s: float, battery: Battery, flow: Flow, cfg: BmsSection, noise: Noise
) -> BmsReading:
    min_cell, max_cell = battery.cell_voltages_v(flow.battery_current_a)
    return BmsReading(
        time_s=now_s,
        voltage_v=battery.terminal_v(flow.battery_current_a) + noise("battery_voltage_v"),
        current_a=flow.battery_current_a + noise("battery_current_a"),
        soc_pct=min(max(battery.soc_pct + cfg.soc_offset_pct, 0.0), 100.0),
        temperature_c=battery.temperature_c + noise("temperature_c"),
        min_cell_v=min_cell,
        max_cell_v=max_cell,
    )


def _high(value: float, warning: float, alarm: float) -> int:
    return 2 if value >= alarm else 1 if value >= warning else 0


def _low(value: float, warning: float, alarm: float) -> int:
    return 2 if value <= alarm else 1 if value <= warning else 0


def cell_alarms(reading: BmsReading, cfg: BmsSection, cells: int) -> dict[str, int]:
    """The alarm levels that follow the measurements (pack thresholds = cells × cell ones)."""
    temp = reading.temperature_c
    levels = {
        "HighCellVoltage": _high(
            reading.max_cell_v, cfg.high_cell_warning_v, cfg.high_cell_alarm_v
        ),
        "LowCellVoltage": _low(reading.min_cell_v, cfg.low_cell_warning_v, cfg.low_cell_alarm_v),
        "HighVoltage": _high(
            reading.voltage_v, cells * cfg.high_cell_warning_v, cells * cfg.high_cell_alarm_v
        ),
        "LowVoltage": _low(
            reading.voltage_v, cells * cfg.low_cell_warning_v, cells * cfg.low_cell_alarm_v
        ),
        "CellImbalance": _high(
            reading.max_cell_v - reading.min_cell_v,
            cfg.cell_imbalance_warning_v,
            cfg.cell_imbalance_alarm_v,
        ),
        "LowSoc": _low(reading.soc_pct, cfg.low_soc_warning_pct, cfg.low_soc_alarm_pct),
        "HighTemperature": _high(
            temp, cfg.high_temperature_warning_c, cfg.high_temperature_alarm_c
        ),
        "LowTemperature": _low(temp, cfg.low_temperature_warning_c, cfg.low_temperature_alarm_c),
        "HighChargeTemperature": _high(
            temp, cfg.high_charge_temperature_warning_c, cfg.high_charge_temperature_alarm_c
        ),
        "LowChargeTemperature": _low(
            temp, cfg.low_charge_temperature_warning_c, cfg.low_charge_temperature_alarm_c
        ),
    }
    return {name: levels.get(name, 0) for name in BMS_ALARMS}


@dataclass
class BmsLimits:
    """What the BMS asks for: limits (None = invalid), permissions, forced alarm levels."""

    limits: dict[str, float | None]
    allow_to_charge: bool
    allow_to_discharge: bool
    charge_request: bool
    forced_alarms: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_section(cls, cfg: BmsSection) -> BmsLimits:
        return cls(
            {key: getattr(cfg, key) for key in LIMIT_PATHS},
            cfg.allow_to_charge,
            cfg.allow_to_discharge,
            cfg.charge_request,
        )

    def apply(self, event: BmsLimitsEvent) -> None:
        for key in LIMIT_PATHS:
            value = getattr(event, key)
            if value is not None:
                self.limits[key] = value
        for key in event.invalid:
            self.limits[key] = None
        for key in ("allow_to_charge", "allow_to_discharge", "charge_request"):
            value = getattr(event, key)
            if value is not None:
                setattr(self, key, value)
        for name, level in event.alarms.items():
            if level:
                self.forced_alarms[name] = level
            else:
                self.forced_alarms.pop(name, None)


def bms_values(
    reading: BmsReading, cfg: BmsSection, limits: BmsLimits, cells: int
) -> dict[str, Any]:
    """Every path of :data:`BMS_SERVICE_SPECS` but the identity, for this reading."""
    measured = cell_alarms(reading, cfg, cells)
    alarms = {
        name: max(level, limits.forced_alarms.get(name, 0)) for name, level in measured.items()
    }
    block = cfg.block_at_cell_alarm
    allow_charge = limits.allow_to_charge and not (block and measured["HighCellVoltage"] == 2)
    allow_discharge = limits.allow_to_discharge and not (block and measured["LowCellVoltage"] == 2)
    return {
        "/Soc": reading.soc_pct,
        "/Dc/0/Voltage": reading.voltage_v,
        "/Dc/0/Current": reading.current_a,
        "/Dc/0/Power": reading.voltage_v * reading.current_a,
        "/Dc/0/Temperature": reading.temperature_c,
        "/System/MinCellVoltage": reading.min_cell_v,
        "/System/MaxCellVoltage": reading.max_cell_v,
        **{path: limits.limits[key] for key, path in LIMIT_PATHS.items()},
        "/Info/ChargeRequest": int(limits.charge_request),
        "/Io/AllowToCharge": int(allow_charge),
        "/Io/AllowToDischarge": int(allow_discharge),
        "/System/MinCellTemperature": reading.temperature_c,
        "/System/MaxCellTemperature": reading.temperature_c,
        "/System/NrOfModulesOnline": cfg.modules,
        **{f"/Alarms/{name}": level for name, level in alarms.items()},
    }


class BmsModel:
    """The BMS inside the simulation: samples the bank, records what it changes."""

    def __init__(self, cfg: BmsSection, cells: int, recorder: Recorder, noise: Noise) -> None:
        self.cfg = cfg
        self.cells = cells
        self.limits = BmsLimits.from_section(cfg)
        self.state = "normal"
        self.values: dict[str, Any] = {}
        self._rec = recorder
        self._noise = noise
        self._reading: BmsReading | None = None
        specs = BMS_SPECS if cfg.service == "monitor" else BMS_SERVICE_SPECS
        identity = {s.path for s in IDENTITY_SPECS}
        #: What this BMS publishes (on the monitor's service: only the BMS's own paths).
        self.paths = frozenset(s.path for s in specs if s.path not in identity)

    @property
    def shares_monitor(self) -> bool:
        return self.cfg.service == "monitor"

    def sample(self, now_s: float, battery: Battery, flow: Flow) -> BmsUpdate:
        self._reading = bms_reading(now_s, battery, flow, self.cfg, self._noise)
        return self._publish(now_s, self._reading)

    def apply_limits(self, now_s: float, event: BmsLimitsEvent) -> BmsUpdate | None:
        """Change what the BMS asks for; the new values go out at once (if it has sampled)."""
        self.limits.apply(event)
        return None if self._reading is None else self._publish(now_s, self._reading)

    def set_state(self, now_s: float, request: str) -> None:
        new = state_of(request)
        if new != self.state:
            self._rec.record(now_s, EventKind.BMS_STATE, old=self.state, new=new)
            self.state = new

    def status(self) -> dict[str, Any]:
        recorded = {p: v for p, v in self.values.items() if p.startswith(RECORDED_PREFIXES)}
        return {"service": self.cfg.service, "state": self.state, "values": recorded}

    def _publish(self, now_s: float, reading: BmsReading) -> BmsUpdate:
        values = bms_values(reading, self.cfg, self.limits, self.cells)
        values = {p: v for p, v in values.items() if p in self.paths}
        changed = {
            path: value
            for path, value in values.items()
            if path.startswith(RECORDED_PREFIXES) and self.values.get(path, _UNSEEN) != value
        }
        self.values = values
        if changed:
            self._rec.record(now_s, EventKind.BMS_LIMITS, changed=changed)
        return BmsUpdate(now_s, values)
