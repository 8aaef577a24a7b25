"""Running a service: the event loop, signals, and the exit status supervisors rely on.

``run_service(main)`` runs ``main(stop)`` on uvloop when it is importable (the standard loop
otherwise). SIGTERM and SIGINT set ``stop``; ``main`` returns once it has shut down in
reverse start order. A crash exits non-zero so daemontools or systemd restart the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import structlog

from smavenus import __version__
from smavenus.config import AppConfig, load_config
from smavenus.errors import ConfigError
from smavenus.log import configure_logging

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


ConfiguredMain = Callable[[AppConfig, asyncio.Event], Awaitable[int | None]]
MISSING_CONFIG = "--config FILE is required (print an example with: smavenus config example)"


def service_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    process: str,
    description: str,
    run: ConfiguredMain,
    refuse: Callable[[AppConfig], str | None] | None = None,
) -> int:
    """The ``main()`` of every service: ``--config FILE``, validate, log, run until stopped.

    ``--config`` is required: the built-in defaults describe no real battery, and a service
    started without a file would command the SI from them. A missing flag or a bad
    configuration prints the reason (every problem as ``section.key: reason``) and exits 2
    before anything starts, so a supervisor's restart loop shows the reason in the log.
    ``refuse`` may name one more reason not to start (one line, exit 2 as well).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, help="the TOML configuration (required)")
    args = parser.parse_args(argv)
    if args.config is None:
        # One line, not argparse's usage block: it is what a supervisor's log will show.
        sys.stderr.write(f"{prog}: {MISSING_CONFIG}\n")
        return EXIT_CONFIG
    notices: list[str] = []
    try:
        cfg = load_config(args.config, notices)
    except ConfigError as exc:
        sys.stderr.write("".join(f"{line}\n" for line in exc.problems))
        return EXIT_CONFIG
    reason = None if refuse is None else refuse(cfg)
    if reason is not None:
        sys.stderr.write(f"{prog}: {reason}\n")
        return EXIT_CONFIG
    configure_logging(process, cfg.logging.level, cfg.logging.format)
    _log_config_notices(process, notices)
    return run_service(lambda stop: run(cfg, stop), process=process)


def _log_config_notices(process: str, notices: Sequence[str]) -> None:
    """One ``config_key_deprecated`` warning per renamed key the file still uses."""
    log = structlog.get_logger(process)
    for notice in notices:
        log.warning("config_key_deprecated", notice=notice)


async def until_stopped_or_failed(stop: asyncio.Event, **failures: Awaitable[object]) -> int:
    """EXIT_OK once ``stop`` is set; EXIT_FAILURE (logged with its name) if a failure comes first.

    ``failures`` name what ends a service for its supervisor to restart it, e.g.
    ``dbus_connection_lost=bus.wait_for_disconnect()``.
    """
    log = structlog.get_logger("smavenus.runtime")
    waiters: dict[asyncio.Future[object], str] = {asyncio.ensure_future(stop.wait()): "stopped"}
    waiters.update({asyncio.ensure_future(awaitable): name for name, awaitable in failures.items()})
    done, _pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in waiters:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if stop.is_set():
        return EXIT_OK
    log.error("service_failing", reason=waiters[next(iter(done))], exit_status=EXIT_FAILURE)
    return EXIT_FAILURE
