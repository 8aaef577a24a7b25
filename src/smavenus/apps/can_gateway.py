"""``smavenus-can-gateway``: the only process on the CAN bus (see ``docs/gateway.md``).

    smavenus-can-gateway --config /data/smavenus/smavenus.toml

Wiring only: read the configuration, build the core and its edges, run until SIGTERM. The
CAN side starts first and sends its first frame set before D-Bus is even tried; D-Bus comes
and goes without the Sunny Island noticing. Exit status: 0 stopped, 1 crashed (also: an
exception escaped a loop callback or task; another gateway already holds the CAN channel,
see :mod:`smavenus.io.gateway.channel_lock`), 2 bad configuration, 3 the BMS frame stream
stalled (the watchdog exits so the supervisor restarts us).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog

from smavenus.config import AppConfig, CanConfig
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.health import Throttle
from smavenus.gateway.settings import GatewaySettings
from smavenus.io.can.opening import BusSpec
from smavenus.io.gateway.channel_lock import ChannelBusyError, ChannelLock
from smavenus.io.gateway.command_file import CommandPersister, load_resume_bounded, read_boot_id
from smavenus.io.gateway.endpoint import GatewayDbus, GatewayHandlers
from smavenus.io.gateway.runtime import GatewayRuntime, describe, instant
from smavenus.io.gateway.watchdog import EXIT_WATCHDOG, LoopHeartbeat, LoopWatchdog, last_word
from smavenus.io.sdnotify import SdNotifier
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.runtime import EXIT_FAILURE, service_main

PROCESS = "can-gateway"
log = structlog.get_logger("smavenus.can_gateway")


def bus_spec(can: CanConfig) -> BusSpec:
    return BusSpec(
        interface=can.interface,
        channel=can.channel,
        bitrate=can.bitrate,
        tty_baudrate=can.tty_baudrate,
        accept_ids=frozenset(SI_STATUS_IDS),
        manage_interface=can.manage_interface,
    )


def exit_after_stall(runtime: GatewayRuntime, late_s: float) -> None:
    """The watchdog's action (runs in its thread): safe frames out, then exit for a restart.

    No logging here: the loop may be stuck inside the log handler (a full pipe), holding its
    lock. The last word goes straight to stderr without blocking, then ``_exit``.
    """
    runtime.force_safe_frames()
    last_word(
        f"level=error process={PROCESS} event=bms_stream_stalled late_s={late_s:.2f} "
        f"bus_state={runtime.core.link.state} exit_status={EXIT_WATCHDOG}\n"
    )
    os._exit(EXIT_WATCHDOG)  # sys.exit would wait for the stuck loop


def _persist_error_logger(path: Path) -> Callable[[Exception], None]:
    throttle = Throttle(60.0)

    def report(exc: Exception) -> None:
        suppressed = throttle.admit("persist", instant().monotonic)
        if suppressed is not None:
            log.error(
                "command_persist_failed",
                path=str(path),
                reason=describe(exc),
                suppressed=suppressed,
            )

    return report


def _lock_channel(cfg: AppConfig) -> ChannelLock | None:
    """The channel's lock, or None if it cannot be made. Raises :class:`ChannelBusyError`."""
    try:
        return ChannelLock.acquire(cfg.paths.state_dir, cfg.can.interface, cfg.can.channel)
    except OSError as exc:
        # A read-only or full state directory must not stop the BMS frames: the SI faults
        # without them, while a second gateway is only a possibility.
        log.warning(
            "can_channel_lock_unavailable",
            state_dir=str(cfg.paths.state_dir),
            reason=describe(exc),
        )
        return None


def _last_set_before_failing(runtime: GatewayRuntime) -> None:
    """Before an escaped exception ends the process (``fail_fast``), the safe set goes out.

    The exception may have come from the send timer itself, a whole period after the last
    set: sending now starts the SI's wait for the restarted gateway here, not a period ago.
    """
    loop = asyncio.get_running_loop()
    then = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), Exception):
            runtime.force_safe_frames()
        if then is None:
            loop.default_exception_handler(context)
        else:
            then(loop, context)

    loop.set_exception_handler(handler)


