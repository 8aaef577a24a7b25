"""A simulated Sunny Island cluster, battery and battery monitor: the pure, deterministic core.

``Simulation(scenario, seed=...)`` is stepped on simulated time by an edge
(``smavenus.io.sim``) or directly by tests and benchmarks. See ``docs/simulator.md``.
"""

from smavenus.sim.bms import BmsUpdate
from smavenus.sim.events import EventKind, Recorder, SimEvent
from smavenus.sim.monitor import MonitorReading
from smavenus.sim.scenario import Scenario, ScenarioEvent, load_scenario, parse_scenario
from smavenus.sim.simulation import EdgeAction, FrameOut, Output, Simulation

__all__ = [
    "BmsUpdate",
    "EdgeAction",
    "EventKind",
    "FrameOut",
    "MonitorReading",
    "Output",
    "Recorder",
    "Scenario",
    "ScenarioEvent",
    "SimEvent",
    "Simulation",
    "load_scenario",
    "parse_scenario",
]
