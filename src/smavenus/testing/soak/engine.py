"""The soak itself: the whole system under daemontools, faults injected at random, everything
recorded for :mod:`smavenus.testing.soak.judge`.

    report = asyncio.run(Soak(SoakOptions(minutes=4, speed=5, seed=1), workdir).run())

Phases: start the :class:`~smavenus.testing.stack.Stack` on the soak's world
(:mod:`~smavenus.testing.soak.setup`), let it settle (``warmup_s``), inject for ``minutes``
(``rate_per_min`` on average, each interval drawn uniformly between 0.2 and 1.8 times the mean
from the seeded RNG), undo what is still pending, observe ``settle_s`` more, stop everything,
then judge from the simulator's record (complete once it has stopped) and the observations.

The restarts (a kill of each service, the bus restart) are dealt, not drawn: after
``calm_s`` of injecting, one is due every ``restart_every_s`` (× 0.5-1.5), taken from a
shuffled deck of all five (a new deck when it is empty). So a short soak has each of them,
and the first processes live through ``calm_s`` of the other faults: their memory is judged
from their first minute to their last.

While it runs, the soak polls supervise's status every 0.1 s (lives and exits), reads the
services' RSS every 2 s and their logs every second, and samples once a second the
simulator's energy account and the vebus service's ``/Energy/*`` (with ``/Connected`` and the
publisher's pid) for the energy comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call, connect_system_bus
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.testing.soak.injections import RESTARTS, Kind, catalogue
from smavenus.testing.soak.judge import Record, Sample, judge
from smavenus.testing.soak.setup import CONFIG_EXTRA, SoakWorld
from smavenus.testing.soak.supervision import ServiceWatch
from smavenus.testing.stack import SERVICES, Stack
from smavenus.testing.waiting import eventually

log = structlog.get_logger(__name__)

POLL_S = 0.1
RSS_PERIOD_S = 2.0
SAMPLE_PERIOD_S = 1.0
UNDO_WAIT_S = 40.0
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 4.0
    speed: float = 5.0
    seed: int = 1
    rate_per_min: float = 60.0
    warmup_s: float = 10.0
    settle_s: float = 15.0
    #: No restarts for this long after the injections start; then one every restart_every_s.
    calm_s: float = 150.0
    restart_every_s: float = 60.0


@dataclass
class _Pending:
    busy: Counter[str] = field(default_factory=Counter)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Soak:
    def __init__(self, options: SoakOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.rng = random.Random(options.seed)  # noqa: S311 - a test schedule, not security
        self.world = SoakWorld(options.speed, options.seed)
        self.record = Record(options=options.__dict__.copy())
        self.stack: Stack | None = None
        self.watch: ServiceWatch | None = None
        self._bus: MessageBus | None = None
        self._vebus: str | None = None
        self._pending = _Pending()
        self._stopping = asyncio.Event()

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self.workdir / "soak-scenario.toml"
        scenario.write_text(self.world.scenario_toml())
        stack = self.stack = Stack(
            self.workdir / "stack",
            speed=self.options.speed,
            scenario=str(scenario),
            seed=self.options.seed,
            config_extra=CONFIG_EXTRA,
        )
        await asyncio.to_thread(stack.start)
        try:
            await asyncio.to_thread(stack.wait_until_running)
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = stack.dbus.address  # our own client's bus
            self.record.stack_up = time.monotonic()
            self.watch = ServiceWatch(stack.service_dir, stack.log_dir, SERVICES)
            self.record.unix_minus_mono = time.time() - time.monotonic()
            observers = [
                asyncio.ensure_future(self._observe()),
                asyncio.ensure_future(self._sample()),
            ]
            self.record.ready_after_s = await self._until_ready()
            await asyncio.sleep(self.options.warmup_s)  # seen running a while, not just up
            self.record.inject_from = time.monotonic()
            await self._inject()
            self.record.inject_until = time.monotonic()
            await self._wait_for_undos()
            self.record.recovered_after_s = await self._until_ready()
            await asyncio.sleep(self.options.settle_s)  # the observation goes on a while
            self.record.observed_until = time.monotonic()
            self._stopping.set()
            await asyncio.gather(*observers)
        finally:
            if self._bus is not None:
                self._bus.disconnect()
            await asyncio.to_thread(stack.stop)
            if self.watch is not None:
                self.watch.close()
        self.record.sim_events = stack.sim.recorded_events()
        self.record.bms_arrivals = stack.sim.bms_arrivals()
        assert self.watch is not None
        self._keep_record()
        return judge(self.record, self.watch, self.world)

    def _keep_record(self) -> None:
        """Everything observed, next to the stack's files: to read, or judge again."""
        assert self.watch is not None
        kept = {
            **{k: v for k, v in self.record.__dict__.items() if k not in ("sim_events",)},
            "samples": [sample.__dict__ for sample in self.record.samples],
            "lives": [life.__dict__ for life in self.watch.lives],
            "exit_lines": [line.__dict__ for line in self.watch.exit_lines],
        }
        (self.workdir / "soak-record.json").write_text(json.dumps(kept, default=str))

    async def _inject(self) -> None:
        kinds = catalogue()
        options = self.options
        mean_s = 60.0 / options.rate_per_min
        start = due = time.monotonic()
        end = start + 60.0 * options.minutes
        next_restart = start + options.calm_s
        deck: list[Kind] = []
        while True:
            due += self.rng.uniform(0.2, 1.8) * mean_s
            if due >= end:
                return
            await asyncio.sleep(max(due - time.monotonic(), 0.0))
            kind: Kind | None
            if time.monotonic() >= next_restart:
                deck = deck or self.rng.sample(RESTARTS, len(RESTARTS))
                kind = next((k for k in deck if k.eligible(self)), None)  # a service is up
                if kind is not None:
                    deck.remove(kind)
                    next_restart += self.rng.uniform(0.5, 1.5) * options.restart_every_s
            else:
                kind = self._choose(kinds)
            if kind is not None:
                await self._perform(kind)

    def _choose(self, kinds: list[Kind]) -> Kind | None:
        ready = [k for k in kinds if not self._pending.busy[k.target] and k.eligible(self)]
        if not ready:
            return None
        return self.rng.choices(ready, weights=[k.weight for k in ready])[0]

    async def _perform(self, kind: Kind) -> None:
        started = time.monotonic()
        entry: dict[str, Any] = {"kind": kind.name, "t": started, "target": kind.target}
        self._pending.busy[kind.target] += 1  # one fault per target, also while it is done
        try:
            entry["detail"] = await kind.run(self)
        except Exception as exc:  # recorded: an injection that could not be done is a result
            entry["error"] = repr(exc)
            log.warning("soak_injection_failed", kind=kind.name, error=repr(exc))
        finally:
            self._pending.busy[kind.target] -= 1
        entry["took_s"] = round(time.monotonic() - started, 3)
        self.record.injections.append(entry)

    async def _until_ready(self) -> float | None:
        """Seconds until every service runs and the vebus shows the SI (None: not within
        ``READY_TIMEOUT_S``, which the report then says)."""
        started = time.monotonic()

        def ready() -> bool:
            watch, samples = self.watch, self.record.samples
            return (
                watch is not None
                and all(watch.pid(s) is not None for s in SERVICES)
                and bool(samples)
                and samples[-1].mono > started
                and samples[-1].counting
            )

        try:
            await eventually(ready, READY_TIMEOUT_S, "every service up, the vebus connected")
        except AssertionError:
            return None
        return round(time.monotonic() - started, 1)

    async def _wait_for_undos(self) -> None:
        deadline = time.monotonic() + UNDO_WAIT_S
        while self._pending.tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._pending.tasks), timeout=deadline - time.monotonic())

    # -- observers ----------------------------------------------------------------------------

    async def _observe(self) -> None:
        assert self.watch is not None
        next_rss = next_logs = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            self.watch.poll(now)
            if now >= next_rss:
                self.watch.sample_rss(now)
                next_rss = now + RSS_PERIOD_S
            if now >= next_logs:
                self.watch.read_logs()
                next_logs = now + 1.0
            await asyncio.sleep(POLL_S)
        self.watch.poll()
        self.watch.read_logs()

    async def _sample(self) -> None:
        assert self.stack is not None
        while not self._stopping.is_set():
            before = time.monotonic()
            with contextlib.suppress(Exception):
                status = await asyncio.to_thread(self.stack.sim.status)
                at = (before + time.monotonic()) / 2
                vebus = await self._vebus_items()
                self.record.samples.append(
                    Sample(
                        mono=at,
                        sim_s=float(status["sim_time_s"]),
                        reported_wh=status["energy"]["reported_wh"],
                        physical_wh=status["energy"]["physical_wh"],
                        vebus=vebus,
                        publisher_pid=None if self.watch is None else self.watch.pid(SERVICES[2]),
                    )
                )
            await asyncio.sleep(max(before + SAMPLE_PERIOD_S - time.monotonic(), 0.0))

    async def _vebus_items(self) -> dict[str, float] | None:
        """``/Energy/*`` (kWh) and ``/Connected`` of the vebus service, or None if unreadable."""
        try:
            bus = await self.bus()
            service = await self.vebus_service(wait_s=0.0)  # a sample is not worth a wait
            (items,) = await call(bus, service, "/", BUSITEM, "GetItems", timeout_s=2.0)
        except Exception:  # no bus, no service, a restart: no reading this second
            self._vebus = None
            return None
        return {
            path: float(item["Value"].value)
            for path, item in items.items()
            if (path.startswith("/Energy/") or path == "/Connected")
            and isinstance(item["Value"], Variant)
            and item["Value"].signature in ("d", "i")
        }

    # -- the injections' context ----------------------------------------------------------------

    async def kill(self, service: str) -> int:
        assert self.stack is not None
        pid = await asyncio.to_thread(self.stack.kill, service)
        self.record.kills.append((service, pid, time.monotonic()))
        return pid

    async def restart_dbus(self) -> None:
        assert self.stack is not None
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
        self.record.dbus_restarts.append(time.monotonic())
        await asyncio.to_thread(self.stack.restart_dbus)

    async def sim(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.stack is not None
        return await asyncio.to_thread(self.stack.sim.control, body)

    async def bus(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            self._bus = await asyncio.wait_for(connect_system_bus(), 5.0)
        return self._bus

    async def vebus_service(self, wait_s: float = READY_TIMEOUT_S) -> str:
        """The vebus service's name; waits up to ``wait_s`` for it while the publisher
        (re)starts (LookupError if it does not come)."""

        async def lookup() -> str | None:
            (names,) = await call(await self.bus(), DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
            return next((n for n in names if n.startswith("com.victronenergy.vebus.")), None)

        if self._vebus is None:
            found = await lookup()
            if found is None and wait_s > 0:
                found = await eventually(lookup, wait_s, "the vebus service")
            if found is None:
                raise LookupError("no vebus service on the bus")
            self._vebus = found
        return self._vebus

    def later(
        self, delay_s: float, target: str, what: str, undo: Callable[[], Awaitable[Any]]
    ) -> None:
        self._pending.busy[target] += 1

        async def run() -> None:
            try:
                await asyncio.sleep(delay_s)
                entry: dict[str, Any] = {"what": what, "target": target, "t": time.monotonic()}
                try:
                    await undo()
                except Exception as exc:  # recorded like a failed injection
                    entry["error"] = repr(exc)
                self.record.undos.append(entry)
            finally:
                self._pending.busy[target] -= 1

        task = asyncio.ensure_future(run())
        self._pending.tasks.add(task)
        task.add_done_callback(self._pending.tasks.discard)

    def up_for(self, service: str) -> float:
        return 0.0 if self.watch is None else self.watch.up_for(service, time.monotonic())

    def note_write(self, where: str, path: str, label: str, outcome: str) -> None:
        self.record.writes[f"{where} {path} {label}"][outcome] += 1

    def note_setting(self, name: str, outcome: str, detail: dict[str, Any]) -> None:
        self.record.settings.append({"name": name, "outcome": outcome, **detail})
