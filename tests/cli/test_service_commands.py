"""The services' command line: ``--config`` is required, renamed keys are logged."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smavenus import __version__
from smavenus.runtime import EXIT_CONFIG, EXIT_OK, parse_service_arguments
from smavenus.testing.dbus_daemon import PrivateDbusDaemon

BIN = Path(sys.executable).parent
SERVICES = ("smavenus-can-gateway", "smavenus-vebus-publisher", "smavenus-bms-controller")


def service(name: str) -> str:
    script = shutil.which(name, path=str(BIN))
    assert script is not None, "pip install the project first (scripts/test does)"
    return script


@pytest.mark.parametrize("name", SERVICES)
def test_without_config_a_service_exits_2_with_one_line(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [service(name)], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{name}: --config FILE is required (print an example with: smavenus config example)\n"
    )
    assert not any(tmp_path.iterdir())  # nothing written, not even a state directory


def test_a_renamed_section_is_logged_as_a_warning_and_the_service_runs(
    tmp_path: Path, dbus_daemon: PrivateDbusDaemon
) -> None:
    config = tmp_path / "old.toml"
    config.write_text(
        "[bms]\nperiod_s = 1.0\n\n"
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\n\n'
        '[logging]\nformat = "plain"\n'
    )
    log = tmp_path / "bms-controller.log"
    with log.open("wb") as sink:  # the DBUS_SYSTEM_BUS_ADDRESS of dbus_daemon is inherited
        process = subprocess.Popen(
            [service("smavenus-bms-controller"), "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30.0
        while "event=service_starting" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    text = log.read_text()
    assert code == 0, text
    deprecations = [line for line in text.splitlines() if "event=config_key_deprecated" in line]
    assert len(deprecations) == 1, text
    assert deprecations[0].startswith("level=warning ")
    assert 'notice="[bms] is now [controller]: rename the section' in deprecations[0]


ARGUMENTS = {"prog": "smavenus-x", "description": "What x does."}


@pytest.mark.parametrize(
    "argv", [["--config", "a.toml"], ["--config=a.toml"], ["--conf", "a.toml"]]
)
def test_the_configuration_file_is_named_by_config(argv: list[str]) -> None:
    assert parse_service_arguments(argv, **ARGUMENTS) == Path("a.toml")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ([], "--config FILE is required (print an example with: smavenus config example)"),
        (["--bogus"], "option --bogus not recognized (see --help)"),
        (["--config"], "option --config requires argument (see --help)"),
        (["--config", "a.toml", "b.toml"], "unexpected argument 'b.toml' (see --help)"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_service_arguments(argv, **ARGUMENTS) == EXIT_CONFIG
    assert capsys.readouterr() == ("", f"smavenus-x: {error}\n")


def test_help_and_version_print_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_service_arguments(["--config", "a.toml", "--version"], **ARGUMENTS) == EXIT_OK
    assert capsys.readouterr() == (f"smavenus-x {__version__}\n", "")
    assert parse_service_arguments(["-h"], **ARGUMENTS) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("usage: smavenus-x [-h] [--version] --config FILE\n\nWhat x does.\n")
    assert "--config FILE  the TOML configuration (required)" in out
