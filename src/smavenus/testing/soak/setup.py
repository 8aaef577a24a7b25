"""The installation a soak runs: the simulated world and smavenus's configuration.

A three-phase Sunny Island cluster (three SI units, 1.5 kW of load per line) on a 280 Ah
LiFePO4 bank with a grid the SI connects by SoC (SMA's GdSocTm1Str/Stp, 40 %/80 %): the
battery cycles between the two — discharged off grid through the loads, recharged on grid at
the bulk current — so every quadrant of the energy counters is used and the battery never
nears a limit on its own. A separate BMS (dbus-serialbattery style) and systemcalc's DVCC
are there, so the controller has every input a soak can take away.

The world runs ``speed`` times faster than real time, but smavenus does not: the gateway
sends its frame set every wall-clock second. So the SI's own timeouts are stretched by the
same factor (``bms_timeout_s`` 60 s becomes ``60 × speed`` simulated seconds): to the SI, as
to the gateway, 60 s without BMS frames is still 60 wall-clock seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The SI's timeouts that a wall-clock sender has to meet (SMA-TI §5.1), in real seconds.
SI_BMS_TIMEOUT_S = 60.0
#: SoC the battery starts at: a few percent above the grid's start threshold, so even a
#: short soak sees the grid requested and the battery charged.
START_SOC_PCT = 44.0
LOAD_PER_LINE_W = 1500.0

_SCENARIO = """\
name = "soak"
description = "smavenus soak: three-phase SI, battery cycling 40-80 % by the SI's grid start"
seed = {seed}

[si]
preset = "three_230_50"
bms_timeout_s = {bms_timeout_s}
limits_timeout_s = {bms_timeout_s}

[grid]
request = "demand"
soc_start_pct = 40
soc_stop_pct = 80

[battery]
soc_pct = {soc_pct}
cell_spread_pct = 0.5

[loads]
power_w = [{load_w}, {load_w}, {load_w}]

[bms]
enabled = true
service = "separate"

[dvcc]
enabled = true
"""

#: smavenus's configuration beyond what the Stack writes (the bus, paths, logging, web).
#: ``/Mode`` is made writable so the invalid writes meet its validation, not a read-only
#: path; the three phases are the cluster's.
CONFIG_EXTRA = """
[vebus]
phases = 3
allow_mode_control = true

[gateway]
enable_remote_on_off = true
"""


@dataclass(frozen=True)
class SoakWorld:
    speed: float
    seed: int

    @property
    def bms_timeout_sim_s(self) -> float:
        return SI_BMS_TIMEOUT_S * self.speed

    def scenario_toml(self) -> str:
        return _SCENARIO.format(
            seed=self.seed,
            bms_timeout_s=self.bms_timeout_sim_s,
            soc_pct=START_SOC_PCT,
            load_w=LOAD_PER_LINE_W,
        )
