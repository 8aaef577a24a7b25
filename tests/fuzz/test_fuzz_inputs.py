"""Untrusted input at every trust boundary: payloads, settings writes, the config file.

Whatever arrives, the answer is a clear refusal or a valid value — never another exception:

* a D-Bus payload from another process (a JSON document): the message model or a
  :class:`pydantic.ValidationError`;
* a settings write (localsettings, the GUI, MQTT, the web page): the controller's ``apply``
  accepts or refuses each key with a reason, and what it accepts is a valid configuration;
* the configuration file (TOML text, any shape): :class:`~smavenus.errors.ConfigError` or a
  configuration.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from smavenus.config import AppConfig, cross_field_problems, parse_config, read_toml
from smavenus.controller.settings import SETTINGS, apply
from smavenus.errors import ConfigError
from smavenus.ipc.messages import (
    BmsCommand,
    ControllerStatus,
    DvccWrites,
    GatewayHealth,
    SiSnapshot,
)

MODELS = (BmsCommand, ControllerStatus, DvccWrites, GatewayHealth, SiSnapshot)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)


def _valid_command() -> dict[str, Any]:
    return {
        "seq": 1, "sent_monotonic": 1.0, "sent_unix": 1.7e9, "charge_voltage_v": 56.0,
        "charge_current_a": 10.0, "discharge_current_a": 100.0, "discharge_voltage_v": 46.0,
        "soc_pct": 50.0,
    }  # fmt: skip


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(MODELS), document=json_values)
def test_any_json_payload_is_a_message_or_a_validation_error(model: Any, document: Any) -> None:
    text = json.dumps(document, allow_nan=True)
    with contextlib.suppress(ValidationError):
        model.model_validate_json(text)


@settings(max_examples=400)
@given(
    changes=st.dictionaries(
        st.sampled_from(list(_valid_command())), json_values.filter(lambda v: v is not None)
    )
)
def test_a_command_with_any_field_replaced_is_valid_with_finite_numbers_or_refused(
    changes: dict[str, Any],
) -> None:
    document = {**_valid_command(), **changes}
    try:
        command = BmsCommand.model_validate_json(json.dumps(document, allow_nan=True))
    except ValidationError:
        return
    for name in ("charge_voltage_v", "charge_current_a", "discharge_current_a"):
        assert math.isfinite(getattr(command, name))  # NaN never crosses a process boundary


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from([s.key for s in SETTINGS]),
        st.one_of(scalars, st.sampled_from([-1, 0, 1, 3.3, 55.0, 1e6, "12:00", "x"])),
        max_size=5,
    )
)
def test_any_settings_write_is_accepted_into_a_valid_config_or_refused_with_a_reason(
    changes: dict[str, Any],
) -> None:
    cfg = AppConfig()
    outcome = apply(cfg, changes)
    assert set(outcome.accepted) | set(outcome.rejected) <= set(changes)
    assert all(isinstance(reason, str) and reason for reason in outcome.rejected.values())
    assert cross_field_problems(outcome.config) == []
    for key, value in outcome.accepted.items():
        assert getattr(outcome.config.controller, key) == value


sections = st.dictionaries(
    st.sampled_from(["can", "battery", "controller", "bms", "gateway", "vebus", "paths", "x"]),
    st.dictionaries(st.text(max_size=30), json_values, max_size=4),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(document=sections)
def test_any_config_document_is_a_config_or_a_config_error(document: dict[str, Any]) -> None:
    try:
        cfg = parse_config(document)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert cross_field_problems(cfg) == []


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_is_read_as_toml_or_refused_with_its_reason(
    text: bytes, tmp_path_factory: Any
) -> None:
    path: Path = tmp_path_factory.mktemp("cfg") / "smavenus.toml"
    path.write_bytes(text)
    try:
        document = read_toml(path)
    except ConfigError as exc:
        assert str(path) in exc.problems[0]
        return
    with contextlib.suppress(ConfigError):
        parse_config(document)
