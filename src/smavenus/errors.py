"""The project's exception tree.

The split follows the direction of the fault, as h11 does: a *decode* error means the peer
(the Sunny Island, a capture file, another process) sent something we cannot accept; an
*encode* error means our own code asked for something the protocol cannot express.
Each also derives from ``ValueError`` so callers that only know the builtin can catch it.
"""

from __future__ import annotations


class SmavenusError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SmavenusError):
    """The configuration file is missing, unreadable or invalid.

    ``problems`` holds one ``section.key: reason`` line per problem.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class FrameDecodeError(ValueError, SmavenusError):
    """A CAN frame could not be decoded (remote fault: wrong length, unknown ID, bad content)."""

    def __init__(self, can_id: int, reason: str) -> None:
        super().__init__(f"0x{can_id:03X}: {reason}")
        self.can_id = can_id
        self.reason = reason


class FrameLengthError(FrameDecodeError):
    """A CAN frame arrived with a data length its specification does not allow."""

    def __init__(self, can_id: int, expected: tuple[int, ...], actual: int) -> None:
        wanted = " or ".join(str(n) for n in expected)
        super().__init__(can_id, f"expected {wanted} bytes, got {actual}")
        self.expected = expected
        self.actual = actual


class UnknownFrameError(FrameDecodeError):
    """No frame specification exists for this CAN ID."""

    def __init__(self, can_id: int) -> None:
        super().__init__(can_id, "unknown CAN ID")


class FrameEncodeError(ValueError, SmavenusError):
    """A frame could not be encoded (local fault: a value the protocol cannot carry)."""
