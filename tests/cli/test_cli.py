"""The installed ``smavenus`` console script, run as a user would run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SMAVENUS = shutil.which("smavenus", path=str(Path(sys.executable).parent)) or "smavenus"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SMAVENUS, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_console_script_is_installed() -> None:
    assert Path(SMAVENUS).is_file(), "pip install the project first (scripts/test does)"


def test_decode_one_frame_prints_one_json_object() -> None:
    result = run("decode", "305", "10029CFFE600DE03")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "can_id": "0x305",
        "name": "battery_status",
        "fields": {"voltage_v": 52.8, "current_a": -10.0, "temperature_c": 23.0, "soc_pct": 99.0},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("decode", "3AB", "00"), "smavenus: 0x3AB: unknown CAN ID\n"),
        (("decode", "305", "10029CFFE600DE"), "smavenus: 0x305: expected 8 bytes, got 7\n"),
        (("decode", "305", "XYZ"), "smavenus: 'XYZ' is not hexadecimal data\n"),
        (("decode", "GG", "00"), "smavenus: 'GG' is not a hexadecimal CAN ID\n"),
        (("decode", "--log", "/nonexistent.log"), "smavenus: /nonexistent.log: no such file\n"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_decode_candump_log_prints_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "capture.log"
    log.write_text(
        "(1700000000.100000) can0 305#10029CFFE600DE03\n"
        "(1700000000.200000) can0 123#DEADBEEF\n"  # foreign ID: skipped
        "(1700000000.300000) can0 351#58026806D007CC01\n"
        "(1700000000.400000) can0 356#0011\n"  # malformed: reported, not fatal
    )
    result = run("decode", "--log", str(log))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["can_id"] for r in records] == ["0x305", "0x351", "0x356"]
    assert records[0]["timestamp"] == 1700000000.1
    assert records[1]["fields"]["charge_current_a"] == 164.0
    assert records[2]["error"] == "expected 6 or 8 bytes, got 2"


def test_decode_shipped_example_capture() -> None:
    result = run("decode", "--example")
    assert result.returncode == 0, result.stderr
    names = {json.loads(line)["name"] for line in result.stdout.splitlines()}
    assert {"battery_status", "relay_status", "charge_limits", "alarms_warnings"} <= names


def test_config_check_prints_effective_config(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('[can]\ninterface = "slcan"\nchannel = "/dev/ttyACM0"\n')
    result = run("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert 'interface = "slcan"' in result.stdout
    assert "absorption_voltage_v = 56.0" in result.stdout  # defaults filled in


def test_config_check_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[battery]\nmin_discharge_voltage_v = 40\nfoo = 1\n")
    result = run("config", "check", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "battery.min_discharge_voltage_v: Input should be greater than or equal to 41",
        "battery.foo: unknown key (check the spelling against the example config)",
    ]


def test_config_check_prints_a_notice_per_renamed_key_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text("[bms]\nbulk_current_a = 80.0\n\n[gateway]\nrebuild_backoff_max_s = 20.0\n")
    result = run("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"{path}: notice: [bms] is now [controller]: rename the section (the old name still works)",
        f"{path}: notice: gateway.rebuild_backoff_max_s is now gateway.reopen_backoff_max_s "
        "(the old name still works)",
    ]
    controller = result.stdout.split("[controller]\n")[1].split("\n[")[0]
    assert "bulk_current_a = 80.0" in controller  # read under its new name
    assert "reopen_backoff_max_s = 20.0" in result.stdout


def test_config_example_is_what_config_check_accepts(tmp_path: Path) -> None:
    example = run("config", "example")
    path = tmp_path / "example.toml"
    path.write_text(example.stdout)
    assert run("config", "check", str(path)).returncode == 0
