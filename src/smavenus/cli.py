"""``smavenus``: the command-line tool.

    smavenus decode 305 10029CFFE600DE03     one frame → one JSON object
    smavenus decode --log capture.log        a candump -L (or any python-can) log → JSON lines
    smavenus decode --example                the capture shipped with the package
    smavenus config check FILE               every problem as section.key: reason, or the
                                             effective configuration (and on stderr a
                                             "FILE: notice: ..." line per renamed key)
    smavenus config example                  the commented example configuration

Exit status: 0 success, 2 bad input (the one-line reason is on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from smavenus import __version__
from smavenus.config import dump_config, load_config
from smavenus.errors import ConfigError, FrameDecodeError
from smavenus.io.controller.overrides import localsettings_overrides
from smavenus.protocol import decode, frame_to_dict

EXIT_OK, EXIT_BAD_INPUT = 0, 2
PROG = "smavenus"


class BadInputError(Exception):
    """A user error to report on one line with exit status 2."""


def parse_can_id(text: str) -> int:
    """CAN IDs are written in hex, with or without ``0x`` (``305`` is 0x305)."""
    try:
        can_id = int(text.removeprefix("0x").removeprefix("0X"), 16)
    except ValueError:
        raise BadInputError(f"{text!r} is not a hexadecimal CAN ID") from None
    if not 0 <= can_id <= 0x7FF:
        raise BadInputError(f"{text!r} is not an 11-bit CAN ID")
    return can_id


def parse_hex_data(parts: Sequence[str]) -> bytes:
    text = "".join(parts).replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BadInputError(f"{''.join(parts)!r} is not hexadecimal data") from None


def decode_one(can_id_text: str, data_parts: Sequence[str]) -> dict[str, Any]:
    can_id = parse_can_id(can_id_text)
    data = parse_hex_data(data_parts)
    try:
        return frame_to_dict(decode(can_id, data))
    except FrameDecodeError as exc:
        raise BadInputError(str(exc)) from None


def example_capture() -> Path:
    resource = resources.files("smavenus") / "data" / "example-capture.log"
    return Path(str(resource))


def decode_log(path: Path) -> Iterator[dict[str, Any]]:
    """Decode every frame of a log file that python-can can read; unknown IDs are skipped."""
    import can  # noqa: PLC0415 - only this subcommand needs python-can

    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    try:
        reader = can.LogReader(str(path))
    except (ValueError, OSError) as exc:
        raise BadInputError(f"{path}: cannot read as a CAN log ({exc})") from None
    with reader:
        try:
            for message in reader:
                if message.is_error_frame or message.is_remote_frame or message.is_extended_id:
                    continue
                base = {"timestamp": message.timestamp, "channel": message.channel}
                try:
                    yield {**base, **frame_to_dict(decode(message.arbitration_id, message.data))}
                except FrameDecodeError as exc:
                    if exc.reason == "unknown CAN ID":
                        continue
                    yield {**base, "can_id": f"0x{exc.can_id:03X}", "error": exc.reason}
        except (ValueError, IndexError) as exc:
            raise BadInputError(f"{path}: malformed log line ({exc})") from None


def _cmd_decode(args: argparse.Namespace) -> int:
    if args.example or args.log:
        path = example_capture() if args.example else Path(args.log)
        for record in decode_log(path):
            print(json.dumps(record))
        return EXIT_OK
    if not args.can_id or not args.data:
        raise BadInputError("give CAN_ID and DATA, or --log FILE")
    print(json.dumps(decode_one(args.can_id, args.data)))
    return EXIT_OK


def _cmd_config_check(args: argparse.Namespace) -> int:
    notices: list[str] = []
    try:
        cfg = load_config(args.file, notices)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    # Renamed keys still work, so the file is valid (exit 0); the notices say what to rename.
    for notice in notices:
        print(f"{args.file}: notice: {notice}", file=sys.stderr)
    if not args.no_bus:
        overrides = asyncio.run(localsettings_overrides(cfg))
        for key, live, toml in overrides or ():
            print(
                f"{args.file}: controller.{key} = {live!r} in Venus localsettings overrides the "
                f"file's {toml!r}",
                file=sys.stderr,
            )
    print(dump_config(cfg), end="")
    return EXIT_OK


def _cmd_config_example(_args: argparse.Namespace) -> int:
    text = (resources.files("smavenus") / "data" / "smavenus.example.toml").read_text("utf-8")
    print(text, end="")
    return EXIT_OK


def _cmd_web_hash_password(args: argparse.Namespace) -> int:
    """Reads the password from standard input (one line) or asks for it twice on a terminal;
    prints the line to put in ``[web] password_hash``. The password itself is never stored."""
    from smavenus.web.auth import hash_password  # noqa: PLC0415 - only this command needs it

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise BadInputError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < args.min_length:
        raise BadInputError(f"the password needs at least {args.min_length} characters")
    print(f'password_hash = "{hash_password(password)}"')
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    dec = sub.add_parser("decode", help="decode SMA CAN frames to JSON")
    dec.add_argument("can_id", nargs="?", help="CAN ID in hex, e.g. 305")
    dec.add_argument("data", nargs="*", help="frame data in hex, e.g. 10029CFFE600DE03")
    source = dec.add_mutually_exclusive_group()
    source.add_argument("--log", metavar="FILE", help="a candump -L log or any python-can log")
    source.add_argument("--example", action="store_true", help="the capture shipped with smavenus")
    dec.set_defaults(handler=_cmd_decode)

    cfg = sub.add_parser("config", help="check or show configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file", help="TOML configuration file")
    check.add_argument(
        "--no-bus",
        action="store_true",
        help="do not compare with the values in Venus localsettings (D-Bus)",
    )
    check.set_defaults(handler=_cmd_config_check)
    example = cfg_sub.add_parser("example", help="print the commented example configuration")
    example.set_defaults(handler=_cmd_config_example)

    web = sub.add_parser("web", help="the smavenus-web dashboard")
    web_sub = web.add_subparsers(dest="web_command", required=True)
    hashing = web_sub.add_parser(
        "hash-password", help="hash a password for [web] password_hash (reads standard input)"
    )
    hashing.add_argument("--min-length", type=int, default=10, help=argparse.SUPPRESS)
    hashing.set_defaults(handler=_cmd_web_hash_password)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except BadInputError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `smavenus decode --log x | head` is normal use
        return EXIT_OK
    return status


if __name__ == "__main__":
    sys.exit(main())
