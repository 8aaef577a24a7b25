"""The dashboard in a real headless Chromium, against the whole system: the simulated SI, the
three services under daemontools and smavenus-web (``testing/stack.py``'s Stack).

Each test opens the page in a fresh browser and waits on what the page shows (generous
deadlines, never fixed sleeps). Screenshots are kept under pytest's temporary directory
(the path is printed); one of them is the README's picture (docs/img/).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.ipc import names
from smavenus.testing.browser import Browser, chromium_command
from smavenus.testing.stack import Stack
from smavenus.testing.waiting import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_command() is None, reason="needs chromium (Debian package)"),
]
PHONE = (390, 844)
SETTINGS = "com.victronenergy.settings"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("stack"), web={"history_interval_s": 1.0}) as running:
        running.wait_until_running()
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("screenshots")
    print(f"screenshots: {directory}")
    return directory


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async with Browser(tmp_path / "chromium") as opened:
        yield opened
        assert not [c for c in opened.console if c.startswith("exception")], opened.console


async def live_page(browser: Browser, stack: Stack) -> None:
    await browser.open(stack.web_url + "/")
    await browser.wait_for("document.getElementById('link').classList.contains('ok')", 60)
    await browser.wait_for("document.getElementById('charge-state').textContent !== '—'", 60)


async def controller_status(stack: Stack) -> dict[str, Any]:
    bus = await MessageBus(bus_address=stack.dbus.address).connect()
    try:
        (payload,) = await call(
            bus, names.CONTROLLER_BUS_NAME, names.CONTROLLER_PATH, names.CONTROLLER_INTERFACE,
            names.GET_STATUS_METHOD,
        )  # fmt: skip
    finally:
        bus.disconnect()
    status: dict[str, Any] = json.loads(payload)
    return status


async def stored_setting(stack: Stack, name: str) -> Any:
    bus = await MessageBus(bus_address=stack.dbus.address).connect()
    try:
        (value,) = await call(
            bus, SETTINGS, f"/Settings/SmaVenus/Controller/{name}", BUSITEM, "GetValue"
        )
    finally:
        bus.disconnect()
    return value.value if isinstance(value, Variant) else value


async def test_the_page_shows_the_simulators_values_and_updates_without_reload(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    await live_page(browser, stack)
    await browser.evaluate("window.__sameDocument = true")
    first = await browser.evaluate("document.getElementById('link').dataset.updated")
    # Each waited for: a part of the page may still show "—" when the first values come.
    shown_v = await browser.wait_for(
        "parseFloat(document.getElementById('battery-voltage').textContent)"
    )
    shown_soc = await browser.wait_for("parseFloat(document.getElementById('soc').textContent)")
    truth = await asyncio.to_thread(stack.sim.status)
    assert abs(shown_v - truth["battery_voltage_v"]) < 0.5, (shown_v, truth)
    assert abs(shown_soc - truth["true_soc_pct"]) < 2.0, (shown_soc, truth["true_soc_pct"])
    out_v = await browser.wait_for(
        "parseFloat(document.querySelector('#si-line-1 td:nth-child(2)').textContent)"
    )
    assert 200 < out_v < 260  # the simulated SI's AC1 (230 V preset)
    # pushed: a newer update arrives in the same document (no reload), and chart points
    await browser.wait_for(
        f"document.getElementById('link').dataset.updated !== {json.dumps(first)}", 30
    )
    await browser.wait_for("Number(document.body.dataset.points) >= 2", 30)
    assert await browser.evaluate("window.__sameDocument === true")
    await browser.screenshot(shots / "dashboard-desktop.png", full_page=False)


async def test_a_setting_change_reaches_the_controller(stack: Stack, browser: Browser) -> None:
    await live_page(browser, stack)
    await browser.evaluate(
        "(() => { const i = document.getElementById('setting-bulk_current_a');"
        " i.value = '60'; i.dispatchEvent(new Event('input')); })()"
    )
    await browser.click("#save-bulk_current_a")
    message = await browser.wait_for(
        "(t => t.startsWith('applied') && t)(document.getElementById('msg-bulk_current_a')"
        ".textContent)",
        60,
    )
    assert "60" in message
    assert await stored_setting(stack, "BulkCurrent") == 60.0

    async def limited() -> bool:  # from the controller's next cycle after it heard the change
        status = await controller_status(stack)
        return bool(status["limits"]["charge_current_a"]["value"] <= 60.0)

    await eventually(limited, 30, "the controller's charge current at most 60 A")


async def test_an_invalid_value_is_refused_with_its_message(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    await live_page(browser, stack)
    before = await stored_setting(stack, "FloatVoltage")
    await browser.evaluate(
        "(() => { const i = document.getElementById('setting-float_voltage_v');"
        " i.value = '60'; i.dispatchEvent(new Event('input')); })()"
    )
    await browser.click("#save-float_voltage_v")
    message = await browser.wait_for(
        "(t => t.startsWith('refused') && t)(document.getElementById('msg-float_voltage_v')"
        ".textContent)"
    )
    assert "must be below controller.absorption_voltage_v" in message
    assert await stored_setting(stack, "FloatVoltage") == before  # nothing changed
    await browser.evaluate("document.getElementById('row-float_voltage_v').scrollIntoView()")
    await browser.screenshot(shots / "setting-refused.png", full_page=False)


async def test_an_action_takes_effect(stack: Stack, browser: Browser) -> None:
    await live_page(browser, stack)
    await browser.click("#action-full_charge")
    assert await browser.evaluate("document.getElementById('confirm').open")
    await browser.click("#confirm-yes")
    result = await browser.wait_for(
        "(t => t.includes('done') && t)(document.getElementById('action-result').textContent)"
    )
    assert "Start a full charge now" in result
    await browser.wait_for(
        "document.getElementById('charge-reason').textContent === 'full_charge_requested'", 30
    )
    status = await controller_status(stack)
    assert status["charge_state"] == "bulk"
    # Both logged before the answer; multilog writes them to the files a moment later.
    await eventually(
        lambda: (
            'event=web_action_done action=full_charge by="web local@127.0.0.1"'
            in stack.log_tail("smavenus-web", 50)
        ),
        30,
        "the web's log line",
    )
    await eventually(
        lambda: (
            "event=request_handled request=StartFullCharge"
            in stack.log_tail("smavenus-bms-controller", 200)
        ),
        30,
        "the controller's log line",
    )


async def test_a_cancelled_action_does_nothing(stack: Stack, browser: Browser) -> None:
    await live_page(browser, stack)
    before = stack.log_tail("smavenus-web", 200).count("web_action_requested")
    await browser.click("#action-acknowledge")
    await browser.click("#confirm-no")
    assert not await browser.evaluate("document.getElementById('confirm').open")
    # the page had its chance: a later update arrived, and still no request was made
    updated = await browser.evaluate("document.getElementById('link').dataset.updated")
    await browser.wait_for(
        f"document.getElementById('link').dataset.updated !== {json.dumps(updated)}", 30
    )
    assert stack.log_tail("smavenus-web", 200).count("web_action_requested") == before


async def test_the_page_fits_a_phone(stack: Stack, browser: Browser, shots: Path) -> None:
    await browser.resize(*PHONE, mobile=True)
    await live_page(browser, stack)
    widths = await browser.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] == PHONE[0], widths
    wide = await browser.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth + 0.5).map(e => e.tagName + '#' + e.id)"
    )
    assert wide == []
    await browser.screenshot(shots / "dashboard-phone.png", full_page=False)
