"""The Venus OS installer, run for real against a fake root directory laid out like a GX."""

from __future__ import annotations

import os
import subprocess
import sys
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
        "PYTHON": sys.executable,
        "SMAVENUS_WHEEL_PYTHONS": "",  # no wheels for other Pythons: PyPI time, not logic
    }
    return subprocess.run(
        ["sh", str(INSTALLER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def boot(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """/data/smavenus/boot.sh as rc.local runs it at boot (or with --enable, --self-test)."""
    return subprocess.run(
        [str(root / "data" / "smavenus" / "boot.sh"), *args],
        env={**os.environ, "SMAVENUS_ROOT": str(root), "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def linked(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "service").iterdir())


def test_install_enable_rebuild_after_a_python_change_then_uninstall(
    venus_root: Path, opkg: Path
) -> None:
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
    # a wheel cache and its lock, pinned exactly, under /data
    lock = (home / "requirements.lock").read_text().splitlines()
    pins = {line.split("==")[0].lower().replace("_", "-") for line in lock[1:]}
    assert {"smavenus", "python-can", "dbus-fast", "pydantic", "structlog"} <= pins, lock
    assert all("==" in line for line in lock[1:])
    assert len(list((home / "wheels").glob("*.whl"))) == len(lock) - 1
    checked = subprocess.run(
        [str(home / "venv" / "bin" / "smavenus"), "config", "check", str(home / "smavenus.toml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert 'state_dir = "/data/smavenus/state"' in checked.stdout
    # the example as written is valid, but nobody checked it against a battery: NOT enabled
    assert "NOT enabled" in first.stdout and "unedited example" in first.stdout
    assert linked(venus_root) == []
    # the D-Bus policy and the udev rule are installed where their daemons read them
    policy = venus_root / "etc" / "dbus-1" / "system.d" / "smavenus.conf"
    assert policy.read_text() == (REPO / "deploy" / "dbus" / "smavenus.conf").read_text()
    rule = venus_root / "etc" / "udev" / "rules.d" / "smavenus-slcan.rules"
    assert 'ENV{VE_SERVICE}="ignore"' in rule.read_text()
    assert rule.name > "serial-starter.rules"  # read after Venus's own: its word is the last
    rc_local = (venus_root / "data" / "rc.local").read_text()
    assert "/data/smavenus/boot.sh" in rc_local and os.access(
        venus_root / "data" / "rc.local", os.X_OK
    )

    # an edit that config check refuses is not enabled either
    config = home / "smavenus.toml"
    example = config.read_text()
    config.write_text(example.replace("capacity_ah = 280.0", "capacity_ah = -5"))
    refused = boot(venus_root, "--enable")
    assert refused.returncode == 1 and "battery.capacity_ah" in refused.stdout
    assert linked(venus_root) == []
    # the user's real battery: enabled, linked into /service, pointing into /data
    config.write_text(example.replace("capacity_ah = 280.0", "capacity_ah = 200.0"))
    enabled = boot(venus_root, "--enable")
    assert enabled.returncode == 0, enabled.stdout
    assert linked(venus_root) == sorted(SERVICES)
    for name in SERVICES:
        link = venus_root / "service" / name
        assert link.is_symlink() and (link / "run").is_file()

    # an update keeps the edited configuration and the enabled services; no second rc block
    second = install(venus_root, opkg)
    assert second.returncode == 0, second.stderr + second.stdout
    assert "capacity_ah = 200.0" in config.read_text()
    assert "installed and enabled" in second.stdout
    assert (venus_root / "data" / "rc.local").read_text() == rc_local

    # a firmware update brought another Python: the venv's interpreter is gone
    python = home / "venv" / "bin" / "python"
    for name in ("python", "python3", f"python3.{sys.version_info[1]}"):
        target = home / "venv" / "bin" / name
        if target.is_symlink() or target.exists():
            target.unlink()
            target.symlink_to("/nonexistent/usr/bin/python3.99")
    assert not python.exists()  # a dangling link: every service would crash-loop (F952)
    for name in SERVICES:  # /service is a tmpfs: empty after the reboot
        (venus_root / "service" / name).unlink()
    # no network: an unreachable proxy and index (the rebuild must use the cache alone)
    offline = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}  # fmt: skip
    rebooted = boot(venus_root, **offline)
    assert rebooted.returncode == 0, rebooted.stdout + rebooted.stderr
    log = (home / "boot.log").read_text()
    assert "self-test failed" in log and "venv rebuilt from the wheel cache" in log, log
    for app in ("can_gateway", "bms_controller", "vebus_publisher"):
        imported = subprocess.run(
            [str(python), "-c", f"import smavenus.apps.{app}"], capture_output=True, check=False
        )
        assert imported.returncode == 0, imported.stderr
    # ... and their console scripts start, as the run scripts start them (pip writes the
    # venv's path into each: a venv built elsewhere and moved would start none)
    for script in ("smavenus", *SERVICES):
        started = subprocess.run(
            [str(home / "venv" / "bin" / script), "--version"], capture_output=True, check=False
        )
        assert started.returncode == 0, (script, started.stderr)
    assert not (home / "venv.old").exists()
    assert linked(venus_root) == sorted(SERVICES)  # the services come back after the rebuild
    assert boot(venus_root, "--self-test").returncode == 0
    # pyserial, which the gateway imports only when it opens an slcan adapter, is tested too
    (serial,) = (home / "venv" / "lib").glob("python3*/site-packages/serial/__init__.py")
    serial.write_text("raise ImportError('a pyserial broken by an update')\n")
    assert boot(venus_root, "--self-test", **offline).returncode == 0
    log = (home / "boot.log").read_text()
    assert log.count("venv rebuilt from the wheel cache") == 2, log
    assert "broken" not in serial.read_text()

    removed = install(venus_root, opkg, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not home.exists()
    assert not policy.exists() and not rule.exists()
    assert not any((venus_root / "service").iterdir())
    assert (
        venus_root / "data" / "rc.local"
    ).read_text() == "#!/bin/sh\n/data/other-driver/start.sh\n"


def test_a_scripted_install_may_enable_the_example_when_it_says_it_checked_it(
    venus_root: Path, opkg: Path
) -> None:
    result = install(venus_root, opkg, "--i-have-checked-the-config")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "installed and enabled" in result.stdout
    assert linked(venus_root) == sorted(SERVICES)


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
