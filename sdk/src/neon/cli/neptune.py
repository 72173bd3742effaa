"""`neon neptune token`: the two environment variables that point Neptune's clients (neptune-scale,
neptune-query) at this Neon, printed as shell `export` lines (`eval "$(neon neptune token)"`).

`NEPTUNE_API_TOKEN` is what Neptune's clients expect: base64 JSON of the server's URL and an API key (a Neon
key). `NEPTUNE_PROJECT` is `<workspace>/<project>`: the project part is the Neon project the key belongs to,
the workspace part is free (Neon has none; `neon` by default).

The key comes from --api-key, NEON_API_KEY, or the credentials `neon up` saved. For another project than the
key's, pass a key of that project, or `--create-key` to create one (needs the server package and access to the
server's metadata store, as `neon keys create` does).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import sys
from typing import Any

import httpx

EXIT_ERROR = 1
EXIT_USAGE = 2
DEFAULT_WORKSPACE = "neon"


def register(commands: Any) -> None:
    """Add `neptune` to the `neon` parser's subcommands."""
    neptune = commands.add_parser("neptune", help="use Neptune's clients (neptune-scale, neptune-query) with Neon")
    actions = neptune.add_subparsers(dest="action", metavar="ACTION", required=True)
    token = actions.add_parser(
        "token", help="print NEPTUNE_API_TOKEN and NEPTUNE_PROJECT for this Neon",
        description="Prints `export NEPTUNE_API_TOKEN=…` and `export NEPTUNE_PROJECT=…` lines: "
                    'eval "$(neon neptune token)" and run your neptune-scale code unchanged.')
    token.add_argument("--project", help="Neon project to log to (default: the API key's project)")
    token.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                       help=f"workspace part of NEPTUNE_PROJECT; any name (default {DEFAULT_WORKSPACE})")
    token.add_argument("--create-key", action="store_true",
                       help="create a key in --project when the given key belongs to another project (needs the "
                            "server package and its metadata store, like `neon keys create`)")
    token.add_argument("--home", help="with --create-key: the server's data folder (NEON_HOME)")
    token.add_argument("--base-url", help="server URL (NEON_BASE_URL, else the saved credentials)")
    token.add_argument("--api-key", help="API key (NEON_API_KEY, else the saved credentials)")
    token.set_defaults(handler=cmd_token)


def _fail(message: str, code: int) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def neptune_api_token(base_url: str, api_key: str) -> str:
    """NEPTUNE_API_TOKEN for a Neon at `base_url` and one of its API keys."""
    payload = {"api_address": base_url, "api_url": base_url, "api_key": api_key}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def cmd_token(args: argparse.Namespace) -> int:
    from neon.client import NeonClient, NeonError
    from neon.credentials import load_credentials

    saved = load_credentials()
    key = args.api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
    if not key:
        return _fail("no API key: pass --api-key, set NEON_API_KEY, or run `neon up` on this machine once",
                     EXIT_USAGE)
    try:
        with NeonClient(args.base_url, key) as client:
            base_url = client.base_url
            project = client.request("GET", "/api/project")["name"]
    except NeonError as exc:
        return _fail(f"the server refused the API key: {exc.message}", EXIT_USAGE)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the server at {args.base_url or 'the saved URL'}: {exc}", EXIT_ERROR)
    if args.project and args.project != project:
        if not args.create_key:
            return _fail(f"the API key belongs to project {project!r}, not {args.project!r}: pass a key of "
                         f"{args.project!r} with --api-key, or add --create-key", EXIT_USAGE)
        try:
            key = _create_key(args.project, args.home)
        except Exception as exc:
            return _fail(f"cannot create a key in {args.project!r} ({exc}); on the server run "
                         f"`neon keys create --project {args.project}` and pass it with --api-key", EXIT_ERROR)
        project = args.project
    print(f"export NEPTUNE_API_TOKEN={shlex.quote(neptune_api_token(base_url, key))}")
    print(f"export NEPTUNE_PROJECT={shlex.quote(f'{args.workspace}/{project}')}")
    return 0


def _create_key(project_name: str, home: str | None) -> str:
    """A new key of `project_name`, made directly in the server's metadata store (as `neon keys create`)."""
    from neon_server.services.keys import KeyService
    from neon_server.services.projects import ProjectService
    from neon_server.settings import load_settings
    from neon_server.storage.metadata import open_metadata

    settings = load_settings(home=home)
    store = open_metadata(settings.metadata_url)
    try:
        keys = KeyService(store.api_keys, cache_seconds=0)
        project = ProjectService(store.projects, keys).by_name(project_name)
        _key, secret = keys.create(project.id, name="neptune")
        return secret
    finally:
        store.close()
