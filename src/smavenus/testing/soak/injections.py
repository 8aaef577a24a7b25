"""The faults a soak injects, each with how it is done and undone.

* ``kill_<service>``: ``kill -9`` of its current pid (:meth:`Stack.kill`); supervise restarts it.
* ``dbus_restart``: the system bus's daemon stopped and started on the same socket; every
  client must cope on its own (localsettings is restarted, as its supervisor would).
* ``adapter_unplug``: the simulated USB adapter's pty closed and its link removed; plugged
  again after 0.3-3 s.
* ``<monitor|bms>_vanish`` / ``_freeze`` / ``_nan``: the service leaves the bus, stops
  changing, or sends NaN in every double; restored after 2-20 s.
* ``<monitor|bms>_out_of_range``: its pack voltage ±60 V, a value no 16-cell bank can show
  (a plausible offset would be a real-looking over-voltage, which should raise an alarm);
  restored after 2-20 s.
* ``can_malformed``: SI status IDs with a wrong length, as extended or as remote frames, and
  garbage slcan lines (random bytes, bad hex, a DLC that disagrees or exceeds 8, overlong,
  truncated, unknown commands).
* ``can_random``: random frames with foreign IDs, lengths and data, standard and extended.
* ``can_burst``: foreign frames at 4,500 frames/s for 2-5 s.
* ``setvalue_vebus`` / ``setvalue_settings``: 1-5 ``SetValue`` of invalid types and values
  into the vebus service / the controller's localsettings paths (:mod:`.values`).
* ``settings_invalid``: a setting that breaks a configuration rule; the controller must write
  the old value back — checked after 5 s and 20 s, put back by the soak (and reported) if not.

Frames never carry BMS IDs (0x351-0x35F, 0x00F): a real SI would act on those, and acting on
them would be right. Well-formed frames with the SI's own status IDs are left out too: nobody
can tell them from the SI's, so whatever follows from them (their power counted, a warning) is
correct behaviour, not a fault.

A kind acts on a *target* (a service, the adapter, the monitor …) that takes one fault at a
time. The *restarts* (the kills and the bus restart, :data:`RESTARTS`) are not in the random
mix: the engine deals them from shuffled decks at a steady pace after a calm start (see
:mod:`.engine`), so every one of them happens in a short soak too, and each process first
lives through a long stream of the other faults — long enough for its memory to be judged.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from smavenus.controller.settings import SETTINGS_PREFIX
from smavenus.io.dbus import call
from smavenus.io.dbus.busitem import BUSITEM
from smavenus.io.dbus.localsettings import SETTINGS_SERVICE
from smavenus.protocol.specs import SI_STATUS_IDS, SPECS_BY_ID
from smavenus.testing.soak.values import INVALID_SETTINGS, settings_writes, vebus_writes
from smavenus.testing.stack import SERVICES
from smavenus.testing.waiting import eventually

BURST_RATE_HZ = 4500.0
SETTINGS_WAIT_S = 30.0
OUT_OF_RANGE_OFFSET_V = 60.0
#: Every ID a BMS sends the SI (never injected) and the SI's own status IDs.
_BMS_RANGE = range(0x350, 0x360)
_RESERVED = frozenset({0x00F, *_BMS_RANGE, *range(0x300, 0x310)})
SETTING_NAMES = tuple(s.name for s in INVALID_SETTINGS)


class Context(Protocol):
    """What an injection may use (the engine is one)."""

    rng: random.Random

    async def kill(self, service: str) -> int: ...
    async def restart_dbus(self) -> None: ...
    async def sim(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def bus(self) -> MessageBus: ...
    async def vebus_service(self) -> str: ...
    def later(
        self, delay_s: float, target: str, what: str, undo: Callable[[], Awaitable[Any]]
    ) -> None: ...
    def up_for(self, service: str) -> float: ...
    def note_write(self, where: str, path: str, label: str, outcome: str) -> None: ...
    def note_setting(self, name: str, outcome: str, detail: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    target: str
    run: Callable[[Context], Awaitable[dict[str, Any]]]
    eligible: Callable[[Context], bool] = lambda _ctx: True


async def apply(ctx: Context, action: str, **fields: Any) -> dict[str, Any]:
    return await ctx.sim({"cmd": "apply", "event": {"action": action, **fields}})


# -- processes and the bus ----------------------------------------------------------------------


def _kill(service: str) -> Kind:
    async def run(ctx: Context) -> dict[str, Any]:
        return {"pid": await ctx.kill(service)}

    short = service.removeprefix("smavenus-").replace("-", "_")
    return Kind(f"kill_{short}", 1.0, service, run, lambda ctx: ctx.up_for(service) > 0)


async def _dbus_restart(ctx: Context) -> dict[str, Any]:
    await ctx.restart_dbus()
    return {}


async def _unplug(ctx: Context) -> dict[str, Any]:
    await apply(ctx, "adapter", state="unplug")
    after = round(ctx.rng.uniform(0.3, 3.0), 3)
    ctx.later(after, "adapter", "plug", lambda: apply(ctx, "adapter", state="plug"))
    return {"plug_after_s": after}


def _service_fault(target: str, fault: str) -> Kind:
    async def run(ctx: Context) -> dict[str, Any]:
        fields: dict[str, Any] = {"state": fault}
        if fault == "out_of_range":
            fields = {
                "state": "lie",
                "voltage_offset_v": ctx.rng.choice((-1, 1)) * OUT_OF_RANGE_OFFSET_V,
            }
        await apply(ctx, target, **fields)
        after = round(ctx.rng.uniform(2.0, 20.0), 3)
        ctx.later(after, target, "restore", lambda: apply(ctx, target, state="restore"))
        return {**fields, "restore_after_s": after}

    return Kind(f"{target}_{fault}", 1.0, target, run)


# -- CAN -----------------------------------------------------------------------------------


def _foreign_id(rng: random.Random, extended: bool) -> int:
    while True:
        can_id = rng.randrange(1 << 29) if extended else rng.randrange(1 << 11)
        if extended or can_id not in _RESERVED:
            return can_id


async def _malformed(ctx: Context) -> dict[str, Any]:
    rng = ctx.rng
    frames: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 10)):
        can_id = rng.choice(SI_STATUS_IDS)
        lengths = SPECS_BY_ID[can_id].lengths
        shape = rng.choice(("short", "extended", "remote"))
        length = rng.choice([n for n in range(9) if n not in lengths])
        data = rng.randbytes(length if shape == "short" else rng.choice(tuple(lengths)))
        frames.append(
            {
                "can_id": can_id,
                "data": "" if shape == "remote" else data.hex(),
                "extended": shape == "extended",
                "remote": shape == "remote",
            }
        )
    lines = [_garbage(rng) for _ in range(rng.randint(1, 10))]
    reply = await ctx.sim({"cmd": "inject", "frames": frames, "lines": lines})
    return {"frames": len(frames), "lines": len(lines), "delivered": reply["delivered"]}


def _garbage(rng: random.Random) -> str:
    """One line an adapter or a noisy USB link should never send, ended by CR so it does not
    swallow the SI's next frame."""
    choice = rng.randrange(7)
    if choice == 0:  # random bytes, CR and BEL excluded
        body = "".join(chr(b) for b in rng.randbytes(rng.randint(1, 40)) if b not in (7, 13))
    elif choice == 1:  # a frame with bad hex
        body = f"t{rng.choice(SI_STATUS_IDS):03X}8" + "ZZ" * 8
    elif choice == 2:  # DLC and data disagree
        body = f"t{rng.choice(SI_STATUS_IDS):03X}8" + rng.randbytes(3).hex().upper()
    elif choice == 3:  # a DLC beyond 8
        body = f"t{rng.choice(SI_STATUS_IDS):03X}F" + "00" * 15
    elif choice == 4:  # overlong
        body = "t" + "0" * rng.randint(100, 3000)
    elif choice == 5:  # truncated header
        body = rng.choice(("t", "T", "t3", "T1234", "r", "R12"))
    else:  # an unknown command letter
        body = rng.choice("abcdeghijkmnopqsuvwxyzABDEGHIJKMNPQUWXYZ") + rng.randbytes(4).hex()
    return body + "\r"


