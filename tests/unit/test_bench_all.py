"""scripts/bench-all: what it finds to run, and how --quick shortens it (nothing is run here)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_all() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bench_all", str(ROOT / "scripts/bench-all"))
    spec = importlib.util.spec_from_loader("bench_all", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_all"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


DOC = """
```sh
.venv/bin/python bench/a.py --seconds 3   # a comment
.venv/bin/python bench/b.py slcan
scripts/bench-all --long        # not a benchmark: the runner itself
scripts/can-vm --timeout 9 -- .venv/bin/python bench/c.py --period 0.2
.venv/bin/pytest -q -s tests/integration/test_x.py
SMAVENUS_X=1 .venv/bin/python bench/a.py ...   # a variant, not a command
```

```python
.venv/bin/python bench/not_shell.py
```

```sh
pip install atheris
```
"""


def test_recorded_commands_are_the_shell_lines_that_run_a_bench_or_pytest(
    bench_all: ModuleType,
) -> None:
    assert bench_all.recorded_commands(DOC) == [
        ".venv/bin/python bench/a.py --seconds 3",
        ".venv/bin/python bench/b.py slcan",
        "scripts/can-vm --timeout 9 -- .venv/bin/python bench/c.py --period 0.2",
        ".venv/bin/pytest -q -s tests/integration/test_x.py",
    ]


def test_every_command_of_the_docs_runs_a_script_that_exists(bench_all: ModuleType) -> None:
    benches, orphans = bench_all.plan()
    recorded = [b for b in benches if b.source == "docs/benchmarks.md"]
    assert recorded, "docs/benchmarks.md records no command"
    for bench in recorded:
        assert bench.script is not None and bench.script.exists(), bench.recorded
    assert len({b.name for b in benches}) == len(benches), "names must be unique"
    assert orphans == [], f"bench/ scripts nobody runs: {orphans}"


def test_the_hour_long_scripts_wait_for_long_also_with_the_docs_command(
    bench_all: ModuleType,
) -> None:
    benches, _ = bench_all.plan()
    by_group: dict[str, list[bool]] = {}
    for bench in benches:
        by_group.setdefault(bench.group, []).append(bench.long)
    assert by_group["memory_soak"] and all(by_group["memory_soak"]), by_group["memory_soak"]
    soaks = {b.recorded: b.long for b in benches if b.group == "soak"}
    assert any(soaks.values()), soaks  # the hour-long soak waits for --long …
    assert not all(soaks.values()), soaks  # … the CI-sized one (4 minutes) does not
    assert not any(by_group["codec_throughput"])


def test_quick_sets_or_adds_options_and_keeps_the_rest(
    bench_all: ModuleType, tmp_path: Path
) -> None:
    make = bench_all.Bench
    venv = tmp_path / "venv"
    gateway = make("g", "gateway_throughput", ".venv/bin/python bench/x.py slcan --si-burst", "d")
    codec = make("c", "codec_throughput", ".venv/bin/python bench/x.py --seconds=3", "d")
    fuzz = make("f", "fuzz_atheris", ".venv/bin/python bench/x.py decode -runs=1000000", "d")
    cycle = make("c", "charge_cycle", ".venv/bin/python bench/x.py", "d")
    quick = {
        b.group: bench_all.build_argv(b, venv, True, tmp_path)
        for b in (gateway, codec, fuzz, cycle)
    }
    assert quick["gateway_throughput"][1:] == [
        "bench/x.py",
        "slcan",
        "--si-burst",
        "--seconds",
        "5",
    ]
    assert quick["codec_throughput"][2:] == ["--seconds=0.5"]
    assert quick["fuzz_atheris"][2:] == ["decode", "-runs=20000"]
    assert f"{tmp_path}/charge-cycle.png" in quick["charge_cycle"]  # never the published plot
    full = bench_all.build_argv(gateway, venv, False, tmp_path)
    assert shlex.join(full[1:]) == "bench/x.py slcan --si-burst"


def test_venv_python_is_the_checkouts_or_the_given_one(
    bench_all: ModuleType, tmp_path: Path
) -> None:
    bench = bench_all.Bench("a", "a", ".venv/bin/python bench/a.py", "d")
    argv = bench_all.build_argv(bench, tmp_path / "venv", False, tmp_path)
    if (ROOT / ".venv/bin/python").exists():
        assert argv[0] == ".venv/bin/python"
    else:
        assert argv[0] == str(tmp_path / "venv/bin/python")


def test_selection_by_script_or_by_command(bench_all: ModuleType) -> None:
    make = bench_all.Bench
    benches = [
        make("g:slcan", "g", "x", "d"),
        make("g:virtual", "g", "x", "d"),
        make("c", "c", "x", "d"),
    ]
    assert [b.name for b in bench_all.select(benches, ["g"], None)] == ["g:slcan", "g:virtual"]
    assert [b.name for b in bench_all.select(benches, None, ["g:slcan"])] == ["g:virtual", "c"]
    with pytest.raises(SystemExit):
        bench_all.select(benches, ["nope"], None)


def test_repeated_lines_are_collapsed(bench_all: ModuleType) -> None:
    assert bench_all.collapse_repeats(["a", "b", "b", "b", "a"]) == [
        ("a", 1),
        ("b", 3),
        ("a", 1),
    ]


def test_a_redirection_in_the_docs_command_is_not_passed_to_the_script(
    bench_all: ModuleType, tmp_path: Path
) -> None:
    soak = bench_all.Bench("s", "soak", ".venv/bin/python bench/soak.py --json > soak.json", "d")
    assert bench_all.build_argv(soak, tmp_path, False, tmp_path)[-2:] == ["bench/soak.py", "--json"]
