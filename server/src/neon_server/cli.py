"""Server subcommands of `neon`: `up`, `worker`, `projects`, `keys`.

`projects` and `keys` administer the metadata store directly (they need access to its database, as the
server does), so they work whether or not a server is running.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from neon.credentials import Credentials, save_credentials
from neon_server.logs import configure_logging
from neon_server.services.errors import ServiceError
from neon_server.services.keys import KeyService
from neon_server.services.projects import DEFAULT_PROJECT, ProjectService
from neon_server.settings import Settings, SettingsError, load_settings
from neon_server.storage.metadata import MetadataStore, open_metadata

EXIT_ERROR = 1
EXIT_USAGE = 2


def register(commands: Any) -> None:
    """Add the server subcommands to the `neon` parser's subparsers."""
    up = commands.add_parser("up", help="start Neon (embedded defaults: chDB + SQLite under NEON_HOME)")
    _settings_options(up, server=True)
    up.set_defaults(handler=cmd_up)

    worker = commands.add_parser(
        "worker", help="run agent workers in this process (beside `neon up`, or against a Temporal cluster)",
        description="Poll Temporal for agent runs. Embedded mode finds the dev server of the `neon up` running on "
                    "the same NEON_HOME; with NEON_TEMPORAL_ADDRESS it joins that cluster. Stops on SIGINT/SIGTERM.")
    _settings_options(worker)
    worker.add_argument("--task-queue", help="task queue to poll (NEON_AGENT_TASK_QUEUE, default neon-agents)")
    worker.add_argument("--agents", help="folder of agent spec files (NEON_AGENTS_PATH, default $NEON_HOME/agents)")
    worker.add_argument("--factory", metavar="MODULE:FUNCTION",
                        help="what builds the worker (NEON_AGENT_WORKER_FACTORY; for tests and custom workers)")
    worker.add_argument("--neon-url", help="Neon's URL for the worker's activities (default: the one `neon up` "
                                           "saved in NEON_HOME, or NEON_PUBLIC_URL)")
    worker.add_argument("--setup", action="store_true",
                        help="register Neon's search attributes on the cluster's namespace, then exit")
    worker.set_defaults(handler=cmd_worker)

    projects = commands.add_parser("projects", help="list or create projects")
    _settings_options(projects)
    project_cmds = projects.add_subparsers(dest="action", metavar="ACTION")
    project_cmds.add_parser("list", help="list projects (the default)")
    create = project_cmds.add_parser("create", help="create a project and its first API key")
    create.add_argument("name")
    create.add_argument("--no-key", action="store_true", help="do not create a first key")
    projects.set_defaults(handler=cmd_projects, action="list")

    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    _settings_options(keys)
    key_cmds = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    key_create = key_cmds.add_parser("create", help="create a key (printed once)")
    key_create.add_argument("--project", default=DEFAULT_PROJECT)
    key_create.add_argument("--name", default="", help="what the key is for")
    key_create.add_argument("--save", action="store_true",
                            help="also save it as this machine's key for the SDK and CLI (NEON_HOME)")
    key_list = key_cmds.add_parser("list", help="list a project's keys")
    key_list.add_argument("--project", default=DEFAULT_PROJECT)
    key_list.add_argument("--json", action="store_true", help="print JSON")
    key_revoke = key_cmds.add_parser("revoke", help="revoke a key by id or prefix")
    key_revoke.add_argument("key", help="key id (key_…) or prefix (neon_sk_…)")
    key_revoke.add_argument("--project", default=DEFAULT_PROJECT)
    keys.set_defaults(handler=cmd_keys)


def _settings_options(parser: argparse.ArgumentParser, server: bool = False) -> None:
    parser.add_argument("--home", help="data folder (NEON_HOME, default ~/.neon)")
    parser.add_argument("--config", help="TOML config file (NEON_CONFIG)")
    parser.add_argument("--metadata-url", help="NEON_METADATA_URL")
    if server:
        parser.add_argument("--host", help="NEON_HOST (default 127.0.0.1)")
        parser.add_argument("--port", type=int, help="NEON_PORT (default 3000)")
        parser.add_argument("--analytics-url", help="NEON_ANALYTICS_URL")
        parser.add_argument("--log-level", help="NEON_LOG_LEVEL: debug, info, warning, error")
        parser.add_argument("--log-format", help="NEON_LOG_FORMAT: text or json")


