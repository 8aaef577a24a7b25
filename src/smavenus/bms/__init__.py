"""The charge controller and battery protection: a sans-I/O core stepped with ``now``.

See :mod:`smavenus.bms.controller` for the cycle, :mod:`smavenus.bms.charger` for the
state machine and regulator, :mod:`smavenus.bms.protections` for the protection table, and
``docs/controller.md`` for the user's view.
"""

from smavenus.bms.controller import BmsController, Decision
from smavenus.bms.events import Event
from smavenus.bms.inputs import MonitorSample, SiSample

__all__ = ["BmsController", "Decision", "Event", "MonitorSample", "SiSample"]
