"""The gateway under attack: each failure of the issue injected into the real process.

A raising loop callback, a full log pipe, a wedged slcan adapter, a forged NameOwnerChanged
and a controller gone for long. The reaction is judged on the wire (what the simulated
adapter received) and by the exit status a supervisor acts on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import DBUS_NAME, DBUS_PATH, call
from smavenus.ipc import names
from smavenus.protocol import (
    AlarmCondition,
    AlarmsWarnings,
    BatteryStatus,
    PairState,
    SocSoh,
    encode,
)
from smavenus.testing.waiting import eventually

from .gateway_harness import (
    Controller,
    FakeSi,
    GatewayListener,
    GatewayProcess,
    slcan_config,
    wait_for_gateway,
    write_config,
)
from .test_gateway_supervision import persist_fresh_command

FAULTY_GATEWAY = Path(__file__).with_name("faulty_gateway.py")
NO_BUS = "unix:path=/nonexistent/smavenus-test-bus"


@pytest.fixture
async def si(tmp_path: Path) -> AsyncIterator[FakeSi]:
    fake = FakeSi(tmp_path / "ttyACM0")
    fake.plug()
    yield fake
    fake.unplug()


def config(tmp_path: Path, si: FakeSi, **sections: Any) -> Path:
    return write_config(tmp_path, slcan_config(tmp_path, si.path, **sections))


def raised_warnings(si: FakeSi) -> set[AlarmCondition]:
    latest: AlarmsWarnings | None = si.latest(0x35A)
    if latest is None:
        return set()
    return {c for c, state in latest.warnings.items() if state == PairState.RAISED}


# -- an exception escaping a loop callback -----------------------------------------------------


@pytest.mark.parametrize("fault", ["send-timer", "callback"])
async def test_an_exception_escaping_a_loop_callback_ends_the_process_at_once(
    tmp_path: Path, si: FakeSi, fault: str
) -> None:
    """asyncio alone would log it and go on; the send timer's chain would end with it."""
    gateway = GatewayProcess(
        config(tmp_path, si, can={"bms_period_s": 0.2}),
        env={
            "DBUS_SYSTEM_BUS_ADDRESS": NO_BUS,
            "SMAVENUS_TEST_FAULT": fault,
            "SMAVENUS_TEST_FAULT_AFTER_SETS": "5",
        },
        command=[sys.executable, str(FAULTY_GATEWAY)],
    )
    await gateway.start()
    await eventually(lambda: len(si.limits()) >= 3, 30.0, "frames before the fault")
    status = await gateway.wait(timeout_s=30.0)
    assert status == 1, gateway.log_text()
    (failed,) = gateway.events("loop_callback_failed")
    assert "StagedFaultError" in gateway.log_text() and "exit_status=1" in failed
    # At once, by the loop's handler: not later by the watchdog (its stall line, exit 3),
    # which is what would end a gateway whose send timer had silently died.
    assert gateway.events("bms_stream_stalled") == [], gateway.log_text()


# -- the log pipe full: the watchdog's last word must not block --------------------------------


async def test_with_the_log_pipe_full_a_stuck_loop_still_ends_in_exit_3(
    tmp_path: Path, si: FakeSi
) -> None:
    """multilog stalled: the loop blocks writing a log line while holding the handler's lock.

    The watchdog used to log through the same handler, so it blocked too and never exited.
    """
    read_end, write_end = os.pipe()
    persist_fresh_command(tmp_path / "state", charge_current_a=90.0)
    gateway = GatewayProcess(
        config(tmp_path, si, can={"bms_period_s": 0.2}, gateway={"watchdog_stall_s": 1.0}),
        env={"DBUS_SYSTEM_BUS_ADDRESS": NO_BUS},
        stderr=write_end,
    )
    try:
        await gateway.start()
        await eventually(
            lambda: 90.0 in si.charge_currents(), 30.0, "the resumed command on the wire"
        )
        # Fill the pipe through a description of our own (O_NONBLOCK on the shared one would
        # change the gateway's stderr too): from now on its next log line blocks.
        filler = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)
        for chunk in (b"x" * 4096, b"x"):  # pages, then whatever room the last one has
            with contextlib.suppress(BlockingIOError):
                while True:
                    os.write(filler, chunk)
        os.close(filler)
        await eventually(lambda: si.adapter.device.is_open, 30.0, "the channel open")
        si.send(0x305, bytes(3))  # malformed: the gateway logs it at once, and blocks there
        status = await gateway.wait(timeout_s=60.0)
    finally:
        os.close(write_end)
        with contextlib.suppress(OSError):
            while os.read(read_end, 65536):
                pass
        os.close(read_end)
    assert status == 3
    currents = si.charge_currents()
    assert currents[-1] == 0.0  # the watchdog's safe set was the last thing the SI heard


# -- a wedged slcan adapter ----------------------------------------------------------------------


async def test_a_wedged_adapter_is_reopened_and_the_stream_resumes_when_it_recovers(
    tmp_path: Path, si: FakeSi
) -> None:
    gateway = await GatewayProcess(
        config(tmp_path, si, can={"bms_period_s": 0.2}, gateway={"send_stall_reopen_after_s": 1.0}),
        env={"DBUS_SYSTEM_BUS_ADDRESS": NO_BUS},
    ).start()
    try:
        await eventually(lambda: len(si.limits()) >= 3, 30.0, "frames before the wedge")
        si.adapter.wedge()  # takes nothing more: "buffer full" to every frame, forever
        await eventually(
            lambda: gateway.events("can_bus_lost"), 40.0, "a re-open", gateway.log_text
        )
        (lost,) = gateway.events("can_bus_lost")
        assert "no whole BMS frame set handed to the adapter" in lost
        si.adapter.unwedge()
        since = time.monotonic()
        await eventually(
            lambda: len(si.limits(since)) >= 3, 30.0, "frames after recovery", gateway.log_text
        )
        await eventually(lambda: gateway.events("can_bus_recovered"), 30.0, "recovery logged")
        assert gateway.process is not None and gateway.process.returncode is None  # no restart
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log("can_bus_lost")


