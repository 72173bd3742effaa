"""Entry point of the `neon` command.

The SDK owns the command so that `pip install neon` gives a working CLI; subcommands that run or
administer a server (`up`, `worker`, `projects`, `keys`) come from `neon_server` when it is installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

import neon
from neon.cli import ab, agents, evals, neptune, score, track, track_io

SERVER_COMMANDS = ("up", "worker", "projects", "keys")
Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neon", description="Neon: observe, evaluate and run AI agents.")
    parser.add_argument("--version", action="version", version=f"neon {neon.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    evals.register(commands)
    ab.register(commands)
    score.register(commands)
    agents.register(commands)
    neptune.register(commands)
    track.register(commands)
    track_io.register(commands)
    try:
        server_cli = importlib.import_module("neon_server.cli")
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("neon_server"):
            raise
        for name in SERVER_COMMANDS:
            sub = commands.add_parser(name, help=f"(needs neon-server) {name}", add_help=False)
            sub.add_argument("rest", nargs=argparse.REMAINDER)
            sub.set_defaults(handler=_needs_server(name))
    else:
        server_cli.register(commands)
    return parser


def _needs_server(name: str) -> Handler:
    def handler(_args: argparse.Namespace) -> int:
        print(f"`neon {name}` needs the server package: pip install neon-server", file=sys.stderr)
        return 2

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
