"""Where the dashboard listens, and whether that is this host only. Pure."""

from __future__ import annotations

import ipaddress

from smavenus.config.web import WebConfig


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8088"`` → ("127.0.0.1", 8088); ``"[::1]:8088"`` → ("::1", 8088)."""
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def is_loopback(host: str) -> bool:
    """Only this host can reach it. Any name but ``localhost`` counts as beyond: a name may
    resolve to anything."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(cfg: WebConfig) -> str | None:
    """Why the dashboard must not start with this configuration (None: it may)."""
    host, _port = split_listen(cfg.listen)
    if not is_loopback(host) and cfg.password_hash is None:
        return (
            f"[web] listen = {cfg.listen!r} is reachable beyond this host: set [web] "
            "password_hash (smavenus web hash-password) or listen on 127.0.0.1"
        )
    return None
