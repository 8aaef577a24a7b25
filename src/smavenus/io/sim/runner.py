"""Steps a :class:`~smavenus.sim.Simulation` on the running event loop and wires it to the edges.

One ``loop.call_at`` timer, re-armed from the simulation's next deadline (a status cycle, a
timeout, a scenario event) mapped to loop time by the :class:`~smavenus.sim.clock.SimClock`;
each host frame also advances the model to "now" first. The integration itself runs inside
``advance_to`` between two yields, so at any speed the loop keeps serving the pty, D-Bus and
the control socket.

Use it from a test::

    sim = Simulation(scenario, seed=1)
    async with SimRunner(sim, SlcanLink(tmp_path / "ttyACM0"), speed=20) as runner:
        host = can.Bus(interface="slcan", channel=runner.link.path, ...)
        event = await runner.wait_for(EventKind.F952_RAISED)
        sim.recorder.events  # everything, stamped with simulated time
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import structlog

from smavenus.io.sim.control import ControlServer
from smavenus.io.sim.inject import Injector
from smavenus.io.sim.links import SiLink
from smavenus.io.sim.venus import SimVenus
from smavenus.io.sim.victron import SimBatteryService, SimSystemCalc
from smavenus.io.tasks import OwnedTasks
from smavenus.sim.bms import BmsUpdate
from smavenus.sim.clock import SimClock
from smavenus.sim.control import ApplyRequest, BurstRequest, InjectRequest, StatusRequest, answer
from smavenus.sim.events import EventKind, SimEvent
from smavenus.sim.monitor import MonitorReading
from smavenus.sim.scenario import ScenarioEvent
from smavenus.sim.simulation import EdgeAction, FrameOut, Simulation

log = structlog.get_logger(__name__)


class SimRunner:
    """Runs ``sim`` on ``link`` at ``speed`` × real time until :meth:`stop`."""

    def __init__(
        self,
        sim: Simulation,
        link: SiLink,
        *,
        speed: float = 1.0,
        start_on_open: bool = False,
        events_file: Path | None = None,
        bms_frames_file: Path | None = None,
        battery_monitor: str | None = None,
        systemcalc: bool = True,
        control_path: Path | None = None,
    ) -> None:
        self.sim = sim
        self.link = link
        self.clock = SimClock(speed)
        # The host sends on real time: a gap worth reporting is 2.5 wall-clock seconds, so
        # a faster clock does not report every one of its (stretched) periods as a gap.
        sim.recorder.gap_report_s *= max(speed, 1.0)
        self.start_on_open = start_on_open
        self.events_file = events_file
        self.bms_frames_file = bms_frames_file
        self.control_path = control_path
        self.finished = asyncio.Event()  #: set when the scenario's duration_s is reached
        self.clock_started = asyncio.Event()  #: set when simulated time starts to run
        self.frames_delivered = 0
        self.frames_undelivered = 0
        #: The control socket's ``inject`` and ``burst`` (frames for the host only).
        self.injector = Injector(link)
        #: The Venus services (battery monitor, BMS, systemcalc), with ``battery_monitor``.
        self.venus: SimVenus | None = None
        if battery_monitor is not None:
            self.venus = SimVenus(
                sim, battery_monitor, systemcalc=systemcalc, on_dvcc_cycle=self._dvcc_cycle
            )
        venus = self.venus
        self.monitor: SimBatteryService | None = None if venus is None else venus.monitor
        self.bms: SimBatteryService | None = None if venus is None else venus.bms
        self.system: SimSystemCalc | None = None if venus is None else venus.system
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._control: ControlServer | None = None
        self._file: IO[str] | None = None
        self._frames_file: IO[str] | None = None
        self._tasks = OwnedTasks("simulator")
        self._time_waiters: list[tuple[float, asyncio.Future[None]]] = []
        self._event_waiters: list[tuple[Callable[[SimEvent], bool], asyncio.Future[SimEvent]]] = []
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.events_file is not None:
            self._file = self.events_file.open("w", encoding="utf-8", buffering=1)
            for event in self.sim.recorder.events:
                self._write(event)
        self.sim.recorder.subscribe(self._on_event)
        if self.bms_frames_file is not None:
            self._frames_file = self.bms_frames_file.open("w", encoding="utf-8")
            self.sim.recorder.subscribe_arrivals(self._on_arrival)
        if self.control_path is not None:
            self._control = ControlServer(self.control_path, self._handle_control)
            await self._control.start()
        if self.venus is not None:
            await self.venus.start()
        await self.link.start(self._on_frame, self._on_open)
        if not self.start_on_open:
            self._start_clock()
        log.info(
            "simulator_started",
            link=self.link.description,
            speed=self.clock.speed,
            seed=self.sim.seed,
            scenario=self.sim.scenario.name,
            waiting_for_host=not self.clock.running,
        )

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.clock.running:
            self._advance()
        await self._tasks.wait()  # edge actions under way (a failure is logged, not raised)
        await self.injector.stop()
        await self.link.stop()
        if self.venus is not None:
            await self.venus.stop()
        if self._control is not None:
            await self._control.stop()
        if self._file is not None:
            self._file.write(json.dumps({"event": "summary", **self.sim.summary()}) + "\n")
            self._file.close()
            self._file = None
        if self._frames_file is not None:
            self._frames_file.close()
            self._frames_file = None
        for _t, future in self._time_waiters:
            future.cancel()
        for _p, event_future in self._event_waiters:
            event_future.cancel()

    async def __aenter__(self) -> SimRunner:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- for tests and the control socket ---------------------------------------------------

    def sim_now(self) -> float:
        assert self._loop is not None
        return self.clock.sim_time(self._loop.time())

    async def wait_until(self, sim_s: float) -> None:
        """Return once simulated time has reached ``sim_s``."""
        if self.sim.now_s >= sim_s:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._time_waiters.append((sim_s, future))
        self._arm()
        await future

    async def wait_for(
        self, kind: EventKind, predicate: Callable[[SimEvent], bool] | None = None
    ) -> SimEvent:
        """The next recorded event of ``kind`` (matching ``predicate``), from now on."""
        future: asyncio.Future[SimEvent] = asyncio.get_running_loop().create_future()
        self._event_waiters.append(
            (lambda e: e.kind is kind and (predicate is None or predicate(e)), future)
        )
        return await future

    async def apply(self, event: ScenarioEvent) -> None:
        """Apply a scenario event now (as the control socket's ``apply`` does)."""
        self.sim.apply(event, self.sim_now())
        await self._flush_and_wait()

    # -- the clock --------------------------------------------------------------------------

    def _on_open(self) -> None:
        if not self.clock.running:
            self._start_clock()

    def _start_clock(self) -> None:
        assert self._loop is not None
        self.clock.start(self._loop.time())
        self.clock_started.set()
        log.info("simulated_clock_started", speed=self.clock.speed)
        self._advance()
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stopped or not self.clock.running or self._loop is None:
            return
        deadline = self.sim.next_deadline()
        for sim_s, _future in self._time_waiters:
            deadline = min(deadline, sim_s)
        duration = self.sim.scenario.duration_s
        if duration is not None and not self.finished.is_set():
            deadline = min(deadline, duration)
        wall = self.clock.wall_time(deadline)
        assert wall is not None
        self._timer = self._loop.call_at(wall, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._advance()
        self._arm()

    def _advance(self) -> None:
        now = self.sim_now()
        duration = self.sim.scenario.duration_s
        if duration is not None:
            now = min(now, duration)
        self.sim.advance_to(now)
        self._flush()
        for item in [w for w in self._time_waiters if w[0] <= self.sim.now_s]:
            self._time_waiters.remove(item)
            if not item[1].done():
                item[1].set_result(None)
        if duration is not None and self.sim.now_s >= duration and not self.finished.is_set():
            log.info("scenario_finished", sim_time_s=self.sim.now_s)
            self.finished.set()

    # -- inputs and outputs -----------------------------------------------------------------

    def _on_frame(self, can_id: int, data: bytes, extended: bool) -> None:
        if self._stopped or not self.clock.running:
            return
        self.sim.receive(self.sim_now(), can_id, data, extended=extended)
        self._flush()
        self._arm()

    def _flush(self) -> None:
        for output in self.sim.take_outputs():
            if isinstance(output, FrameOut):
                if self.link.send(output.can_id, output.data):
                    self.frames_delivered += 1
                else:
                    self.frames_undelivered += 1
            elif isinstance(output, MonitorReading):
                if self.venus is not None:
                    self.venus.reading(output)
            elif isinstance(output, BmsUpdate):
                if self.venus is not None:
                    self.venus.bms_update(output.values)
            elif isinstance(output, EdgeAction):
                self._tasks.spawn(self._edge(output), f"edge_action:{output.target}")

    def _dvcc_cycle(self, service: str | None, written: Any, failure: str | None) -> None:
        """DVCC ran (wall-clock): recorded at the simulated time it ran at."""
        if self.clock.running and not self._stopped:
            self._advance()
            self._arm()
        self.sim.recorder.dvcc_cycle(self.sim.now_s, service, written, failure)

    async def _edge(self, action: EdgeAction) -> None:
        if action.target == "adapter":
            if action.state == "unplug":
                self.link.unplug()
            else:
                self.link.plug()
        elif self.venus is None or not await self.venus.edge(action):
            log.warning("edge_action_ignored", target=action.target, reason="not running")

    async def _flush_and_wait(self) -> None:
        self._flush()
        self._arm()
        await self._tasks.wait()

    async def _handle_control(self, request: Any) -> dict[str, Any]:
        if isinstance(request, ApplyRequest):
            await self.apply(request.event)
            return {"sim_time_s": self.sim.now_s}
        if isinstance(request, InjectRequest):
            return self.injector.inject(request)
        if isinstance(request, BurstRequest):
            return self.injector.burst(request)
        if self.clock.running:
            self._advance()
            self._arm()
        reply = answer(self.sim, request)
        if isinstance(request, StatusRequest):
            reply["injected"] = self.injector.counters.to_dict()
        return reply

    # -- the record ---------------------------------------------------------------------------

    def _on_event(self, event: SimEvent) -> None:
        self._write(event)
        name = "scenario_event" if event.kind is EventKind.SCENARIO else event.kind.value
        log.info(name, t_s=round(event.time_s, 3), **event.detail)
        for item in list(self._event_waiters):
            predicate, future = item
            if predicate(event):
                self._event_waiters.remove(item)
                if not future.done():
                    future.set_result(event)

    def _on_arrival(self, time_s: float, can_id: int) -> None:
        if self._frames_file is not None:
            self._frames_file.write(f'{{"t_s": {time_s:.6f}, "can_id": "0x{can_id:03X}"}}\n')

    def _write(self, event: SimEvent) -> None:
        if self._file is not None:
            line = {**event.to_dict(), "wall_unix": round(time.time(), 3)}
            self._file.write(json.dumps(line) + "\n")
