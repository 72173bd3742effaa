"""`neon track sync`: send what `neon.track` runs left in the on-disk buffer (the server was down, or the
process ended before everything was acknowledged). Exit code 0 when nothing is left, 1 otherwise."""

from __future__ import annotations

import argparse
from typing import Any

from neon.track.sync import sync


def register(commands: Any) -> None:
    track = commands.add_parser("track", help="training-run tracking (neon.track)")
    subcommands = track.add_subparsers(dest="track_command", metavar="COMMAND", required=True)
    sync_cmd = subcommands.add_parser("sync", help="send what runs left in the on-disk buffer")
    sync_cmd.add_argument("--buffer", help="the buffer folder (default: $NEON_TRACK_BUFFER or "
                                           "$NEON_HOME/track-buffer)")
    sync_cmd.add_argument("--base-url", help="send to this server instead of the one each run logged to")
    sync_cmd.add_argument("--api-key", help="default: NEON_API_KEY or the saved credentials")
    sync_cmd.set_defaults(handler=_sync)


def _sync(args: argparse.Namespace) -> int:
    result = sync(args.buffer, api_key=args.api_key, base_url=args.base_url)
    print(f"sent {result.sent} item(s), {result.refused} refused (kept under rejected/), {result.left} left")
    return 0 if result.left == 0 else 1
