"""The charge controller and battery protection: a sans-I/O core stepped with ``now``.

See :mod:`smavenus.controller.controller` for the cycle, :mod:`smavenus.controller.charger` for the
state machine and regulator, :mod:`smavenus.controller.protections` for the protection table, and
``docs/controller.md`` for the user's view.
"""

from smavenus.controller.controller import ChargeController, Decision
from smavenus.controller.inputs import MonitorSample, SiSample
from smavenus.events import LogEvent

__all__ = ["ChargeController", "Decision", "LogEvent", "MonitorSample", "SiSample"]
