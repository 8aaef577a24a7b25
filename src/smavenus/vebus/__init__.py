"""The SI as a Victron inverter/charger (``com.victronenergy.vebus.*``), sans-I/O.

:mod:`~smavenus.vebus.paths` describes every path once; :mod:`~smavenus.vebus.mapping`
turns fresh SI frames into path values; :mod:`~smavenus.vebus.energy` attributes and
integrates the energy counters; :mod:`~smavenus.vebus.core` holds the inputs with their
times and decides staleness, deadlines and what to persist. ``smavenus.io.vebus_*`` and
``smavenus.apps.vebus_publisher`` put it on the bus.
"""