def _settings(args: argparse.Namespace) -> Settings:
    names = ("home", "config", "metadata_url", "host", "port", "analytics_url", "log_level", "log_format")
    return load_settings(**{n: getattr(args, n, None) for n in names})


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def _guarded(body: Callable[[], int]) -> int:
    try:
        return body()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ServiceError as exc:
        return _fail(exc.message)


def cmd_up(args: argparse.Namespace) -> int:
    from neon_server.execute.worker_process import exit_now
    from neon_server.server import StartupError, serve
    from neon_server.storage.analytics import AnalyticsError

    def run() -> int:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
        try:
            serve(settings)
        except (StartupError, AnalyticsError) as exc:
            return _fail(str(exc))
        return 0

    exit_now(_guarded(run))  # everything is closed and flushed; skip teardown (the Temporal client exit bug)
    return 0  # not reached


def cmd_worker(args: argparse.Namespace) -> int:
    from neon_server.execute.worker_process import exit_now, run_worker, worker_options

    def run() -> int:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
        options = worker_options(settings, task_queue=args.task_queue, agents=args.agents, factory=args.factory,
                                 neon_url=args.neon_url, setup=args.setup)
        return run_worker(settings, options)

    exit_now(_guarded(run))
    return 0  # not reached


@contextmanager
def _admin(args: argparse.Namespace) -> Iterator[tuple[Settings, ProjectService, KeyService]]:
    settings = _settings(args)
    configure_logging("warning")
    store: MetadataStore = open_metadata(settings.metadata_url)
    try:
        keys = KeyService(store.api_keys, cache_seconds=0)
        yield settings, ProjectService(store.projects, keys), keys
    finally:
        store.close()


def cmd_projects(args: argparse.Namespace) -> int:
    def run() -> int:
        with _admin(args) as (_, projects, keys):
            if args.action == "create":
                project = projects.create(args.name)
                print(f"created project {project.name} ({project.id})")
                if not args.no_key:
                    _key, secret = keys.create(project.id, "first key")
                    print(f"API key (shown once): {secret}")
                return 0
            rows = [(p.name, p.id, p.created_at.strftime("%Y-%m-%d %H:%M")) for p in projects.list()]
            _table(("NAME", "ID", "CREATED"), rows)
            return 0

    return _guarded(run)


def cmd_keys(args: argparse.Namespace) -> int:
    def run() -> int:
        with _admin(args) as (settings, projects, keys):
            project = projects.by_name(args.project)
            if args.action == "create":
                key, secret = keys.create(project.id, args.name)
                print(f"created {key.id} in project {project.name}")
                print(f"API key (shown once): {secret}")
                if args.save:
                    path = save_credentials(Credentials(settings.url_for_clients(), project.name, secret),
                                            settings.home)
                    print(f"saved to {path}")
                return 0
            if args.action == "list":
                listed = keys.list(project.id)
                if args.json:
                    print(json.dumps([_key_json(k) for k in listed], indent=2))
                    return 0
                _table(("ID", "PREFIX", "NAME", "CREATED", "LAST USED", "STATE"), [
                    (k.id, k.prefix, k.name, _when(k.created_at), _when(k.last_used_at),
                     "active" if k.active else f"revoked {_when(k.revoked_at)}") for k in listed])
                return 0
            match = [k for k in keys.list(project.id) if args.key in (k.id, k.prefix)]
            if not match:
                return _fail(f"no key {args.key!r} in project {project.name}")
            revoked = keys.revoke(project.id, match[0].id)
            print(f"revoked {revoked.id} ({revoked.prefix}…)")
            return 0

    return _guarded(run)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _key_json(key: Any) -> dict[str, Any]:
    return {"id": key.id, "project_id": key.project_id, "name": key.name, "prefix": key.prefix,
            "created_at": key.created_at.isoformat(), "active": key.active,
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