async def _random_frames(ctx: Context) -> dict[str, Any]:
    rng = ctx.rng
    frames = []
    for _ in range(rng.randint(1, 50)):
        extended = rng.random() < 0.3
        remote = rng.random() < 0.1
        frames.append(
            {
                "can_id": _foreign_id(rng, extended),
                "data": "" if remote else rng.randbytes(rng.randint(0, 8)).hex(),
                "extended": extended,
                "remote": remote,
            }
        )
    reply = await ctx.sim({"cmd": "inject", "frames": frames})
    return {"frames": len(frames), "delivered": reply["delivered"]}


async def _burst(ctx: Context) -> dict[str, Any]:
    duration = round(ctx.rng.uniform(2.0, 5.0), 3)
    seed = ctx.rng.randrange(1 << 30)
    await ctx.sim({"cmd": "burst", "rate_hz": BURST_RATE_HZ, "duration_s": duration, "seed": seed})
    ctx.later(duration + 2.0, "burst", "burst_over", _nothing)  # a loaded sim ends late
    return {"rate_hz": BURST_RATE_HZ, "duration_s": duration}


async def _nothing() -> None:
    return None


# -- D-Bus writes --------------------------------------------------------------------------


async def set_value(bus: MessageBus, service: str, path: str, variant: Variant) -> str:
    """``ok`` (accepted: 0), ``refused:<code>``, or ``error:<D-Bus error>``."""
    try:
        (code,) = await call(bus, service, path, BUSITEM, "SetValue", signature="v", body=[variant])
    except DBusError as exc:
        return f"error:{exc.type}"
    except TimeoutError:
        return "error:timeout"
    return "ok" if code == 0 else f"refused:{code}"


