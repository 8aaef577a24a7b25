"""The installed gateway against a simulated CANable (slcan on a pty) and a private dbus-daemon.

The test plays the USB adapter, the Sunny Island behind it, and the bms-controller on D-Bus.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.ipc import names
from smavenus.ipc.messages import GatewayHealth
from smavenus.protocol import AlarmCondition, AlarmsWarnings, BatteryStatus, SocSoh, decode
from smavenus.testing.dbus_daemon import PrivateDbusDaemon
from smavenus.testing.waiting import eventually

from .gateway_harness import (
    Controller,
    FakeSi,
    GatewayListener,
    GatewayProcess,
    max_gap,
    si_cycle,
    slcan_config,
    wait_for_gateway,
    write_config,
)

#: How long the SI may go without a BMS frame in tests that say "the frames never stop": five
#: periods of 0.2 s. Judged on the SI's side (the adapter's receive times): generous enough
#: for a loaded machine, while a stream that stopped for a re-open or a wait is far longer.
NO_PAUSE_S = 1.0


@pytest.fixture
async def si(tmp_path: Path) -> AsyncIterator[FakeSi]:
    fake = FakeSi(tmp_path / "ttyACM0")
    fake.plug()
    yield fake
    fake.unplug()


async def start_gateway(
    tmp_path: Path, si: FakeSi, env: dict[str, str] | None = None, **sections: Any
) -> GatewayProcess:
    config = write_config(tmp_path, slcan_config(tmp_path, si.path, **sections))
    return await GatewayProcess(config, env).start()


@pytest.fixture
async def listener(system_bus: MessageBus) -> GatewayListener:
    return await GatewayListener(system_bus).start()


async def test_cold_start_sends_conservative_frames_within_a_second_without_dbus(
    tmp_path: Path, si: FakeSi
) -> None:
    """No D-Bus at all: the SI must be fed anyway, from the first second.

    How soon (start → first BMS frame, goal ≤ 1 s) is measured by bench/gateway_throughput.py
    and recorded in docs/benchmarks.md: a loaded machine's Python start is no test failure.
    """
    no_bus = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-such-bus'}"}
    gateway = await start_gateway(tmp_path, si, env=no_bus)
    try:
        await eventually(si.whole_set_since, 30.0, "the first frame set", gateway.log_text)
        # The first set: everything the adapter got up to the next set's first frame.
        ids = [r.frame.can_id for r in si.received]
        first_set = ids[: ids.index(0x35F) + 1]
        assert first_set == [0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F]
        limits = si.limits()[0]
        assert (limits.charge_current_a, limits.discharge_current_a) == (0.0, 50.0)
        assert (limits.charge_voltage_v, limits.discharge_voltage_v) == (54.0, 44.8)
        alarms: AlarmsWarnings = si.latest(0x35A)
        assert alarms.raised_warnings == {AlarmCondition.GENERAL}
        await eventually(lambda: len(si.frames(0x351)) >= 3, 30.0, "three periods")
        assert gateway.events("dbus_unavailable")  # and yet the frames flow
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()
    assert len(gateway.events("dbus_unavailable")) == 1  # logged once, not per retry


async def test_si_frames_in_give_one_snapshot_signal_per_cycle_with_the_right_values(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si)
    try:
        await wait_for_gateway(listener, 30.0)
        await eventually(lambda: si.adapter.device.is_open, 30.0, "the host to open the channel")
        for n in range(3):
            si.send_cycle(si_cycle(soc_pct=60.0 + n))
            await asyncio.sleep(0.2)  # the SI's cadence, sped up: the scenario, not a wait
        await eventually(lambda: len(listener.snapshots) >= 2, 30.0, "two snapshots")
        # Cycle 1 closes when 0x300 repeats, cycle 2 on its last frame; cycle 3 as well.
        await eventually(lambda: len(listener.snapshots) == 3, 30.0, "three snapshots")
        _, latest = listener.snapshots[-1]
        assert [s.seq for _, s in listener.snapshots] == [1, 2, 3]
        assert latest.si_present
        assert latest.battery_status is not None
        assert latest.battery_status.value == BatteryStatus(52.8, -10.0, 23.0, 62.0)
        assert latest.relay_status is not None and latest.relay_status.value.ac2_connected
        assert latest.output_voltage is not None
        assert latest.output_voltage.value.frequency_hz == 50.0
        # A subscriber that starts late catches up with one call.
        assert await listener.get_snapshot() == latest
        health = await listener.get_health()
        assert health.frames_received == 33
        assert health.si_present
        assert set(health.last_seen_monotonic) >= {"0x300", "0x305", "0x30A"}
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


async def test_commands_in_give_clamped_frames_out(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si, can={"bms_period_s": 0.2})
    controller = await Controller.connect()
    try:
        await wait_for_gateway(listener, 30.0)
        sent_at = time.monotonic()
        await controller.emit(
            controller.command(
                charge_voltage_v=60.0,  # above battery.max_charge_voltage_v (56.8)
                charge_current_a=400.0,  # above battery.max_charge_current_a (140)
                discharge_current_a=180.0,
                discharge_voltage_v=46.0,
                soc_pct=72.5,
                alarms=["high_temperature"],
            )
        )
        await eventually(
            lambda: any(a > 0 for a in si.charge_currents(sent_at)), 30.0, "the command"
        )
        commanded_at = next(
            r.at for r in si.frames(0x351, sent_at) if decode(0x351, r.frame.data).charge_current_a
        )
        await eventually(lambda: si.whole_set_since(commanded_at), 30.0, "that whole frame set")
        limits = si.limits()[-1]
        assert (limits.charge_voltage_v, limits.charge_current_a) == (56.8, 140.0)
        assert (limits.discharge_current_a, limits.discharge_voltage_v) == (180.0, 46.0)
        soc: SocSoh = si.latest(0x355)
        assert (soc.soc_pct, soc.soc_hires_pct) == (73, 72.5)  # whole percent, rounded
        alarms: AlarmsWarnings = si.latest(0x35A)
        assert alarms.raised_alarms == {AlarmCondition.HIGH_TEMPERATURE}
        assert alarms.raised_warnings == frozenset()
        health = await listener.get_health()
        assert health.command_source == "controller"
        assert health.sent is not None
        assert health.sent.reasons["charge_current_a"].startswith("clamped: 400.0 A above")
        assert len(gateway.events("command_clamped")) == 1
    finally:
        await controller.close()
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


async def test_commands_from_anyone_but_the_controller_or_malformed_change_nothing(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si, can={"bms_period_s": 0.2})
    impostor = await Controller.connect(own_name=False)
    controller = await Controller.connect()
    try:
        await wait_for_gateway(listener, 30.0)
        await impostor.emit(impostor.command(charge_current_a=120.0))
        await controller.emit('{"seq": 1, "charge_current_a": "lots"}')
        not_finite = json.loads(controller.command().model_dump_json())
        await controller.emit(json.dumps(not_finite | {"charge_current_a": float("nan")}))
        await controller.emit("not json at all")

        async def all_four_judged() -> GatewayHealth | None:
            health = await listener.get_health()
            judged = health.commands_unauthorized + health.commands_rejected
            return health if judged >= 4 else None

        health = await eventually(all_four_judged, 30.0, "the four commands judged")
        assert health.commands_unauthorized == 1
        assert health.commands_rejected == 3
        assert health.commands_accepted == 0
        assert health.command_source == "cold_start"
        await eventually(
            lambda: len(gateway.events("command_refused")) >= 2, 30.0, "refusals logged"
        )
        since = time.monotonic()
        await eventually(lambda: len(si.limits(since)) >= 2, 30.0, "frames still flowing")
        assert all(lim.charge_current_a == 0.0 for lim in si.limits())
        # The genuine controller is still heard afterwards.
        await controller.emit(controller.command(charge_current_a=30.0))
        await eventually(
            lambda: any(lim.charge_current_a == 30.0 for lim in si.limits()), 30.0, "the command"
        )
    finally:
        await impostor.close()
        await controller.close()
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


async def test_malformed_frames_are_counted_and_logged_and_never_crash(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si)
    try:
        await wait_for_gateway(listener, 30.0)
        await eventually(lambda: si.adapter.device.is_open, 30.0, "the host to open the channel")
        si.send(0x305, bytes(3))  # a valid slcan line, a wrong length for 0x305
        si.write_raw(b"t305Z\r")  # no length digit
        si.write_raw(b"t3058001122\r")  # DLC 8, four bytes of data
        si.write_raw(b"t3052zzzz\r")  # not hexadecimal
        si.write_raw(b"\x00\xff" * 100 + b"\r")  # line noise
        si.send_cycle()
        si.send_cycle()
        await eventually(lambda: listener.snapshots, 30.0, "a snapshot after the garbage")

        async def all_read() -> GatewayHealth | None:  # the garbage came first, in one stream
            health = await listener.get_health()
            return health if health.frames_received >= 22 else None

        health = await eventually(all_read, 30.0, "both cycles read")
        assert health.frames_malformed == 1
        assert health.adapter_errors == 4
        assert health.frames_received == 22
        (line,) = gateway.events("si_frame_malformed")
        assert "can_id=0x305" in line and "expected 8 bytes, got 3" in line
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


@pytest.mark.slow
async def test_stale_commands_ramp_the_charge_current_to_zero_while_frames_keep_flowing(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(
        tmp_path,
        si,
        can={"bms_period_s": 0.2},
        controller={"period_s": 0.5},
        gateway={"command_max_age_s": 1.0, "stale_charge_ramp_a_per_s": 40.0},
    )
    controller = await Controller.connect()
    try:
        await wait_for_gateway(listener, 30.0)
        await controller.emit(controller.command(charge_current_a=100.0))
        await eventually(lambda: 100.0 in si.charge_currents(), 30.0, "command")
        last_command = time.monotonic()
        await eventually(lambda: si.charge_currents()[-1:] == [0.0], 30.0, "0 A")
        ramp = si.charge_currents(last_command)
        assert ramp == sorted(ramp, reverse=True)  # only ever down
        assert any(0.0 < a < 100.0 for a in ramp)  # a ramp, not a jump
        # Frames kept coming throughout (their period: bench/gateway_throughput.py).
        times = [r.at for r in si.frames(0x351, last_command)]
        assert max_gap(times) < NO_PAUSE_S
        health = await listener.get_health()
        assert health.command_source == "stale"
        assert health.sent is not None and "general" in health.sent.warnings
        assert len(gateway.events("command_source_changed")) == 2  # → controller, → stale
    finally:
        await controller.close()
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


@pytest.mark.slow
async def test_kill_9_and_restart_resumes_from_the_persisted_command(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si, can={"bms_period_s": 0.2})
    controller = await Controller.connect()
    await wait_for_gateway(listener, 30.0)
    await controller.emit(controller.command(charge_current_a=77.0, soc_pct=66.0))
    await eventually(
        lambda: any(lim.charge_current_a == 77.0 for lim in si.limits()), 30.0, "the command"
    )
    state = tmp_path / "state" / "can-gateway-command.json"
    await eventually(state.exists, 30.0, "the persisted command")
    assert json.loads(state.read_text())["command"]["charge_current_a"] == 77.0
    assert await gateway.kill9() == -9
    await controller.close()  # the controller is gone too: only the record can tell

    restarted_at = time.monotonic()
    gateway = await start_gateway(tmp_path, si, can={"bms_period_s": 0.2})
    try:
        await eventually(
            lambda: si.whole_set_since(restarted_at), 30.0, "the first frame set after restart"
        )
        assert si.limits(restarted_at)[0].charge_current_a == 77.0  # not a cold start
        soc: SocSoh = si.latest(0x355)
        assert soc.soc_pct == 66
        (source,) = gateway.events("command_source")
        assert "source=persisted" in source and "same boot" in source
        await wait_for_gateway(listener, 30.0)
        assert (await listener.get_health()).command_source == "persisted"
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


@pytest.mark.slow
async def test_adapter_unplug_and_replug_recovers_without_a_restart(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    # At debug level every refused re-open is a line (can_bus_reopen_failed) to wait on.
    gateway = await start_gateway(
        tmp_path,
        si,
        can={"bms_period_s": 0.2},
        gateway={"reopen_backoff_max_s": 0.5},
        logging={"level": "debug"},
    )
    try:
        await wait_for_gateway(listener, 30.0)
        await eventually(si.limits, 30.0, "frames")
        si.unplug()
        await eventually(lambda: gateway.events("can_bus_lost"), 30.0, "the loss noticed")
        # Several failed re-opens while the adapter is gone (the loss's own retry included).
        await eventually(
            lambda: len(gateway.events("can_bus_reopen_failed")) >= 3, 30.0, "refused re-opens"
        )
        replugged_at = time.monotonic()
        si.plug()
        await eventually(lambda: si.frames(0x351, replugged_at), 30.0, "frames after replug")
        # Retried at least every reopen_backoff_max_s on the gateway's own clock, so a replug
        # is picked up within that (the time it takes: bench, not a loaded test machine).
        retries = [
            float(line.split(" retry_in_s=")[1].split()[0])
            for line in gateway.events("can_bus_reopen_failed")
        ]
        assert retries and max(retries) <= 0.5, retries
        si.send_cycle()
        si.send_cycle()
        await eventually(lambda: listener.snapshots, 30.0, "snapshots after replug")
        health = await listener.get_health()
        assert health.bus_state == "active", gateway.log_text()
        assert health.bus_reopens == 1, gateway.log_text()
        assert gateway.process is not None and gateway.process.returncode is None
        assert len(gateway.events("can_bus_lost")) == 1
        assert len(gateway.events("can_bus_recovered")) == 1
        assert gateway.events("can_bus_open_failed") == []  # the outage is one line, not many
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log("can_bus_lost")


async def three_more_periods(si: FakeSi) -> None:
    since = time.monotonic()
    await eventually(lambda: len(si.limits(since)) >= 3, 30.0, "three more frame sets")


async def test_remote_on_off_and_quick_stop_are_refused_unless_enabled(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(tmp_path, si)
    try:
        await wait_for_gateway(listener, 30.0)
        with pytest.raises(DBusError, match="enable_remote_on_off"):
            await listener.method(names.REMOTE_ON_OFF_METHOD, "s", ["off"])
        with pytest.raises(DBusError, match="enable_quick_stop"):
            await listener.method(names.QUICK_STOP_METHOD)
        # Frames sent after the refusals: one sent for either would have come before them.
        await three_more_periods(si)
        assert not si.frames(0x35C) and not si.frames(0x00F)
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


async def test_remote_on_off_and_quick_stop_send_their_frames_when_enabled(
    tmp_path: Path, si: FakeSi, listener: GatewayListener
) -> None:
    gateway = await start_gateway(
        tmp_path, si, gateway={"enable_remote_on_off": True, "enable_quick_stop": True}
    )
    try:
        await wait_for_gateway(listener, 30.0)
        await eventually(lambda: si.adapter.device.is_open, 30.0, "the channel open")
        assert await listener.method(names.REMOTE_ON_OFF_METHOD, "s", ["off"]) == "sent"
        with pytest.raises(DBusError, match='"on" or "off"'):
            await listener.method(names.REMOTE_ON_OFF_METHOD, "s", ["maybe"])
        assert await listener.method(names.QUICK_STOP_METHOD) == "sent"
        await eventually(lambda: si.frames(0x35C) and si.frames(0x00F), 30.0, "both frames")
        assert si.frames(0x35C)[0].frame.data == bytes([0x02, 0, 0, 0])
        assert si.frames(0x00F)[0].frame.data == b""
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()


@pytest.mark.slow
async def test_dbus_coming_late_and_dropping_never_interrupts_the_frames(
    tmp_path: Path, si: FakeSi
) -> None:
    bus_dir = tmp_path / "bus"
    address = f"unix:path={bus_dir / 'system_bus_socket'}"
    gateway = await start_gateway(
        tmp_path, si, env={"DBUS_SYSTEM_BUS_ADDRESS": address}, can={"bms_period_s": 0.2}
    )
    try:
        await eventually(lambda: len(si.limits()) >= 3, 30.0, "frames without D-Bus")
        for _ in range(2):  # the bus appears, then dies and comes back
            with PrivateDbusDaemon(directory=bus_dir) as daemon:
                bus = await MessageBus(bus_address=daemon.address).connect()
                listener = await GatewayListener(bus).start()
                await wait_for_gateway(listener, 30.0)
                bus.disconnect()
            await three_more_periods(si)
        assert len(gateway.events("dbus_connected")) == 2
        assert len(gateway.events("dbus_lost")) == 2
        times = [r.at for r in si.frames(0x351)]
        assert max_gap(times) < NO_PAUSE_S
    finally:
        assert await gateway.stop() == 0
    gateway.assert_clean_log()
