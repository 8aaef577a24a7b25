"""``[web]``: the smavenus-web dashboard (docs/web.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from smavenus.config.sections import _Section

#: ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` as ``smavenus web hash-password`` prints it.
HASH_FORMAT = r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$"


class WebConfig(_Section):
    """``[web]``: where the dashboard listens and who may use it."""

    listen: str = Field(
        "127.0.0.1:8088",
        description="host:port; beyond loopback only with password_hash set",
    )
    password_hash: str | None = Field(
        None,
        pattern=HASH_FORMAT,
        description="from `smavenus web hash-password`; never the password itself",
    )
    read_only: bool = Field(False, description="show everything, change nothing")
    behind_tls: bool = Field(
        False, description="a TLS proxy serves the page: session cookies get Secure"
    )
    session_max_age_s: float = Field(8 * 3600.0, ge=300.0, le=7 * 86400.0)
    login_attempts: int = Field(5, ge=1, le=100, description="failed logins per address …")
    login_window_s: float = Field(300.0, ge=10.0, le=86400.0, description="… in this window")
    history_hours: float = Field(24.0, ge=1.0, le=72.0, description="how far the charts go back")
    history_interval_s: float = Field(10.0, ge=1.0, le=300.0, description="one chart point per")

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r}: expected host:port, e.g. 127.0.0.1:8088")
        return value
