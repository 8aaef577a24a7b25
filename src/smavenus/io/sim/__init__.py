"""The simulator's edges: CAN links, the battery monitor and systemcalc on D-Bus, the control
socket, and the runner that steps :class:`smavenus.sim.Simulation` on the event loop."""

from smavenus.io.sim.links import PythonCanLink, SiLink, SlcanLink
from smavenus.io.sim.runner import SimRunner

__all__ = ["PythonCanLink", "SiLink", "SimRunner", "SlcanLink"]
