"""The adapter side of slcan: the commands a CANable answers, and how."""

from __future__ import annotations

import pytest

from smavenus.slcan.device import ERROR, OK, ChannelState, HostFrame, SlcanDevice


def opened(listen_only: bool = False) -> SlcanDevice:
    device = SlcanDevice()
    assert device.feed(b"C\rS6\r" + (b"L\r" if listen_only else b"O\r")) == OK * 3
    return device


def test_python_can_open_sequence() -> None:
    device = SlcanDevice()
    # python-can 4.6.1: C, S6, an empty line (no CAN-FD data bitrate), O; then O again.
    assert device.feed(b"C\rS6\r\rO\r") == OK * 4
    assert (device.state, device.bitrate) == (ChannelState.OPEN, 500_000)
    assert device.feed(b"O\r") == ERROR  # already open


def test_commands_split_across_reads_are_reassembled() -> None:
    device = SlcanDevice()
    assert device.feed(b"S") == b""
    assert device.feed(b"6\rO") == OK
    assert device.feed(b"\r") == OK


def test_version_and_serial_queries() -> None:
    device = SlcanDevice(version="1013", serial_number="SV01")
    assert device.feed(b"V\rN\r") == b"V1013\rNSV01\r"


@pytest.mark.parametrize("command", [b"X\r", b"S9\r", b"S\r", b"Z2\r", b"sGG11\r", b"\xff\r"])
def test_bad_commands_get_the_error_reply(command: bytes) -> None:
    device = SlcanDevice()
    assert device.feed(command) == ERROR
    assert device.errors == 1


def test_bitrate_cannot_change_while_open() -> None:
    device = opened()
    assert device.feed(b"S4\r") == ERROR
    assert device.bitrate == 500_000


def test_open_needs_a_bitrate() -> None:
    assert SlcanDevice().feed(b"O\r") == ERROR


@pytest.mark.parametrize(
    ("line", "frame"),
    [
        (b"t3518580268\r", None),  # DLC 8 but 5 bytes: malformed
        (b"t35180102030405060708\r", HostFrame(0x351, bytes(range(1, 9)))),
        (b"T1234567820102\r", HostFrame(0x12345678, b"\x01\x02", extended=True)),
        (b"r3510\r", HostFrame(0x351, b"", remote=True)),
        (b"t00F0\r", HostFrame(0x00F, b"")),
    ],
)
def test_transmit_frames(line: bytes, frame: HostFrame | None) -> None:
    device = opened()
    reply = device.feed(line)
    if frame is None:
        assert reply == ERROR and device.transmitted == []
    else:
        assert reply == b"" and device.transmitted == [frame]


def test_no_transmit_while_closed_or_listen_only() -> None:
    assert SlcanDevice().feed(b"t00F0\r") == ERROR
    assert opened(listen_only=True).feed(b"t00F0\r") == ERROR


def test_received_frames_are_formatted_for_the_host() -> None:
    device = opened()
    assert device.frame_line(0x305, bytes.fromhex("10029CFFE600DE03")) == b"t305810029CFFE600DE03\r"
    assert device.frame_line(0x1ABCDEF0, b"\x01", extended=True) == b"T1ABCDEF0101\r"


def test_garbage_without_terminator_is_discarded() -> None:
    device = SlcanDevice()
    assert device.feed(b"x" * 100) == ERROR
    assert device.feed(b"S6\r") == OK
