"""smavenus-web's pure parts: the view, the chart ring, passwords, sessions, the limiter,
the listen rule and the settings form."""

from __future__ import annotations

import math

import pytest

from smavenus.config import AppConfig, parse_config
from smavenus.web.auth import LoginLimiter, Sessions, csrf_ok, hash_password, verify_password
from smavenus.web.history import SERIES, History, sample_of
from smavenus.web.listen import is_loopback, refusal
from smavenus.web.settings_form import effective_config, judge, setting_rows
from smavenus.web.view import Latest, live_view
from tests.unit.vebus.si import controller_status, gateway_health, scene, snapshot

T0 = 1000.0


def test_the_view_shows_the_sma_numbers_and_the_reasons() -> None:
    latest = Latest(
        snapshot=snapshot(scene(out_v=(230.0,), ext_w=(500.0,), inv_w=(300.0,)), T0),
        health=gateway_health(sent=T0, warnings=frozenset({"high_temperature"})),
        status=controller_status(
            sent=T0, alarms=frozenset({"low_voltage"}), warnings=frozenset({"low_voltage"})
        ),
    )
    view = live_view(latest, T0 + 2, 1.7e9)
    (line,) = view["si"]["lines"]  # lines the SI does not have are not shown
    assert line["out_w"] == pytest.approx(800.0)
    assert view["si"]["age_s"] == 2.0
    rows = {r["condition"]: r for r in view["conditions"]}
    assert rows["low_voltage"]["sma"] == "F922"  # the controller's alarm, held
    charge_current = next(r for r in view["limits"] if r["key"] == "charge_current_a")
    assert charge_current["reason"] == "test" and charge_current["sent"] == 100.0
    gateway_only = live_view(Latest(health=latest.health), T0, 1.7e9)
    assert gateway_only["conditions"][0]["sma"] == "W939"
    assert gateway_only["controller"] is None and gateway_only["si"] is None


def test_the_chart_ring_is_bounded_and_keeps_the_newest() -> None:
    ring = History(hours=1, interval_s=600)  # 6 points
    assert ring.capacity == 6
    assert ring.nbytes == 6 * len(SERIES) * 8
    for n in range(10):
        assert ring.due(T0 + n * 600)
        ring.add(T0 + n * 600, {"soc_pct": float(n), "voltage_v": None})
        assert not ring.due(T0 + n * 600 + 1)
    columns = ring.columns()
    assert len(ring) == 6
    assert columns["soc_pct"] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert columns["voltage_v"] == [None] * 6  # unknown stays unknown, never 0


def test_a_day_of_points_costs_what_the_docs_say() -> None:
    ring = History(hours=24, interval_s=10)
    assert ring.capacity == 8640
    assert ring.nbytes == 8640 * 9 * 8  # 608 KiB, allocated at start


def test_a_chart_point_from_a_view() -> None:
    latest = Latest(
        snapshot=snapshot(scene(out_v=(230.0,), ext_w=(0.0,), inv_w=(-700.0,)), T0),
        health=gateway_health(sent=T0),
    )
    point = sample_of(live_view(latest, T0, 1.7e9))
    assert point["ac_out_w"] == pytest.approx(-700.0)
    assert point["ccl_a"] == 100.0
    assert point["soc_pct"] is None


def test_passwords_are_salted_scrypt_and_compared_whole() -> None:
    first, second = hash_password("secret one"), hash_password("secret one")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("secret one", first)
    assert not verify_password("secret one!", first)
    assert not verify_password("secret one", "scrypt$broken")
    assert not verify_password("secret one", "md5$1$2$3$AAAA$BBBB")


def test_sessions_expire_and_csrf_must_match() -> None:
    sessions = Sessions(max_age_s=60, capacity=2)
    a = sessions.open("local", T0)
    assert sessions.get(a.token, T0 + 59) is a
    assert csrf_ok(a, a.csrf) and not csrf_ok(a, "x") and not csrf_ok(None, a.csrf)
    assert not csrf_ok(a, None)
    assert sessions.get(a.token, T0 + 60) is None  # expired
    b, _c, d = (sessions.open("admin", T0 + 61) for _ in range(3))
    assert len(sessions) == 2 and sessions.get(b.token, T0 + 62) is None  # oldest gone
    assert sessions.get(d.token, T0 + 62) is d


def test_the_login_limiter_counts_per_address_in_a_window() -> None:
    limiter = LoginLimiter(attempts=2, window_s=100)
    for t in (0.0, 10.0):
        assert limiter.retry_after("a", t) == 0
        limiter.failed("a", t)
    assert limiter.retry_after("a", 20.0) == pytest.approx(80.0)
    assert limiter.retry_after("b", 20.0) == 0  # another address is not affected
    assert limiter.retry_after("a", 100.0) == 0  # the first failure left the window
    limiter.failed("a", 100.0)
    limiter.succeeded("a")
    assert limiter.retry_after("a", 101.0) == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("gx.local", False)],
)  # fmt: skip
def test_only_loopback_goes_without_a_password(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    listen = f"[{host}]:8088" if ":" in host else f"{host}:8088"
    cfg = parse_config({"web": {"listen": listen}}).web
    assert (refusal(cfg) is None) is loopback
    with_password = cfg.model_copy(update={"password_hash": hash_password("long enough pw")})
    assert refusal(with_password) is None


def test_the_settings_form_uses_the_controllers_bounds_and_rules() -> None:
    cfg = AppConfig()
    rows = {r["key"]: r for r in setting_rows(cfg)}
    assert rows["absorption_voltage_v"]["max"] == cfg.battery.max_charge_voltage_v
    assert rows["grid_assist_mode"]["kind"] == "choice"
    assert rows["soc_reset_at_full"]["kind"] == "bool"
    refused = judge(cfg, "float_voltage_v", "60")
    assert refused.setting is None and "absorption_voltage_v" in (refused.reason or "")
    assert judge(cfg, "bulk_current_a", "abc").reason is not None
    assert judge(cfg, "no_such_key", "1").reason is not None
    accepted = judge(cfg, "grid_assist_mode", "keep_charged")
    assert accepted.setting == 2 and accepted.reason is None
    stored = {rows["bulk_current_a"]["path"]: 50.0, rows["float_voltage_v"]["path"]: 99.0}
    effective = effective_config(cfg, stored)
    assert effective.controller.bulk_current_a == 50.0
    assert effective.controller.float_voltage_v == cfg.controller.float_voltage_v  # refused
    assert not math.isnan(effective.controller.absorption_voltage_v)
