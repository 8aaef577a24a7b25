"""Running a service: the event loop, signals, and the exit status supervisors rely on.

``run_service(main)`` runs ``main(stop)`` on asyncio's own loop, or on uvloop when
``SMAVENUS_UVLOOP=1`` and it is importable (Venus OS has no uvloop; the standard loop also
spares each process OpenSSL, see :mod:`smavenus.apps`). SIGTERM and SIGINT set ``stop``;
``main`` returns once it has shut down in reverse start order. A crash exits non-zero so
daemontools or systemd restart the process.
With ``fail_fast``, so does an exception escaping any loop callback or task: asyncio would
only log it and carry on without whatever that callback kept going (a timer chain, a reader).
"""

from __future__ import annotations

import asyncio
import contextlib
import getopt
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

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
    if os.environ.get("SMAVENUS_UVLOOP") != "1":
        return asyncio.new_event_loop()
    try:
        import uvloop  # noqa: PLC0415 - optional dependency
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _guarded(main: ServiceMain, process: str, fail_fast: bool, early: list[int]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    if early:  # a stop asked for while starting up: honoured now that it can be
        stop.set()
    failures: list[str] = []
    if fail_fast:
        loop.set_exception_handler(_fail_on_escaped_exception(process, stop, failures))
    _trace_allocations_if_asked(loop, process)
    result = await main(stop)
    if failures:
        return EXIT_FAILURE
    return EXIT_OK if result is None else result


def _fail_on_escaped_exception(
    process: str, stop: asyncio.Event, failures: list[str]
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """A loop exception handler that logs what escaped and stops the process (exit 1)."""
    log = structlog.get_logger(process)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        where = context.get("handle") or context.get("task") or context.get("future")
        if not isinstance(exc, Exception):
            # asyncio's own notices ("Task was destroyed but it is pending", …): log only.
            log.warning("loop_notice", message=context.get("message"), where=repr(where))
            return
        failures.append(context.get("message", "exception"))
        log.error(
            "loop_callback_failed",
            message=context.get("message"),
            where=repr(where)[:200],
            exit_status=EXIT_FAILURE,
            exc_info=exc,
        )
        stop.set()

    return handler


def _trace_allocations_if_asked(loop: asyncio.AbstractEventLoop, process: str) -> None:
    """A diagnosis for the memory soak (``bench/memory_soak.py``), off unless asked for.

    With ``SMAVENUS_TRACEMALLOC_DIR`` set, allocations are traced and a snapshot is dumped
    there every ``SMAVENUS_TRACEMALLOC_INTERVAL_S`` (300 s), so growth over hours can be
    traced to the line that allocates. Tracing costs memory and time: never in production.
    """
    directory = os.environ.get("SMAVENUS_TRACEMALLOC_DIR")
    if not directory:
        return
    import tracemalloc  # noqa: PLC0415 - a diagnosis only

    interval_s = float(os.environ.get("SMAVENUS_TRACEMALLOC_INTERVAL_S", "300"))
    tracemalloc.start(8)
    count = 0

    def dump() -> None:
        nonlocal count
        count += 1
        name = f"{process}-{os.getpid()}-{count:04d}.tracemalloc"
        tracemalloc.take_snapshot().dump(os.path.join(directory, name))
        loop.call_later(interval_s, dump)

    loop.call_later(interval_s, dump)


def run_service(main: ServiceMain, *, process: str, fail_fast: bool = False) -> int:
    """Run ``main`` to completion and return the process exit status.

    ``fail_fast``: an exception escaping a loop callback or task ends the process (exit 1).
    """
    log = structlog.get_logger(process)
    loop = _new_loop()
    # SIGTERM and SIGINT stop the service cleanly from its first line on, also before the
    # loop runs (uvloop would drop a signal that came then): a supervisor that stops it as
    # soon as it says it is starting gets a clean exit, not a process killed mid-start.
    early: list[int] = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda received, _frame: early.append(received))
    log.info(
        "service_starting", loop=type(loop).__module__.split(".")[0], python=sys.version.split()[0]
    )
    try:
        return loop.run_until_complete(_guarded(main, process, fail_fast, early))
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
SERVICE_USAGE = """usage: {prog} [-h] [--version] --config FILE

{description}

options:
  -h, --help     show this help and exit
  --version      show the version and exit
  --config FILE  the TOML configuration (required)
"""
MISSING_CONFIG = "--config FILE is required (print an example with: smavenus config example)"


def service_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    process: str,
    description: str,
    run: ConfiguredMain,
    fail_fast: bool = False,
    refuse: Callable[[AppConfig], str | None] | None = None,
) -> int:
    """The ``main()`` of every service: ``--config FILE``, validate, log, run until stopped.

    ``--config`` is required: the built-in defaults describe no real battery, and a service
    started without a file would command the SI from them. A missing flag or a bad
    configuration prints the reason (every problem as ``section.key: reason``) and exits 2
    before anything starts, so a supervisor's restart loop shows the reason in the log.
    ``refuse`` may name one more reason not to start (one line, exit 2 as well).
    """
    config = parse_service_arguments(argv, prog=prog, description=description)
    if isinstance(config, int):
        return config
    notices: list[str] = []
    try:
        cfg = load_config(config, notices)
    except ConfigError as exc:
        sys.stderr.write("".join(f"{line}\n" for line in exc.problems))
        return EXIT_CONFIG
    reason = None if refuse is None else refuse(cfg)
    if reason is not None:
        sys.stderr.write(f"{prog}: {reason}\n")
        return EXIT_CONFIG
    configure_logging(process, cfg.logging.level, cfg.logging.format)
    _log_config_notices(process, notices)
    return run_service(lambda stop: run(cfg, stop), process=process, fail_fast=fail_fast)


def parse_service_arguments(
    argv: Sequence[str] | None, *, prog: str, description: str
) -> Path | int:
    """The configuration file named on a service's command line, or the exit status to end with.

    ``--help`` and ``--version`` print to stdout and end with EXIT_OK; anything else wrong is
    one line on stderr and EXIT_CONFIG. :mod:`getopt`, not :mod:`argparse`: two options need
    no more, and argparse would stay in every service's memory for as long as it runs
    (about 0.2 MiB each, ``docs/benchmarks.md``).
    """
    try:
        options, extra = getopt.gnu_getopt(
            list(sys.argv[1:] if argv is None else argv), "h", ["help", "version", "config="]
        )
    except getopt.GetoptError as exc:
        sys.stderr.write(f"{prog}: {exc} (see --help)\n")
        return EXIT_CONFIG
    config = None
    for option, value in options:
        if option in ("-h", "--help"):
            sys.stdout.write(SERVICE_USAGE.format(prog=prog, description=description))
            return EXIT_OK
        if option == "--version":
            sys.stdout.write(f"{prog} {__version__}\n")
            return EXIT_OK
        config = Path(value)
    if extra:
        sys.stderr.write(f"{prog}: unexpected argument {extra[0]!r} (see --help)\n")
        return EXIT_CONFIG
    if config is None:
        sys.stderr.write(f"{prog}: {MISSING_CONFIG}\n")
        return EXIT_CONFIG
    return config


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
    first = next(iter(done))
    # A failure awaitable may end by raising: that is its reason, with its traceback.
    error = None if first.cancelled() else first.exception()
    for task in waiters:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if stop.is_set():
        return EXIT_OK
    traceback = {} if error is None else {"exc_info": error}
    log.error("service_failing", reason=waiters[first], exit_status=EXIT_FAILURE, **traceback)
    return EXIT_FAILURE
