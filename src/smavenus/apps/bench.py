"""``smavenus-bench``: the whole system against the simulated Sunny Island, with a live view.

Starts a private D-Bus system bus, the localsettings stand-in, the simulated SI on a
pseudo-terminal (the USB adapter) with a simulated battery monitor, and the three services
under daemontools (svscan over copies of ``services/*/run``), then shows what each part
sees, once a second, until Ctrl-C; then stops everything cleanly. ``scripts/bench`` runs it.

    smavenus-bench [--scenario pv-day] [--speed 1] [--workdir DIR] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from dbus_fast import Message
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.io.dbus import (
    DBUS_NAME,
    DBUS_PATH,
    NameOwnerWatcher,
    SignalSubscription,
    call,
    connect_system_bus,
)
from smavenus.io.dbus.busitem import BUSITEM, from_variant
from smavenus.io.dbus.peer_feed import PeerFeed
from smavenus.io.tasks import OwnedTasks
from smavenus.ipc import feeds
from smavenus.ipc.messages import ControllerStatus, GatewayHealth, SiSnapshot
from smavenus.liveview import ViewState, render
from smavenus.testing.stack import SERVICES, Stack

CLEAR = "\x1b[H\x1b[2J"


class LiveView:
    """Follows the gateway's and controller's signals and the vebus service; redraws each second."""

    def __init__(self, bus: MessageBus, stack: Stack, tty: bool) -> None:
        self.bus = bus
        self.stack = stack
        self.tty = tty
        self.state = ViewState(channel=stack.sim.path)
        self._feeds: list[
            PeerFeed[SiSnapshot] | PeerFeed[GatewayHealth] | PeerFeed[ControllerStatus]
        ]
        self._feeds = [
            PeerFeed(bus, feeds.SNAPSHOTS, self._on_snapshot),
            PeerFeed(bus, feeds.HEALTH, self._on_health),
            PeerFeed(bus, feeds.STATUS, self._on_status),
        ]
        self._items = SignalSubscription(
            bus, BUSITEM, "ItemsChanged", self._on_items_changed, path="/"
        )
        self._vebus_watch: NameOwnerWatcher | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks = OwnedTasks("live_view")  # a redraw that fails is logged, with its traceback

    async def start(self) -> None:
        for feed in self._feeds:
            await feed.start()
        await self._items.start()
        self._tick()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self._tasks.cancel_all()
        for part in (*self._feeds, self._items):
            with contextlib.suppress(DBusError, asyncio.TimeoutError, OSError):
                await part.stop()

    # -- signals --------------------------------------------------------------------------------

    def _on_snapshot(self, snapshot: SiSnapshot) -> None:
        self.state.snapshot = snapshot

    def _on_health(self, health: GatewayHealth) -> None:
        self.state.health = health

    def _on_status(self, status: ControllerStatus) -> None:
        self.state.status = status

    def _on_items_changed(self, msg: Message) -> None:
        owner = (
            self._vebus_watch.owner(self.state.vebus_service or "") if self._vebus_watch else None
        )
        if owner is None or msg.sender != owner:
            return
        for path, item in msg.body[0].items():
            self.state.vebus[path] = from_variant(item["Value"])

    # -- the vebus service ----------------------------------------------------------------------

    async def _find_vebus(self) -> None:
        (bus_names,) = await call(self.bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "ListNames")
        found = sorted(n for n in bus_names if n.startswith("com.victronenergy.vebus."))
        if not found:
            return
        self.state.vebus_service = found[0]
        self._vebus_watch = NameOwnerWatcher(
            self.bus, (found[0],), on_change=self._vebus_owner_changed
        )
        await self._vebus_watch.start()
        await self._scan_vebus()

    async def _vebus_owner_changed(self, _name: str, _old: str | None, new: str | None) -> None:
        if new:
            await self._scan_vebus()

    async def _scan_vebus(self) -> None:
        if self.state.vebus_service is None:
            return
        with contextlib.suppress(DBusError, asyncio.TimeoutError):
            (items,) = await call(self.bus, self.state.vebus_service, "/", BUSITEM, "GetItems")
            self.state.vebus = {path: from_variant(item["Value"]) for path, item in items.items()}

    # -- drawing --------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._tasks.spawn(self._refresh(), "refresh")
        self._timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    async def _refresh(self) -> None:
        if self.state.vebus_service is None:
            with contextlib.suppress(DBusError, asyncio.TimeoutError):
                await self._find_vebus()
        with contextlib.suppress(OSError, RuntimeError):
            self.state.simulator = await asyncio.to_thread(self.stack.sim.status)
        lines = render(self.state, time.monotonic())
        text = "\n".join(lines)
        with contextlib.suppress(OSError):  # the terminal went away: the hang-up stops us
            if self.tty:
                sys.stdout.write(CLEAR + text + "\n")
            else:
                sys.stdout.write(text + "\n" + "-" * 78 + "\n")
            sys.stdout.flush()


async def _show(stack: Stack, duration_s: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal or the SSH session closed. Stop as cleanly as on Ctrl-C, or the
    # private dbus-daemon, svscan and the services would run on with nobody to stop them.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = stack.dbus.address  # the bench's private bus
    bus = await connect_system_bus()
    view = LiveView(bus, stack, tty=sys.stdout.isatty())
    await view.start()
    await stop.wait()
    await view.stop()
    bus.disconnect()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smavenus-bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--scenario", help="a simulator scenario (smavenus-sim scenarios lists them)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep configs, logs and state here (default: a temporary directory)",
    )
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    return parser


class HungUpError(Exception):
    """SIGHUP (or SIGTERM) outside the live view: unwind, stopping what was started."""


def _hang_up(signum: int, _frame: object) -> None:
    raise HungUpError(signal.Signals(signum).name)


def _say(text: str, *, err: bool = False) -> None:
    """Print, but a closed terminal (EIO/EPIPE after a hang-up) never stops the clean-up."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr if err else sys.stdout, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Until the live view installs its own handlers (and after it), a hang-up unwinds the
    # `with` blocks below instead of killing this process where it stands.
    signal.signal(signal.SIGHUP, _hang_up)
    signal.signal(signal.SIGTERM, _hang_up)
    try:
        return _run(args)
    except HungUpError as exc:
        _say(f"smavenus-bench: stopped by {exc}", err=True)
        return 128 + signal.Signals[str(exc)].value


def _run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as cleanup:
        workdir = args.workdir or Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="smavenus-bench-"))
        )
        stack = Stack(workdir, speed=args.speed, scenario=args.scenario)
        _say(f"starting the bench in {workdir} …")
        _say(f"dashboard (smavenus-web): {stack.web_url}/")
        try:
            with stack:
                asyncio.run(_show(stack, args.duration))
                _say("\nstopping…")
        except (RuntimeError, TimeoutError) as exc:
            _say(f"smavenus-bench: {exc}", err=True)
            for service in SERVICES:
                tail = stack.log_tail(service, 5)
                if tail:
                    _say(f"--- {service}\n{tail}", err=True)
            return 1
        _say(stack.sim.summary_text.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
