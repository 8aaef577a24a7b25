"""The SI's AC2 input: grid or generator, when it is requested, valid, and connected.

SI 4548/6048-US manual groups 232/233, as summarised in the reference notes: AC2 is
**requested** by SoC (GdSocTm1Str/Stp, with hysteresis) and optionally by load
(GdPwrStr/Stp), or always; it is **valid** when voltage and frequency are within limits
(the 0x307 ExtVfOk bit); the relay **closes** (GdOn) once AC2 has been valid for GdVldTm, also
after each start of the SI, and opens at once when AC2 is lost, released, or the SI stops.
A generator only produces a voltage while requested, after its warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from smavenus.sim.events import EventKind, Recorder
from smavenus.sim.scenario import GridSection

#: AC2 is valid within these fractions of the nominal voltage and frequency.
VOLTAGE_WINDOW = (0.80, 1.15)
FREQUENCY_WINDOW = (0.95, 1.05)


@dataclass(frozen=True, slots=True)
class Ac2Inputs:
    present: bool  #: mains present / generator available (fuel, not failed)
    voltage_v: float
    frequency_hz: float
    soc_pct: float  #: the SoC the SI uses (the BMS's, or its 0 % default)
    total_load_w: float


class Ac2:
    def __init__(
        self, cfg: GridSection, nominal_v: float, nominal_hz: float, recorder: Recorder
    ) -> None:
        self.cfg = cfg
        self.nominal_v = nominal_v
        self.nominal_hz = nominal_hz
        self.rec = recorder
        self.live = False  #: a voltage on AC2 (mains present, or the generator running)
        self.valid = False  #: ExtVfOk
        self.valid_since_s = 0.0
        self.soc_request = False
        self.load_request = False
        self.requested = False
        self.relay_closed = False  #: GdOn
        self.generator_started_s: float | None = None

    def ready(self, now_s: float) -> bool:
        """Valid for at least GdVldTm."""
        return self.valid and now_s - self.valid_since_s >= self.cfg.valid_time_s

    def connect_time_s(self, started_s: float) -> float:
        """When the relay may close: GdVldTm after AC2 became valid and after the SI started."""
        return max(self.valid_since_s, started_s) + self.cfg.valid_time_s

    def deadlines(self, started_s: float) -> list[float]:
        times = []
        if self.valid and self.requested and not self.relay_closed:
            times.append(self.valid_since_s + self.cfg.valid_time_s)
            times.append(self.connect_time_s(started_s))
        if self.generator_started_s is not None:
            times.append(self.generator_started_s + self.cfg.generator_warmup_s)
        return times

    def update(self, now_s: float, x: Ac2Inputs) -> None:
        """Request, generator and validity at ``now_s`` (the relay is :meth:`switch`'s)."""
        self._update_request(now_s, x)
        generator = self.cfg.kind == "generator"
        if generator:
            wanted = self.requested and x.present
            if wanted and self.generator_started_s is None:
                self.generator_started_s = now_s
            if not wanted:
                self.generator_started_s = None
        running = (
            self.generator_started_s is not None
            and now_s >= self.generator_started_s + self.cfg.generator_warmup_s
        )
        self.live = running if generator else x.present
        valid = (
            self.live
            and VOLTAGE_WINDOW[0] * self.nominal_v
            <= x.voltage_v
            <= VOLTAGE_WINDOW[1] * self.nominal_v
            and FREQUENCY_WINDOW[0] * self.nominal_hz
            <= x.frequency_hz
            <= FREQUENCY_WINDOW[1] * self.nominal_hz
        )
        if valid != self.valid:
            self.valid = valid
            self.valid_since_s = now_s
            self.rec.record(now_s, EventKind.AC2_VALID if valid else EventKind.AC2_LOST)

    def _update_request(self, now_s: float, x: Ac2Inputs) -> None:
        cfg = self.cfg
        if x.soc_pct <= cfg.soc_start_pct:
            self.soc_request = True
        elif x.soc_pct >= cfg.soc_stop_pct:
            self.soc_request = False
        if cfg.power_start_w is not None:
            if x.total_load_w >= cfg.power_start_w:
                self.load_request = True
            elif x.total_load_w <= cfg.power_stop_w:
                self.load_request = False
        reasons = [
            name
            for name, active in (
                ("always", cfg.request == "always"),
                ("soc", cfg.request == "demand" and self.soc_request),
                ("load", cfg.request == "demand" and self.load_request),
            )
            if active
        ]
        requested = bool(reasons)
        if requested != self.requested:
            self.requested = requested
            kind = EventKind.GRID_REQUESTED if requested else EventKind.GRID_RELEASED
            self.rec.record(now_s, kind, reasons=reasons, soc_pct=x.soc_pct)

    def switch(self, now_s: float, *, operating: bool, started_s: float) -> None:
        """Close or open the relay as the rules say."""
        should_close = (
            operating and self.requested and self.valid and now_s >= self.connect_time_s(started_s)
        )
        if should_close and not self.relay_closed:
            self.relay_closed = True
            self.rec.record(now_s, EventKind.GRID_CONNECTED, source=self.cfg.kind)
        elif self.relay_closed and not should_close:
            reason = "ac2_lost" if not self.valid else "released" if not self.requested else "stop"
            self.open(now_s, reason)

    def open(self, now_s: float, reason: str) -> None:
        if self.relay_closed:
            self.relay_closed = False
            self.rec.record(now_s, EventKind.GRID_DISCONNECTED, reason=reason)