def _stop_if_failed(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    if not task.cancelled() and task.exception() is not None:
        stop.set()


async def run_gateway(
    cfg: AppConfig,
    stop: asyncio.Event,
    on_stall: Callable[[GatewayRuntime, float], None] = exit_after_stall,
) -> int:
    try:
        channel_lock = _lock_channel(cfg)
    except ChannelBusyError as busy:
        log.error(
            "can_channel_in_use",
            interface=cfg.can.interface,
            channel=cfg.can.channel,
            holder_pid=busy.holder_pid,
            lock=str(busy.path),
            exit_status=EXIT_FAILURE,
        )
        return EXIT_FAILURE
    try:
        return await _run_locked(cfg, stop, on_stall)
    finally:
        if channel_lock is not None:
            channel_lock.release()


async def _run_locked(
    cfg: AppConfig, stop: asyncio.Event, on_stall: Callable[[GatewayRuntime, float], None]
) -> int:
    boot_id = read_boot_id()
    now = instant()
    state_dir = cfg.paths.state_dir
    resume, problem = await load_resume_bounded(state_dir, boot_id, now.monotonic, now.unix)
    core = GatewayCore(GatewaySettings.from_config(cfg), now, resume, problem)
    persister = CommandPersister(state_dir, boot_id, _persist_error_logger(state_dir))
    runtime = GatewayRuntime(core, bus_spec(cfg.can), persister)
    gw = cfg.gateway
    endpoint = GatewayDbus(
        GatewayHandlers(
            snapshot=runtime.snapshot,
            health=runtime.health,
            command=runtime.on_command,
            refused=runtime.on_command_refused,
            remote_on_off=runtime.remote_on_off if gw.enable_remote_on_off else None,
            quick_stop=runtime.quick_stop if gw.enable_quick_stop else None,
        )
    )
    systemd = SdNotifier.from_environment()
    watchdog = LoopWatchdog(
        lambda: runtime.watchdog_deadline,
        lambda late: on_stall(runtime, late),
        poll_s=min(gw.watchdog_stall_s / 8, 0.25),
    )

    def stream_on_time() -> None:
        # systemd is pinged only while frames (or the link's recovery) are on time.
        if time.monotonic() <= runtime.watchdog_deadline:
            systemd.watchdog()

    interval = 1.0
    if systemd.watchdog_interval_s is not None:
        interval = min(interval, systemd.watchdog_interval_s / 4)
    heartbeat = LoopHeartbeat(interval, [stream_on_time])

    _last_set_before_failing(runtime)
    async with AsyncExitStack() as stack:
        runtime.attach(endpoint)
        runtime.start()  # CAN first: the first frame set leaves before D-Bus is tried
        stack.push_async_callback(runtime.close)
        watchdog.start()
        stack.callback(watchdog.stop)
        heartbeat.start()
        stack.callback(heartbeat.stop)
        dbus_task = asyncio.create_task(endpoint.run(stop))
        # A bug that kills the D-Bus side stops the process (exit 1, supervisor restart)
        # rather than leaving it running deaf; the exception is re-raised on the way out.
        dbus_task.add_done_callback(lambda task: _stop_if_failed(task, stop))
        stack.push_async_callback(asyncio.wait_for, dbus_task, 5.0)
        await runtime.first_open_done.wait()
        systemd.ready(f"CAN {cfg.can.interface} {cfg.can.channel}: {core.link.state}")
        await stop.wait()
        systemd.stopping()
        log.info("can_gateway_stopping")
    systemd.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        prog="smavenus-can-gateway",
        process=PROCESS,
        description="Own the CAN bus: feed the Sunny Island BMS frames, publish what it says.",
        run=run_gateway,
        fail_fast=True,
    )


if __name__ == "__main__":
    sys.exit(main())
