"""What the services leave out (``smavenus.apps``): OpenSSL, pydantic's plugin discovery,
``importlib.metadata`` (python-can asks a stand-in), argparse, and the modules deferred to
their first use (``smavenus.apps.deferred``).

Each check runs a fresh interpreter, as a console script starts: the test process itself
imported pydantic and asyncio long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import smavenus.apps.{app}
from smavenus.config import AppConfig, parse_config
from smavenus.ipc.messages import BmsCommand
cfg = parse_config({{"battery": {{"capacity_ah": 200.0}}}})
BmsCommand.model_validate_json(BmsCommand(
    seq=1, sent_monotonic=1.0, sent_unix=1.0, charge_voltage_v=56.0, charge_current_a=1.0,
    discharge_current_a=1.0, discharge_voltage_v=46.0, soc_pct=50.0).model_dump_json())
import pydantic.plugin._loader as loader
print(json.dumps({{
    "ssl": sys.modules.get("ssl", "absent") is None
    and sys.modules.get("_hashlib", "absent") is None
    and not any("libcrypto" in line for line in open("/proc/self/maps")),
    "metadata": hasattr(sys.modules.get("importlib.metadata"), "__file__")
    or "email" in sys.modules,
    "plugins": list(loader.get_plugins()),
    "capacity": cfg.battery.capacity_ah,
    "loaded": [name for name in {deferred!r} if hasattr(sys.modules.get(name), "__file__")],
}}))
"""


#: Imported by a library (or, argparse, by us once) for what no core service calls.
DEFERRED = ("argparse", "pickle", "secrets", "gzip", "hmac")


def probe(app: str, **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(app=app, deferred=DEFERRED)],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


@pytest.mark.parametrize("app", ["bms_controller", "vebus_publisher"])
def test_the_services_import_neither_openssl_nor_package_metadata(app: str) -> None:
    answer = probe(app)
    assert answer == {
        "ssl": True,
        "metadata": False,
        "plugins": [],
        "capacity": 200.0,
        "loaded": [],
    }


def test_the_gateway_imports_neither_openssl_nor_package_metadata() -> None:
    answer = probe("can_gateway")
    assert answer == {
        "ssl": True,
        "metadata": False,
        "plugins": [],
        "capacity": 200.0,
        "loaded": [],
    }


