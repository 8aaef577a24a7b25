"""How the soak judges: its energy comparison, the multilog lines and supervise's status it
reads, and the control requests it sends the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from smavenus.sim.control import BadRequestError, InjectRequest, parse_request
from smavenus.sim.energy import NODES
from smavenus.testing.soak.energy import Sample, judge_energy
from smavenus.testing.soak.supervision import (
    LogFollower,
    parse_log_line,
    read_supervise_pid,
)

SPEED = 5.0


def sample(t: float, wh: float, counted_kwh: float, pid: int = 7, connected: float = 1.0) -> Sample:
    """One second of a load fed from the inverter only: ``wh`` simulated Wh so far."""
    truth = dict.fromkeys(NODES, 0.0) | {"inverter_out": wh, "ac_out_consumed": wh}
    return Sample(
        mono=t,
        sim_s=SPEED * t,
        reported_wh=truth,
        physical_wh=truth,
        vebus={"/Energy/InverterToAcOut": counted_kwh, "/Connected": connected},
        publisher_pid=pid,
    )


def test_energy_counted_right_over_clean_seconds_has_no_error() -> None:
    # 10 Wh of simulated time a second = 2 Wh of wall-clock counting at speed 5
    samples = [sample(t, 10.0 * t, 0.002 * t) for t in range(10)]
    report = judge_energy(samples, SPEED, 8.0)
    assert report["error_pct"] == 0.0
    assert report["clean_seconds"] == 9.0
    assert report["restarts"] == 0


def test_a_restart_is_judged_against_its_allowance_not_as_an_error() -> None:
    samples = [sample(t, 10.0 * t, 0.002 * t) for t in range(5)]
    # killed after t=4: the new process restored what was saved 3 s earlier
    samples += [sample(t, 10.0 * t, 0.002 * (t - 4), pid=8) for t in range(5, 10)]
    report = judge_energy(samples, SPEED, 8.0)
    assert report["error_pct"] == 0.0  # the seconds it counted, it counted right
    assert report["restarts"] == 1
    assert report["restart_lost_wh"] == pytest.approx(40.0)
    assert report["restarts_over_allowance"] == []  # 40 Wh < 10 Wh/s × (1 s + 8 s) + rounding


def test_seconds_in_an_outage_or_disconnected_are_reported_apart() -> None:
    samples = [sample(t, 10.0 * t, 0.002 * min(t, 3)) for t in range(6)]  # stopped counting at 3
    samples[4] = sample(4, 40.0, 0.006, connected=0.0)
    report = judge_energy(samples, SPEED, 8.0, outages=[(2.5, 3.5)])
    assert report["error_pct"] == 0.0  # 0→1→2 counted right
    assert report["outages"]["seconds"] == 3.0
    assert report["outages"]["truth_wh"] == 30.0
    assert report["outages"]["counted_wh"] == pytest.approx(10.0)


def test_a_multilog_line_gives_its_unix_time_and_fields() -> None:
    # TAI64N of Unix 1,700,000,000.5: 2^62 + 10 + seconds, then the nanoseconds
    label = f"@{(1 << 62) + 10 + 1_700_000_000:016x}{500_000_000:08x}"
    line = parse_log_line(
        "smavenus-web",
        f'{label} level=error process=web event=service_failing reason="dbus lost" exit_status=1',
    )
    assert line is not None
    assert line.unix == pytest.approx(1_700_000_000.5)
    assert (line.level, line.event, line.fields["reason"]) == (
        "error",
        "service_failing",
        "dbus lost",
    )
    assert parse_log_line("smavenus-web", "Traceback (most recent call last):") is None


def test_the_log_follower_reads_across_multilogs_rename(tmp_path: Path) -> None:
    current = tmp_path / "current"
    current.write_text("one\ntw")
    follower = LogFollower(tmp_path)
    assert follower.read() == ["one"]
    with current.open("a") as f:
        f.write("o\nthree\n")
    current.rename(tmp_path / "@4000000000000000.s")  # multilog: full, renamed
    current.write_text("four\n")
    assert follower.read() == ["two", "three", "four"]
    follower.close()


def test_supervises_status_file_gives_the_pid_or_none(tmp_path: Path) -> None:
    (tmp_path / "supervise").mkdir()
    status = tmp_path / "supervise" / "status"
    status.write_bytes(bytes(12) + (4242).to_bytes(4, "little") + b"\x00u")
    assert read_supervise_pid(tmp_path) == 4242
    status.write_bytes(bytes(16) + b"\x00d")  # down
    assert read_supervise_pid(tmp_path) is None
    assert read_supervise_pid(tmp_path / "nowhere") is None


def test_inject_requests_are_validated() -> None:
    request = parse_request('{"cmd": "inject", "frames": [{"can_id": 1100, "data": "0a0B"}]}')
    assert isinstance(request, InjectRequest)
    for bad in (
        '{"cmd": "inject", "frames": [{"can_id": 2048}]}',  # standard IDs end at 0x7FF
        '{"cmd": "inject", "frames": [{"can_id": 1, "data": "xyz"}]}',
        '{"cmd": "inject", "frames": [{"can_id": 1, "data": "001122334455667788"}]}',
        '{"cmd": "inject", "lines": ["\\u0100"]}',  # a line is bytes 0-255
        '{"cmd": "burst", "rate_hz": 0, "duration_s": 1}',
        '{"cmd": "burst", "rate_hz": 4500, "duration_s": 61}',
    ):
        with pytest.raises(BadRequestError):
            parse_request(bad)
