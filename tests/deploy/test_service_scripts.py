"""The daemontools run scripts: Venus style, one environment file, valid shell."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SERVICES = (
    "smavenus-can-gateway",
    "smavenus-bms-controller",
    "smavenus-vebus-publisher",
    "smavenus-web",
)


@pytest.mark.parametrize("name", SERVICES)
def test_run_scripts_are_executable_shell_with_the_venus_conventions(name: str) -> None:
    run = REPO / "services" / name / "run"
    log_run = REPO / "services" / name / "log" / "run"
    for script in (run, log_run):
        assert os.access(script, os.X_OK), script
        assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
        assert script.read_text().splitlines()[2] == "exec 2>&1"
    text = run.read_text()
    assert "softlimit" in text and f'/{name}" --config' in text
    assert f'multilog t s25000 n4 "$SMAVENUS_LOG_DIR/{name}"' in log_run.read_text()


def test_environment_file_resolves_from_a_symlinked_service_dir(tmp_path: Path) -> None:
    """svscan runs ./run inside /service/<name>, a symlink into /data/smavenus/services."""
    installed = tmp_path / "data" / "smavenus" / "services"
    shutil.copytree(REPO / "services", installed)
    probe = installed / "smavenus-can-gateway" / "probe.sh"
    probe.write_text(
        'here=$(cd "$(dirname "$0")" && pwd -P)\n'
        '. "$here/../env"\n'
        'echo "$SMAVENUS_CONFIG|$SMAVENUS_BIN"\n'
    )
    link = tmp_path / "service" / "smavenus-can-gateway"
    link.parent.mkdir()
    link.symlink_to(installed / "smavenus-can-gateway")
    out = subprocess.run(
        ["sh", "./probe.sh"], cwd=link, capture_output=True, text=True, check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.strip()  # fmt: skip
    assert out == "/data/smavenus/smavenus.toml|/data/smavenus/venv/bin"