def run(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_python_can_gets_its_version_and_its_own_interfaces_from_the_stand_in() -> None:
    real = run("import importlib.metadata as m; print(m.version('python-can'))")
    out = run(
        "import smavenus.apps.can_gateway, can, can.interfaces as i, sys\n"
        "print(can.__version__, all(n in i.BACKENDS for n in ('socketcan', 'slcan', 'virtual')),"
        " hasattr(sys.modules['importlib.metadata'], '__file__'))\n"
    )
    assert out == [real[0], "True", "False"]


def test_the_stand_ins_version_is_the_real_ones_and_unknown_is_not_found() -> None:
    names = ["python-can", "pydantic", "dbus-fast", "structlog", "pydantic_core", "smavenus"]
    real = run(f"import importlib.metadata as m; print(*[m.version(n) for n in {names!r}])")
    stand_in = run(
        "from smavenus.apps import metadata_stand_in as s\n"
        f"print(*[s.version(n) for n in {names!r}])\n"
        "try:\n    s.version('no-such-distribution')\n"
        "except ModuleNotFoundError as e:\n    print(type(e).__name__, e.name)\n"
    )
    assert stand_in == [*real, "PackageNotFoundError", "no-such-distribution"]


def test_anything_else_asked_of_the_metadata_stand_in_loads_the_real_module() -> None:
    out = run(
        "import smavenus.apps.can_gateway, sys, importlib\n"
        "stand_in = sys.modules['importlib.metadata']\n"
        "from importlib.metadata import distribution\n"
        "real = sys.modules['importlib.metadata']\n"
        "print(distribution('pydantic').metadata['Name'], real is not stand_in,"
        " importlib.metadata is real, hasattr(real, '__file__'),"
        " len(stand_in.entry_points(group='console_scripts')) > 0)\n"
    )
    assert out == ["pydantic", "True", "True", "True", "True"]


def test_uvloop_wanted_keeps_openssl_importable() -> None:
    assert probe("bms_controller", SMAVENUS_UVLOOP="1")["ssl"] is False


def test_anything_else_asked_of_the_plugin_loader_loads_the_real_one() -> None:
    code = (
        "import smavenus.apps.bms_controller, sys\n"
        "stand_in = sys.modules['pydantic.plugin._loader']\n"
        "group = stand_in.PYDANTIC_ENTRY_POINT_GROUP\n"
        "print(group, sys.modules['pydantic.plugin._loader'] is not stand_in)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["pydantic", "True"]


def test_the_web_service_keeps_openssls_scrypt_for_passwords() -> None:
    out = run(
        "import smavenus.apps.web, hashlib\n"
        "from smavenus.web.auth import hash_password\n"
        "print(hasattr(hashlib, 'scrypt'), hash_password('a password').count('$') > 0)\n"
    )
    assert out == ["True", "True"]


def test_the_core_services_still_hash_with_cpythons_own_digests() -> None:
    out = run(
        "import smavenus.apps.can_gateway, hashlib, hmac, random\n"
        "random.seed('a string seed')\n"
        "print(hashlib.sha256(b'abc').hexdigest()[:8],"
        " hmac.new(b'k', b'm', 'sha256').hexdigest()[:8])\n"
    )
    assert out == ["ba7816bf", "b60090e3"]


def test_a_python_without_its_own_digests_keeps_openssls() -> None:
    out = run(
        "import sys\n"
        "sys.modules['_sha1'] = None  # as a Python built without it\n"
        "import smavenus.apps.can_gateway, random, hashlib\n"
        "print(sys.modules['_hashlib'] is not None, hashlib.sha256(b'abc').hexdigest()[:8])\n"
    )
    assert out == ["True", "ba7816bf"]


def test_every_service_imports_in_one_process_and_the_web_keeps_scrypt() -> None:
    # as the boot self-test imports them (deploy/venus/boot.sh): the core services first
    out = run(
        "import smavenus.apps.can_gateway, smavenus.apps.bms_controller\n"
        "import smavenus.apps.vebus_publisher, smavenus.apps.web, hashlib\n"
        "from smavenus.web.auth import hash_password, verify_password\n"
        "print(hasattr(hashlib, 'scrypt'), verify_password('pw', hash_password('pw')))\n"
    )
    assert out == ["True", "True"]


def test_a_deferred_module_is_the_real_one_from_its_first_use() -> None:
    out = run(
        "import smavenus.apps.bms_controller, sys, structlog._output as output\n"
        "stand_in = sys.modules['pickle']\n"
        "print(hasattr(stand_in, '__file__'))\n"
        "import pickle, secrets\n"
        "print(pickle is stand_in, len(pickle.dumps([1, 2])) > 0, hasattr(pickle, '__file__'))\n"
        "real = sys.modules['pickle']\n"
        "print(real is not stand_in, real.PicklingError is output.PicklingError,"
        " stand_in.loads is real.loads, len(secrets.token_hex(4)))\n"
    )
    assert out == ["False", "True", "True", "False", "True", "True", "True", "8"]


def test_threads_asking_a_deferred_module_at_once_load_it_once() -> None:
    out = run(
        "import smavenus.apps.bms_controller, sys, threading\n"
        "import gzip as stand_in\n"
        "seen, start = [], threading.Barrier(8)\n"
        "def ask():\n"
        "    start.wait()\n"
        "    seen.append(stand_in.GzipFile)\n"
        "threads = [threading.Thread(target=ask) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "import gzip\n"
        "print(len(seen), len(set(seen)), seen[0] is gzip.GzipFile, gzip is not stand_in)\n"
    )
    assert out == ["8", "1", "True", "True"]


def test_importlib_finds_a_deferred_module_without_loading_it() -> None:
    out = run(
        "import smavenus.apps.bms_controller, sys, importlib.util\n"
        "from smavenus.apps.deferred import defer\n"
        "spec = importlib.util.find_spec('gzip')\n"
        "print(spec.origin.endswith('gzip.py'), hasattr(sys.modules['gzip'], '__file__'),"
        " defer('no_such_module_anywhere'), 'no_such_module_anywhere' in sys.modules)\n"
    )
    assert out == ["True", "False", "None", "False"]
