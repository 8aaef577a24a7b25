"""docs/controller.md describes the tables the code runs on: no row missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from smavenus.controller.charger import TRANSITIONS
from smavenus.controller.protections import RULES
from smavenus.controller.settings import SETTINGS

DOC = (Path(__file__).parents[3] / "docs" / "controller.md").read_text()


@pytest.mark.parametrize(
    "name",
    sorted(
        {f"`{s.name}`" for s in SETTINGS}
        | {f"`{s.key}`" for s in SETTINGS}
        | {f"`{rule.name}`" for rule in RULES}
        | {f"`{condition}`" for rows in TRANSITIONS.values() for condition, _ in rows}
    ),
)
def test_every_setting_rule_and_transition_is_documented(name: str) -> None:
    assert name in DOC


def test_the_charge_cycle_plot_is_embedded_and_exists() -> None:
    assert "![A charge cycle on the simulator](img/charge-cycle.png)" in DOC
    assert (Path(__file__).parents[3] / "docs" / "img" / "charge-cycle.png").exists()
