"""``smavenus-sim`` as a user and the gateway's tests run it: a process on a pty."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import can
import pytest

from smavenus.protocol import decode
from smavenus.protocol.specs import SI_STATUS_IDS
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
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
                msg = host.recv(30.0)  # a deadline for a stopped simulator, not a pace
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
    f952 = sim.wait_for_event("f952_raised", timeout_s=60)  # nobody sends BMS frames
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
        assert host.recv(30.0) is not None
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
            msg = host.recv(30.0)
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
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        status = sim.status()
        if status["bms_frames_received"] >= count:
            return status
        time.sleep(0.02)  # between polls of the simulator's own count
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


REFUSAL = "smavenus-sim: refusing a real bus: "


@pytest.mark.parametrize(
    ("dbus_address", "message"),
    [
        (None, "DBUS_SYSTEM_BUS_ADDRESS is not set, so the battery monitor would go on the real"),
        ("", "DBUS_SYSTEM_BUS_ADDRESS is not set, so the battery monitor would go on the real"),
        (
            "unix:path=/var/run/dbus/system_bus_socket",
            "DBUS_SYSTEM_BUS_ADDRESS names the real system bus (/var/run/dbus/system_bus_socket)",
        ),
        (
            "unix:path=/tmp/elsewhere;unix:path=/run/dbus/system_bus_socket",
            "DBUS_SYSTEM_BUS_ADDRESS names the real system bus (/run/dbus/system_bus_socket)",
        ),
    ],
)
def test_a_battery_monitor_on_the_real_system_bus_is_refused(
    tmp_path: Path, dbus_address: str | None, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    if dbus_address is not None:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = dbus_address
    link = tmp_path / "ttyACM-sim"
    result = subprocess.run(
        [*sim_command(), "--slcan-link", str(link), "--battery-monitor", "sim"],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(REFUSAL + message), result.stderr
    assert "--force-real-bus" in result.stderr
    assert not link.exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interface", "socketcan", "--channel", "lo"], "socketcan channel lo is not a vcan"),
        (["--interface", "socketcan", "--channel", "vcan-none"], "no such network interface"),
        (["--interface", "slcan", "--channel", "/dev/ttyACM0"], "--interface slcan drives CAN"),
        (["--interface", "pcan", "--channel", "PCAN_USBBUS1"], "--interface pcan drives CAN"),
    ],
)
def test_a_can_channel_that_is_not_virtual_is_refused(args: list[str], message: str) -> None:
    result = subprocess.run(
        [*sim_command(), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(REFUSAL) and message in result.stderr, result.stderr


def test_a_battery_monitor_on_a_private_bus_is_not_refused(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon
) -> None:
    with SimProcess(tmp_path, speed=10, battery_monitor="sim") as sim:
        assert sim.status()["ok"] is True
    assert sim.returncode == 0
    log = sim.log_path.read_text()
    assert "real_bus_forced" not in log and "refusing" not in log, log


def read_until(fd: int, wanted: bytes, timeout_s: float) -> bytes:
    """Bytes from ``fd`` until ``wanted`` has been seen (or the deadline passes)."""
    received = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in received:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{wanted!r} not seen in {received[-200:]!r}"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            received += os.read(fd, 4096)
    return received


def test_force_real_bus_overrides_the_refusal_with_a_warning(tmp_path: Path) -> None:
    """python-can's slcan on a serial port counts as real; here the "adapter" is our pty."""
    adapter, port = os.openpty()
    log_path = tmp_path / "sim.log"
    try:
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [*sim_command(), "--interface", "slcan", "--channel", os.ttyname(port),
                 "--force-real-bus", "--log-format", "plain"],
                stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        try:
            traffic = read_until(adapter, b"\rt30", timeout_s=30)  # opened, then SI frames
            assert b"S6\r" in traffic and b"O\r" in traffic  # 500 kbit/s, channel opened
        finally:
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)
    finally:
        os.close(adapter)
        os.close(port)
    text = log_path.read_text()
    assert process.returncode == 0, text
    forced = [line for line in text.splitlines() if "event=real_bus_forced" in line]
    assert len(forced) == 1, text
    assert forced[0].startswith("level=warning ") and "bus=can" in forced[0]
    assert "--interface slcan drives CAN hardware" in forced[0]
    assert "BMS frames received: 0" in out
