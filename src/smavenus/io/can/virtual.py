"""python-can's in-process virtual bus, filtering and counting foreign IDs like slcan."""

from __future__ import annotations

import queue
from collections.abc import Iterable

import can
from can.interfaces.virtual import VirtualBus


class CountingVirtualBus(VirtualBus):
    """python-can's in-process virtual bus, filtering and counting foreign IDs like slcan."""

    def __init__(self, channel: str, *, accept_ids: Iterable[int]) -> None:
        self._accept = frozenset(accept_ids)
        self.foreign = 0
        self.adapter_errors = 0
        super().__init__(channel=channel)

    def _accepted(self, msg: can.Message) -> bool:
        return bool(
            msg.is_error_frame
            or (
                not msg.is_extended_id
                and not msg.is_remote_frame
                and msg.arbitration_id in self._accept
            )
        )

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        self._check_if_open()
        try:
            msg = self.queue.get(block=True, timeout=timeout)
            while not self._accepted(msg):
                self.foreign += 1
                msg = self.queue.get_nowait()
        except queue.Empty:
            return None, True
        return msg, True


# -- receiving ------------------------------------------------------------------------------
