"""A million random frames through the decoder and the gateway core: no unexpected exception.

The decoder may refuse a frame only with :class:`~smavenus.errors.FrameDecodeError`; the
gateway core must never raise for anything the bus brings (it counts and logs instead), and
must keep sending the BMS frame set whatever arrives. Deterministic (a fixed seed), so a
failure reproduces; the seed and the frame are in the message.
"""

from __future__ import annotations

import random

import pytest

from smavenus.config import parse_config
from smavenus.errors import FrameDecodeError
from smavenus.gateway.actions import Instant, SendFrames
from smavenus.gateway.core import GatewayCore
from smavenus.gateway.settings import GatewaySettings
from smavenus.protocol import FRAME_SPECS, decode

IDS = sorted(spec.can_id for spec in FRAME_SPECS)
#: The frame table's IDs, their neighbours, and a few foreign ones (master/slave sync …).
CANDIDATE_IDS = sorted({*IDS, *(i + 1 for i in IDS), *(i - 1 for i in IDS), 0x000, 0x400, 0x7FF})
FRAMES = 1_000_000
SEED = 20261129


def random_frame(rng: random.Random) -> tuple[int, bytes]:
    can_id = rng.choice(CANDIDATE_IDS)
    length = rng.choice((8, 8, 8, 8, rng.randrange(0, 9)))
    return can_id, rng.randbytes(length)


@pytest.mark.slow
def test_a_million_random_frames_through_the_decoder() -> None:
    rng = random.Random(SEED)
    decoded = refused = 0
    decoded_ids: set[int] = set()
    for n in range(FRAMES):
        can_id, data = random_frame(rng)
        try:
            decode(can_id, data)
        except FrameDecodeError:
            refused += 1
        except Exception as exc:  # the decoder's contract: FrameDecodeError or a model
            pytest.fail(f"frame {n} (seed {SEED}): 0x{can_id:03X} {data.hex()} raised {exc!r}")
        else:
            decoded += 1
            decoded_ids.add(can_id)
    assert decoded + refused == FRAMES
    assert decoded_ids == set(IDS)  # every frame of the table was exercised, not only refusals


def test_the_gateway_core_takes_any_frame_and_keeps_sending() -> None:
    rng = random.Random(SEED + 1)
    core = GatewayCore(GatewaySettings.from_config(parse_config({})), Instant(0.0, 1.7e9))
    core.start()
    core.on_bus_opened(Instant(0.0, 1.7e9))
    sets = 0
    for n in range(50_000):
        now = n * 0.001
        can_id, data = random_frame(rng)
        core.on_frame(can_id, data, Instant(now, 1.7e9 + now), extended=rng.random() < 0.05)
        if n % 100 == 0:
            sets += sum(isinstance(a, SendFrames) for a in core.on_timer(Instant(now, 1.7e9 + now)))
    assert sets >= 49  # a frame set per period (1 s here), whatever arrived
    health = core.health(Instant(50.0, 1.7e9 + 50.0))
    assert health.frames_malformed + health.frames_received + health.frames_foreign > 0
