"""The Venus OS installer, run for real against a fake root directory laid out like a GX."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
INSTALLER = REPO / "deploy" / "venus" / "install.sh"
SERVICES = (
    "smavenus-can-gateway",
    "smavenus-bms-controller",
    "smavenus-vebus-publisher",
    "smavenus-web",
)

pytestmark = pytest.mark.slow


@pytest.fixture
def venus_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "opt" / "victronenergy").mkdir(parents=True)
    (root / "opt" / "victronenergy" / "version").write_text("v3.66\n")
    (root / "service").mkdir()
    (root / "data" / "rc.local").write_text("#!/bin/sh\n/data/other-driver/start.sh\n")
    return root


@pytest.fixture
def opkg(tmp_path: Path) -> Path:
    """A stand-in for opkg that records how it was called."""
    stub = tmp_path / "opkg"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/opkg.calls\n')
    stub.chmod(0o755)
    return stub


def install(root: Path, opkg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SMAVENUS_ROOT": str(root),
        "OPKG": str(opkg),
    }
    return subprocess.run(
        ["sh", str(INSTALLER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_install_twice_then_uninstall(venus_root: Path, opkg: Path) -> None:
    home = venus_root / "data" / "smavenus"

    first = install(venus_root, opkg)
    assert first.returncode == 0, first.stderr + first.stdout
    # Venus's own packages are asked for first
    calls = (opkg.parent / "opkg.calls").read_text().splitlines()
    assert calls[0] == "update"
    assert "python3-can" in calls[1] and "python3-dbus-fast" in calls[1]
    # the package and its console scripts are in the venv under /data ...
    for script in ("smavenus", *SERVICES):
        assert (home / "venv" / "bin" / script).is_file(), script
    # ... and only the main distribution: nothing that plays a Sunny Island
    for script in ("smavenus-sim", "smavenus-bench"):
        assert not (home / "venv" / "bin" / script).exists(), script
    assert not (home / "src" / "tools").exists()
    checked = subprocess.run(
        [str(home / "venv" / "bin" / "smavenus"), "config", "check", str(home / "smavenus.toml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert 'state_dir = "/data/smavenus/state"' in checked.stdout
    # services linked into /service, pointing into /data
    for name in SERVICES:
        link = venus_root / "service" / name
        assert link.is_symlink() and (link / "run").is_file()
    # the D-Bus policy is installed where dbus-daemon reads it
    policy = venus_root / "etc" / "dbus-1" / "system.d" / "smavenus.conf"
    assert policy.read_text() == (REPO / "deploy" / "dbus" / "smavenus.conf").read_text()
    rc_local = (venus_root / "data" / "rc.local").read_text()
    assert "/data/smavenus/boot.sh" in rc_local and os.access(
        venus_root / "data" / "rc.local", os.X_OK
    )

    # a user's edited configuration survives an update; rc.local gets no second block
    config = home / "smavenus.toml"
    config.write_text(config.read_text().replace("capacity_ah = 280.0", "capacity_ah = 200.0"))
    second = install(venus_root, opkg)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "capacity_ah = 200.0" in config.read_text()
    assert (venus_root / "data" / "rc.local").read_text() == rc_local

    removed = install(venus_root, opkg, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not home.exists()
    assert not policy.exists()
    assert not any((venus_root / "service").iterdir())
    assert (
        venus_root / "data" / "rc.local"
    ).read_text() == "#!/bin/sh\n/data/other-driver/start.sh\n"


def test_refuses_to_run_outside_venus_without_a_fake_root(tmp_path: Path, opkg: Path) -> None:
    if Path("/opt/victronenergy/version").exists():
        pytest.skip("this machine is a Venus OS device")
    env = {**os.environ, "OPKG": str(opkg)}
    env.pop("SMAVENUS_ROOT", None)
    result = subprocess.run(
        ["sh", str(INSTALLER)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "not Venus OS" in result.stderr