# -- a forged NameOwnerChanged -------------------------------------------------------------------


async def test_a_name_owner_changed_not_from_the_bus_daemon_is_not_believed(
    tmp_path: Path, si: FakeSi, system_bus: MessageBus
) -> None:
    listener = await GatewayListener(system_bus).start()
    gateway = await GatewayProcess(config(tmp_path, si, can={"bms_period_s": 0.2})).start()
    controller = await Controller.connect()
    impostor = await Controller.connect(own_name=False)
    try:
        await wait_for_gateway(listener)
        await controller.emit(controller.command(charge_current_a=30.0))
        await eventually(lambda: 30.0 in si.charge_currents(), 30.0, "the real controller heard")
        (gateway_unique,) = await call(
            system_bus,
            DBUS_NAME,
            DBUS_PATH,
            DBUS_NAME,
            "GetNameOwner",
            signature="s",
            body=[names.GATEWAY_BUS_NAME],
        )
        # "the controller's name now belongs to me": sent straight to the gateway, so no match
        # rule stands between it and the gateway's connection
        assert impostor.bus.unique_name is not None
        await impostor.bus.send(
            Message(
                message_type=MessageType.SIGNAL,
                destination=gateway_unique,
                path=DBUS_PATH,
                interface=DBUS_NAME,
                member="NameOwnerChanged",
                signature="sss",
                body=[
                    names.CONTROLLER_BUS_NAME,
                    controller.bus.unique_name,
                    impostor.bus.unique_name,
                ],
            )
        )
        await impostor.emit(impostor.command(charge_current_a=120.0))
        # the impostor's command was judged (after the forged signal: one connection, in order)
        await eventually(
            _unauthorized(listener), 30.0, "the impostor's command refused", gateway.log_text
        )
        since = time.monotonic()
        await eventually(lambda: len(si.limits(since)) >= 3, 30.0, "frames after the forgery")
        assert 120.0 not in si.charge_currents()
        await controller.emit(controller.command(charge_current_a=40.0))
        await eventually(lambda: 40.0 in si.charge_currents(), 30.0, "the real one still heard")
    finally:
        await impostor.close()
        await controller.close()
        assert await gateway.stop() == 0


def _unauthorized(listener: GatewayListener) -> Any:
    async def check() -> bool:
        return (await listener.get_health()).commands_unauthorized >= 1

    return check


# -- the controller gone for long: escalation in the frames --------------------------------------


async def test_a_controller_gone_for_long_escalates_step_by_step_on_the_wire(
    tmp_path: Path, si: FakeSi, system_bus: MessageBus
) -> None:
    listener = await GatewayListener(system_bus).start()
    gateway = await GatewayProcess(
        config(
            tmp_path,
            si,
            can={"bms_period_s": 0.2},
            controller={"period_s": 0.5},
            gateway={
                "command_max_age_s": 1.0,
                "stale_soc_hold_s": 2.0,
                "stale_discharge_limit_s": 4.0,
            },
        )
    ).start()
    controller = await Controller.connect()
    feeding = asyncio.create_task(_feed_si(si, current_a=280.0))  # 1 C discharge
    try:
        await wait_for_gateway(listener)
        issued_at = time.monotonic()
        await controller.emit(controller.command(soc_pct=60.0, discharge_current_a=150.0))
        await eventually(lambda: 150.0 in [lim.discharge_current_a for lim in si.limits()], 30.0)
        await controller.close()  # gone: no command from now on
        # stale after 1 s: the SoC moves with the SI's current (1 C: 0.028 %/s)
        await eventually(lambda: _soc(si) < 59.95, 30.0, "the SoC moving", gateway.log_text)
        assert AlarmCondition.BMS_INTERNAL not in raised_warnings(si)
        # after stale_soc_hold_s: W947
        await eventually(lambda: AlarmCondition.BMS_INTERNAL in raised_warnings(si), 30.0, "W947")
        limits = si.limits()[-1]
        assert (limits.discharge_voltage_v, limits.discharge_current_a) == (46.0, 50.0)
        # after stale_discharge_limit_s: DVL up to controller.low_voltage_v, DCL down
        await eventually(lambda: si.limits()[-1].discharge_voltage_v == 48.0, 30.0, "DVL raised")
        assert si.limits()[-1].discharge_current_a == 20.0
        assert time.monotonic() - issued_at >= 1.0 + 4.0  # stale at 1 s, then 4 s
        steps = [line.split(" step=")[1].split()[0] for line in gateway.events("stale_escalated")]
        assert steps == ["warning", "discharge_limited"]
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        assert await gateway.stop() == 0


def _soc(si: FakeSi) -> float:
    latest: SocSoh | None = si.latest(0x355)
    assert latest is not None and latest.soc_hires_pct is not None
    return latest.soc_hires_pct


async def _feed_si(si: FakeSi, current_a: float) -> None:
    """The SI's battery status every 0.2 s (SMA's sign: positive while discharging)."""
    while True:
        with contextlib.suppress(OSError):
            si.send(*encode(BatteryStatus(52.0, current_a, 20.0, 60.0)))
        await asyncio.sleep(0.2)  # the SI's own cadence, sped up: not a wait for an event