def _writes(where: str, table: Callable[[], list[tuple[str, str, Variant]]]) -> Kind:
    candidates = table()

    async def run(ctx: Context) -> dict[str, Any]:
        bus = await ctx.bus()
        service = await ctx.vebus_service() if where == "vebus" else SETTINGS_SERVICE
        done = []
        for path, label, variant in ctx.rng.sample(candidates, ctx.rng.randint(1, 5)):
            old = await get_value(ctx, path) if where == "settings" else None
            outcome = await set_value(bus, service, path, variant)
            ctx.note_write(where, path, label, outcome)
            done.append(f"{path} {label}: {outcome}")
            if where == "settings" and outcome == "ok":
                # localsettings took it (a text setting takes any text): the controller
                # must not
                name = path.removeprefix(SETTINGS_PREFIX)
                _check_written_back(ctx, name, old, {"name": name, "value": label, "old": old})
        return {"writes": done}

    # settings writes share the target of the invalid settings: one check at a time
    return Kind(f"setvalue_{where}", 2.0, "settings" if where == "settings" else where, run)


async def get_value(ctx: Context, path: str) -> Any:
    """A setting's value; waits while localsettings is not there (restarting with the bus)."""

    async def read() -> tuple[Any] | None:
        try:
            (variant,) = await call(await ctx.bus(), SETTINGS_SERVICE, path, BUSITEM, "GetValue")
        except (DBusError, OSError, TimeoutError):
            return None
        return (variant.value if isinstance(variant, Variant) else variant,)

    answer: tuple[Any] | None = await eventually(read, SETTINGS_WAIT_S, f"localsettings: {path}")
    assert answer is not None  # eventually returns only a truthy answer
    return answer[0]


def _check_written_back(ctx: Context, name: str, old: Any, detail: dict[str, Any]) -> None:
    """After 5 s (and again after 20 s) the setting must be ``old`` again; if the controller
    kept the new value, the soak puts the old one back and reports it."""
    path = SETTINGS_PREFIX + name

    async def check(final: bool) -> None:
        now = await get_value(ctx, path)
        if now == old:
            ctx.note_setting(name, "written_back", detail)
        elif not final:
            ctx.later(15.0, "settings", "check_setting_again", lambda: check(True))
        else:
            restored = await set_value(await ctx.bus(), SETTINGS_SERVICE, path, _like(old))
            ctx.note_setting(name, "kept", {**detail, "now": now, "restored": restored})

    ctx.later(5.0, "settings", "check_setting", lambda: check(False))


def _invalid_setting() -> Kind:
    async def run(ctx: Context) -> dict[str, Any]:
        setting = ctx.rng.choice(INVALID_SETTINGS)
        path = SETTINGS_PREFIX + setting.name
        old = await get_value(ctx, path)
        bus = await ctx.bus()
        kind = "s" if isinstance(setting.value, str) else "d"
        outcome = await set_value(bus, SETTINGS_SERVICE, path, Variant(kind, setting.value))
        detail = {"name": setting.name, "value": setting.value, "old": old, "write": outcome}
        if outcome == "ok":
            _check_written_back(ctx, setting.name, old, detail)
        else:
            ctx.note_setting(setting.name, "refused_by_localsettings", detail)
        return detail

    return Kind("settings_invalid", 1.5, "settings", run)


def _like(value: Any) -> Variant:
    if isinstance(value, str):
        return Variant("s", value)
    return Variant("d", float(value)) if isinstance(value, float) else Variant("i", int(value))


#: The restarts: dealt by the engine at a steady pace, not drawn at random.
RESTARTS: tuple[Kind, ...] = (
    *(_kill(service) for service in SERVICES),
    Kind("dbus_restart", 1.0, "dbus", _dbus_restart),
)


def catalogue() -> list[Kind]:
    """Every kind but the restarts, with its weight in the random choice."""
    kinds = [Kind("adapter_unplug", 1.5, "adapter", _unplug)]
    for target in ("monitor", "bms"):
        kinds += [_service_fault(target, f) for f in ("vanish", "freeze", "nan", "out_of_range")]
    kinds += [
        Kind("can_malformed", 2.0, "can_malformed", _malformed),
        Kind("can_random", 2.0, "can_random", _random_frames),
        Kind("can_burst", 1.0, "burst", _burst),
        _writes("vebus", vebus_writes),
        _writes("settings", lambda: settings_writes(SETTING_NAMES)),
        _invalid_setting(),
    ]
    return kinds
