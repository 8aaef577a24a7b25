"""The soak: the whole system under daemontools on the simulator, faults injected at random
for minutes or hours, judged by the simulator's record (``bench/soak.py``,
``tests/integration/test_soak.py``).

    report = asyncio.run(Soak(SoakOptions(minutes=4), workdir).run())   # one JSON-able dict

Modules: ``setup`` (the simulated world and the configuration), ``injections`` (every fault
and how it is undone), ``values`` (the invalid D-Bus values and settings), ``engine`` (the
run), ``supervision`` (lives, memory and logs of the services), ``energy`` and ``judge`` (the
report).
"""

from smavenus.testing.soak.engine import Soak, SoakOptions

__all__ = ["Soak", "SoakOptions"]
