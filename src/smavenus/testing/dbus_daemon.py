"""A private ``dbus-daemon`` standing in for the system bus.

Tests, the benchmarks and ``scripts/bench`` run the services against it by exporting its
address as ``DBUS_SYSTEM_BUS_ADDRESS``; nothing touches the machine's real system bus.
An optional policy file (the project's own, ``deploy/dbus/smavenus.conf``) can be included to
test who may own which name.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

_OPEN_POLICY = """
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow eavesdrop="true"/>
  </policy>"""


class PrivateDbusDaemon:
    """Start with ``with PrivateDbusDaemon() as daemon:``; ``daemon.address`` is the bus address."""

    def __init__(
        self, directory: Path | None = None, extra_policy_file: Path | None = None
    ) -> None:
        self._own_dir = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="smavenus-dbus-")) if directory is None else directory
        )
        self.socket = self.directory / "system_bus_socket"
        self.extra_policy_file = extra_policy_file
        self.address = f"unix:path={self.socket}"
        self._process: subprocess.Popen[str] | None = None

    def _config(self) -> str:
        include = (
            f"\n  <include>{self.extra_policy_file}</include>" if self.extra_policy_file else ""
        )
        # The open policy first: an included file's rules come later and so take precedence.
        policy = _OPEN_POLICY
        return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={self.socket}</listen>
  <auth>EXTERNAL</auth>{policy}{include}
</busconfig>
"""

    def start(self) -> str:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon is not installed (Debian package: dbus)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "bus.conf"
        config.write_text(self._config())
        self._process = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            # Its stderr is only start-up chatter ("Failed to set fd limit" when not root).
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        printed = self._process.stdout.readline().strip()
        if not printed:
            self.stop()
            raise RuntimeError("dbus-daemon did not start")
        self.address = printed
        return self.address

    def restart(self) -> str:
        """Stop the daemon and start a new one on the same socket (what a GX's dbus-daemon
        restart looks like to its clients: every connection ends, the address stays)."""
        self._terminate()
        return self.start()

    def stop(self) -> None:
        self._terminate()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _terminate(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> PrivateDbusDaemon:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
