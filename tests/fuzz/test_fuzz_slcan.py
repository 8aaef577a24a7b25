"""Any line an adapter (or line noise) hands the host through the slcan line parser.

The parser of :class:`~smavenus.io.can.slcan.ChunkedSlcanBus` turns one line (the bytes
between two ``\\r``) into a standard frame with an accepted ID, or into nothing, counted as
foreign or as an adapter error. Whatever the line, it must not raise, and a frame it returns
must be exactly what the line says: found by this test, a payload with whitespace
(``t305311 22 ``) came back as a frame of DLC 3 carrying two bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smavenus.io.can.slcan import ChunkedSlcanBus
from smavenus.protocol import FRAME_SPECS

ACCEPTED = sorted(spec.can_id for spec in FRAME_SPECS)
HEX = "0123456789abcdefABCDEF"


@pytest.fixture(scope="module")
def bus() -> Iterator[ChunkedSlcanBus]:
    controller, device = os.openpty()  # the adapter's side is never read: only lines parsed
    slcan = ChunkedSlcanBus(os.ttyname(device), accept_ids=ACCEPTED)
    yield slcan
    slcan.shutdown()
    os.close(controller)
    os.close(device)


def _frame_like(draw: st.DrawFn) -> bytes:
    """Mostly near-valid frames (an accepted ID, a DLC, hex), each part possibly damaged."""
    can_id = draw(st.sampled_from(ACCEPTED) | st.integers(0, 0xFFF))
    dlc = draw(st.integers(0, 9))
    pieces = (
        st.sampled_from(HEX)
        | st.sampled_from(HEX).map(lambda c: c + c)
        | st.sampled_from([" ", "\t", "\n", "+", "-", "x", "\x00", "\x7f"])
    )
    payload = "".join(draw(st.lists(pieces, max_size=12)))
    kind = draw(st.sampled_from("tTrRdbx"))
    return f"{kind}{can_id:03X}{dlc}{payload}".encode("latin-1")


frame_like = st.composite(_frame_like)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.binary(max_size=40) | frame_like())
@example(line=b"t305311 22 ")
def test_any_line_is_a_frame_exactly_as_written_or_nothing(
    bus: ChunkedSlcanBus, line: bytes
) -> None:
    counted = bus.foreign + bus.adapter_errors
    message = bus._parse(line)  # the parser is the unit under test
    if message is None:
        return
    assert bus.foreign + bus.adapter_errors == counted  # a frame is not also an error
    assert message.arbitration_id in ACCEPTED
    assert not message.is_extended_id and not message.is_remote_frame
    assert len(message.data) == message.dlc
    written = line.lstrip(b"\a")
    assert written.upper() == b"T%03X%d%s" % (
        message.arbitration_id, message.dlc, message.data.hex().upper().encode()
    )  # fmt: skip
