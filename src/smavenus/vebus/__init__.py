"""The SI as a Victron inverter/charger (``com.victronenergy.vebus.*``), sans-I/O.

:mod:`~smavenus.vebus.paths` describes every path once. Fresh SI frames
(:mod:`~smavenus.vebus.inputs`) become path values in :mod:`~smavenus.vebus.measurements`
(AC, DC, SoC), :mod:`~smavenus.vebus.operating_state` (``/State``),
:mod:`~smavenus.vebus.alarms` and :mod:`~smavenus.vebus.leds`;
:mod:`~smavenus.vebus.energy` attributes and integrates the energy counters;
:mod:`~smavenus.vebus.core` holds the inputs with their times and decides staleness,
deadlines and what to persist, as :mod:`~smavenus.vebus.settings` says;
:mod:`~smavenus.vebus.dvcc` records DVCC's writes, each with its stamp, for the controller.
``smavenus.io.publisher`` and ``smavenus.apps.vebus_publisher`` put it on the bus.
"""
