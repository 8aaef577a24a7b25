"""Logging: one line per event under a supervisor, library logs through the same renderer."""

from __future__ import annotations

import io
import logging

import structlog

from smavenus.log import configure_logging


def test_plain_format_is_one_key_value_line_without_time() -> None:
    stream = io.StringIO()
    log = configure_logging("can-gateway", "info", "plain", stream=stream)
    log.info("bms_frames_started", period_s=1.0)
    line = stream.getvalue().strip()
    assert line == "level=info process=can-gateway event=bms_frames_started period_s=1.0"


def test_library_stdlib_logs_share_the_renderer_and_level() -> None:
    stream = io.StringIO()
    configure_logging("can-gateway", "info", "plain", stream=stream)
    logging.getLogger("can.interfaces.slcan").warning("serial port lost")
    logging.getLogger("can").info("chatter below warning is dropped")
    assert stream.getvalue().strip() == 'level=warning process=can-gateway event="serial port lost"'


def test_debug_level_lets_library_debug_through() -> None:
    stream = io.StringIO()
    configure_logging("vebus-publisher", "debug", "plain", stream=stream)
    logging.getLogger("dbus_fast").debug("detail")
    assert "event=detail" in stream.getvalue()


def test_json_format_for_log_shippers() -> None:
    stream = io.StringIO()
    configure_logging("bms-controller", "info", "json", stream=stream)
    structlog.get_logger().warning("input_stale", input="battery_monitor", age_s=12.5)
    assert '"event": "input_stale"' in stream.getvalue()
    assert '"process": "bms-controller"' in stream.getvalue()
