"""``smavenus-sim`` as a user and the gateway's tests run it: a process on a pty."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import can
import pytest

from smavenus.protocol import decode
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.testing.sim import SimProcess, sim_command

FRAMES = 11 * 30  # thirty status cycles


def open_host(path: str, *, listen_only: bool = False) -> can.BusABC:
    return can.Bus(
        interface="slcan",
        channel=path,
        bitrate=500_000,
        sleep_after_open=0,
        listen_only=listen_only,
    )


def record_frames(workdir: Path, seed: int) -> list[tuple[int, bytes]]:
    """Open the adapter listen-only and record the first FRAMES frames of the scenario."""
    workdir.mkdir()
    with SimProcess(
        workdir, speed=60, scenario="grid-outage", seed=seed, start_on_open=True
    ) as sim:
        host = open_host(sim.path, listen_only=True)
        frames = []
        try:
            while len(frames) < FRAMES:
                msg = host.recv(5.0)
                assert msg is not None, "the simulator stopped talking"
                frames.append((msg.arbitration_id, bytes(msg.data)))
        finally:
            host.shutdown()
    return frames


def test_replays_a_scenario_deterministically(tmp_path: Path) -> None:
    with ThreadPoolExecutor(3) as pool:
        runs = list(
            pool.map(
                lambda args: record_frames(tmp_path / args[0], args[1]),
                [("a", 5), ("b", 5), ("c", 6)],
            )
        )
    first, again, other_seed = runs
    assert [can_id for can_id, _ in first[:11]] == list(SI_STATUS_IDS)
    assert again == first  # same seed: the same bytes, frame for frame
    assert other_seed != first  # another seed: other measurement noise
    assert [i for i, _ in other_seed] == [i for i, _ in first]  # ... on the same schedule


def test_runs_until_sigterm_and_prints_a_summary(tmp_path: Path) -> None:
    sim = SimProcess(tmp_path, speed=100).start()
    link = Path(sim.path)
    assert link == sim.link_path
    assert link.is_symlink() and str(link.resolve()).startswith("/dev/pts/")
    f952 = sim.wait_for_event("f952_raised", timeout_s=20)  # nobody sends BMS frames
    assert f952["t_s"] == 60.0
    assert sim.stop() == 0
    assert "f952_raised" in sim.summary_text
    assert "longest gap: -" in sim.summary_text
    recorded = sim.recorded_events()
    assert recorded[-1]["event"] == "summary"
    assert recorded[-1]["events"]["f952_raised"] == 1
    assert any(e["event"] == "f952_raised" and e["t_s"] == 60.0 for e in recorded)
    assert not link.exists()


def test_unplug_and_replug_the_adapter_over_the_control_socket(tmp_path: Path) -> None:
    with SimProcess(tmp_path, speed=10) as sim:
        host = open_host(sim.path)
        assert host.recv(5.0) is not None
        sim.apply("adapter", state="unplug")
        assert not sim.link_path.exists()
        with pytest.raises(can.CanOperationError):
            for _ in range(100):
                host.recv(0.05)
        with pytest.raises(can.CanOperationError):
            host.shutdown()
        sim.apply("adapter", state="plug")
        host = open_host(sim.path)
        try:
            msg = host.recv(5.0)
            assert msg is not None
            decode(msg.arbitration_id, bytes(msg.data))
        finally:
            host.shutdown()
        applied = [e for e in sim.events() if e["event"] == "scenario"]
        assert [(e["source"], e["state"]) for e in applied] == [
            ("control", "unplug"),
            ("control", "plug"),
        ]


def received(sim: SimProcess, count: int) -> dict[str, object]:
    for _ in range(250):
        status = sim.status()
        if status["bms_frames_received"] == count:
            return status
        time.sleep(0.02)
    raise AssertionError(f"the simulator did not receive {count} BMS frames")


def test_silenced_bms_frames_are_recorded_but_not_heard(tmp_path: Path) -> None:
    soc_57 = can.Message(
        arbitration_id=0x355, data=bytes.fromhex("390064004416"), is_extended_id=False
    )
    soc_80 = can.Message(
        arbitration_id=0x355, data=bytes.fromhex("50006400401F"), is_extended_id=False
    )
    with SimProcess(tmp_path, speed=5) as sim:
        host = open_host(sim.path)
        try:
            host.send(soc_57)
            assert received(sim, 1)["bms_values"]["soc_hires_pct"] == 57.0  # type: ignore[index]
            sim.apply("bms_silence", duration_s=30)
            host.send(soc_80)
            status = received(sim, 2)
            assert status["bms_silenced"] is True
            assert status["bms_values"]["soc_hires_pct"] == 57.0  # type: ignore[index]
        finally:
            host.shutdown()
    arrivals = sim.bms_arrivals()
    assert [can_id for _t, can_id in arrivals] == [0x355, 0x355]
    assert arrivals[0][0] <= arrivals[1][0]  # both may fall in one 0.1 s model step


def test_control_refuses_bad_requests(tmp_path: Path) -> None:
    with SimProcess(tmp_path, speed=1) as sim:
        with pytest.raises(RuntimeError, match=r"event\.load\.power_w"):
            sim.apply("load", power_w=-5)
        with pytest.raises(RuntimeError, match="line 2: the cluster has 1 lines"):
            sim.apply("load", line=2, power_w=5)
        result = subprocess.run(
            [*sim_command(), "ctl", str(sim.control_path), "status"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "/nonexistent.toml"], "cannot read"),
        (["--speed", "0"], "--speed: must be positive"),
        (["--interface", "virtual", "--slcan-link", "/tmp/x"], "exclusive"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_each(args: list[str], message: str) -> None:
    result = subprocess.run(
        [*sim_command(), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
