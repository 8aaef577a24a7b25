"""Passwords (scrypt), sessions with their CSRF tokens, and the login rate limit. Pure:
every time is passed in; random tokens come from :mod:`secrets`.

* A password is stored only as ``scrypt$n$r$p$salt$key`` (:func:`hash_password`, the stdlib's
  ``hashlib.scrypt``; n = 2¹⁴, r = 8, p = 1: about 16 MiB and 50 ms per try on a GX, which
  is what makes guessing slow without making a login slow).
* A session is a random token (the cookie) with its own CSRF token; every write must carry
  the CSRF token in a header, which another site's page cannot read or set.
* Failed logins are counted per address in a sliding window; past the limit the address
  waits (HTTP 429), whatever the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
#: scrypt needs 128·n·r bytes; allow a little more than that.
_MAXMEM = 2 * 128 * SCRYPT_N * SCRYPT_R


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
        maxmem=_MAXMEM, dklen=KEY_BYTES,
    )  # fmt: skip
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt, validate=True),
            n=int(n), r=int(r), p=int(p), maxmem=4 * 128 * int(n) * int(r), dklen=len(expected),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass
class Session:
    token: str
    csrf: str
    user: str  #: "admin" after a login; "local" on loopback without a password
    created_at: float
    last_seen: float


@dataclass
class Sessions:
    """The sessions in force. Bounded: the oldest goes when ``capacity`` is reached."""

    max_age_s: float
    capacity: int = 64
    _by_token: dict[str, Session] = field(default_factory=dict)

    def open(self, user: str, now: float) -> Session:
        self.expire(now)
        while len(self._by_token) >= self.capacity:
            del self._by_token[next(iter(self._by_token))]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user, now, now)
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None, now: float) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        if now - session.created_at >= self.max_age_s:
            del self._by_token[token]
            return None
        session.last_seen = now
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def expire(self, now: float) -> None:
        for token, session in list(self._by_token.items()):
            if now - session.created_at >= self.max_age_s:
                del self._by_token[token]

    def __len__(self) -> int:
        return len(self._by_token)


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    return (
        session is not None
        and presented is not None
        and hmac.compare_digest(session.csrf.encode(), presented.encode())
    )


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per address in ``window_s``. Bounded memory: at
    most ``max_addresses`` addresses are remembered (the oldest forgotten first)."""

    attempts: int
    window_s: float
    max_addresses: int = 1024
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, address: str, now: float) -> float:
        """Seconds this address must wait before it may try again (0: it may now)."""
        failures = self._prune(address, now)
        if len(failures) < self.attempts:
            return 0.0
        return max(failures[0] + self.window_s - now, 0.0)

    def failed(self, address: str, now: float) -> None:
        failures = self._prune(address, now)
        failures.append(now)
        self._failures[address] = failures
        while len(self._failures) > self.max_addresses:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _prune(self, address: str, now: float) -> deque[float]:
        failures = self._failures.pop(address, deque())
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        if failures:
            self._failures[address] = failures  # most recently used last
        return failures
