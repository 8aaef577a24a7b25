"""Running a service: the event loop, signals, and the exit status supervisors rely on.

``run_service(main)`` runs ``main(stop)`` on uvloop when it is importable (the standard loop
otherwise). SIGTERM and SIGINT set ``stop``; ``main`` returns once it has shut down in
reverse start order. A crash exits non-zero so daemontools or systemd restart the process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import structlog

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

ServiceMain = Callable[[asyncio.Event], Awaitable[int | None]]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # noqa: PLC0415 - optional dependency
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def _guarded(main: ServiceMain) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    result = await main(stop)
    return EXIT_OK if result is None else result


def run_service(main: ServiceMain, *, process: str) -> int:
    """Run ``main`` to completion and return the process exit status."""
    log = structlog.get_logger(process)
    loop = _new_loop()
    log.info(
        "service_starting", loop=type(loop).__module__.split(".")[0], python=sys.version.split()[0]
    )
    try:
        return loop.run_until_complete(_guarded(main))
    except Exception:
        log.exception("service_crashed")
        return EXIT_FAILURE
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            log.info("service_stopped")
