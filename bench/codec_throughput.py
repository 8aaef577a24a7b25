"""Codec throughput on one core: decoded and encoded frames per second.

    .venv/bin/python bench/codec_throughput.py [--seconds 3]

Decodes the eleven SI status frames and encodes the seven cyclic BMS frames in a tight loop,
pure Python, no bus. Prints one line per direction.
"""

from __future__ import annotations

import argparse
import time

from smavenus.protocol import (
    AlarmsWarnings,
    BatteryInfo,
    BatteryMeasurements,
    BmsEvents,
    ChargeLimits,
    ManufacturerName,
    SocSoh,
    decode,
    encode,
)
from smavenus.protocol.specs import SI_STATUS_IDS

SI_FRAMES = [(can_id, bytes.fromhex("10029CFFE600DE03")) for can_id in SI_STATUS_IDS]
BMS_FRAMES = [
    ChargeLimits(56.8, 100.0, 200.0, 44.8),
    SocSoh(57, 100, 57.3),
    BatteryMeasurements(52.81, 10.0, 23.0),
    AlarmsWarnings.from_active(),
    BmsEvents(),
    ManufacturerName("SMAVENUS"),
    BatteryInfo(0, 256, 280),
]


def measure(label: str, one_round: object, frames_per_round: int, seconds: float) -> None:
    rounds = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            one_round()  # type: ignore[operator]
        rounds += 100
    elapsed = time.perf_counter() - start
    frames = rounds * frames_per_round
    print(f"{label}: {frames / elapsed:,.0f} frames/s ({elapsed / frames * 1e6:.2f} µs/frame)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds

    def decode_round() -> None:
        for can_id, data in SI_FRAMES:
            decode(can_id, data)

    def encode_round() -> None:
        for frame in BMS_FRAMES:
            encode(frame)

    measure("decode (SI status frames)", decode_round, len(SI_FRAMES), seconds)
    measure("encode (BMS frame set)", encode_round, len(BMS_FRAMES), seconds)


if __name__ == "__main__":
    main()
