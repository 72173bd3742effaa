"""`neon agent`: check, list, show and compare agent spec files (docs/agents.md).

    neon agent validate agents/ more/extra.yaml   every error as file:line:col: field: message
    neon agent list [--path DIR]                  name, version, model, tools, description
    neon agent show NAME|FILE [--path DIR] [--json]
    neon agent diff A B [--path DIR]              A and B: files, or agent names in --path
    neon agent diff RUN_A RUN_B [--json]          two runs side by side (agent_run_diff.py)
    neon agent schema                             the JSON Schema of the file format

The agents folder is --path, else $NEON_AGENTS_PATH, else ./agents. Exit codes: 0 when all is well, 1 when a
spec has errors, 2 for bad usage (no such file or agent, the agents extra not installed).

More subcommands join the group through `REGISTRARS`: each is called with the `agent` subparsers object and
adds its parser, with `handler` set to a function of the parsed arguments returning the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neon.cli import agent_replay, agent_runs

if TYPE_CHECKING:
    from neon.execute import SpecFile, SpecIssue

EXIT_INVALID = 1
EXIT_USAGE = 2
Registrar = Callable[[Any], None]


class UsageError(Exception):
    """Bad input to a subcommand: printed as `neon: …`, exit 2."""


def register(commands: Any) -> Any:
    """Add `agent` to the `neon` parser's subcommands; returns the `agent` group's subparsers so that more
    subcommands can be added to it."""
    agent = commands.add_parser("agent", help="agent spec files: validate, list, show, diff, schema",
                                description="Agent spec files: check them, list them, show and compare versions.")
    agent.set_defaults(handler=lambda _args: _print_help(agent))
    subcommands = agent.add_subparsers(dest="agent_command", metavar="SUBCOMMAND")
    for registrar in REGISTRARS:
        registrar(subcommands)
    return subcommands


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _path_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", help="the agents folder (default: $NEON_AGENTS_PATH, else ./agents)")


def _register_validate(subcommands: Any) -> None:
    parser = subcommands.add_parser("validate", help="check spec files and folders; print every error",
                                    description="Check agent spec files (folders: every *.yaml/*.yml in them).")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a spec file or a folder of them")
    parser.add_argument("--check-tools", action="store_true",
                        help="also import each Python tool (from the current folder, as `python -m` would)")
    parser.set_defaults(handler=_guarded(cmd_validate))


def _register_list(subcommands: Any) -> None:
    parser = subcommands.add_parser("list", help="the agents in a folder: name, version, model, tools")
    _path_option(parser)
    parser.set_defaults(handler=_guarded(cmd_list))


def _register_show(subcommands: Any) -> None:
    parser = subcommands.add_parser("show", help="an agent's normalised spec and version")
    parser.add_argument("agent", metavar="NAME|FILE", help="an agent name (in --path) or a spec file")
    _path_option(parser)
    parser.add_argument("--json", action="store_true", help="print {name, version, source, spec} as JSON")
    parser.set_defaults(handler=_guarded(cmd_show))


def _register_diff(subcommands: Any) -> None:
    parser = subcommands.add_parser("diff", help="the fields that differ between two specs, or two runs side by side",
                                    description="Compare two specs (files, or an agent name in --path and a file), "
                                                "or, given two run ids, two runs: steps aligned, where they diverge, "
                                                "prompts and outputs, token/cost/latency deltas, spec changes.")
    parser.add_argument("old", metavar="A", help="a spec file, an agent name (in --path) or a run id")
    parser.add_argument("new", metavar="B", help="a spec file, an agent name (in --path) or a run id")
    _path_option(parser)
    parser.add_argument("--json", action="store_true", help="runs: print the server's diff as JSON")
    agent_runs.connection_options(parser)
    parser.set_defaults(handler=_guarded(cmd_diff))


def _register_schema(subcommands: Any) -> None:
    parser = subcommands.add_parser("schema", help="print the JSON Schema of agent spec files")
    parser.set_defaults(handler=_guarded(cmd_schema))


REGISTRARS: list[Registrar] = [_register_validate, _register_list, _register_show, _register_diff,
                               _register_schema, agent_runs.register, agent_replay.register]


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Usage errors and a missing extra become a one-line message and exit 2."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except UsageError as exc:
            print(f"neon: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ModuleNotFoundError as exc:
            if "neon[agents]" not in str(exc):
                raise
            print(f"neon: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return handler


# ------------------------------------------------------------------ commands
def cmd_validate(args: argparse.Namespace) -> int:
    from neon.execute import SpecError, load_agents, load_spec_file

    good: list[SpecFile] = []
    issues: list[SpecIssue] = []
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            found = load_agents(path)
            good += found.files.values()
            issues += found.issues()
        elif path.is_file():
            try:
                good.append(load_spec_file(path))
            except SpecError as exc:
                issues += exc.errors
        else:
            raise UsageError(f"{raw}: no such file or folder")
    if args.check_tools:
        issues += _tool_issues(good)
    failed_files = {issue.file for issue in issues}
    for item in sorted(good, key=lambda f: f.source):
        if item.source not in failed_files:
            print(f"ok  {item.spec.name}  {item.spec.version}  {item.source}")
    for issue in issues:
        print(issue)
    valid = sum(1 for item in good if item.source not in failed_files)
    print(f"{valid} valid, {len(failed_files)} with errors ({len(issues)} error{'s' * (len(issues) != 1)})"
          if issues else f"{valid} valid")
    return EXIT_INVALID if issues else 0


def _tool_issues(files: Sequence[SpecFile]) -> list[SpecIssue]:
    from neon.execute import PythonImplementation, ToolResolutionError, resolve_tool

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    issues = []
    for item in files:
        for i, tool in enumerate(item.spec.tools):
            if isinstance(tool.implementation, PythonImplementation):
                try:
                    resolve_tool(tool)
                except ToolResolutionError as exc:
                    issues.append(item.issue(("tools", i, "implementation"), exc.reason))
    return issues


def cmd_list(args: argparse.Namespace) -> int:
    from neon.execute import SpecError, agents_path, load_agents

    folder = agents_path(args.path)
    try:
        found = load_agents(folder)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    rows = [(spec.name, spec.version, spec.model.ref, ", ".join(t.name for t in spec.tools) or "-",
             spec.description) for _, spec in sorted(found.specs.items())]
    if rows:
        _print_table(("NAME", "VERSION", "MODEL", "TOOLS", "DESCRIPTION"), rows)
    elif not found.errors:
        print(f"no agent specs in {folder} (*.yaml or *.yml files)")
    for issue in found.issues():
        print(issue, file=sys.stderr)
    return EXIT_INVALID if found.errors else 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[-1])]).rstrip())


def cmd_show(args: argparse.Namespace) -> int:
    import yaml

    item = _resolve(args.agent, args.path)
    spec = item.spec
    if args.json:
        print(json.dumps({"name": spec.name, "version": spec.version, "source": item.source,
                          "spec": spec.to_dict()}, indent=2, ensure_ascii=False))
        return 0
    print(f"# {spec.name} · version {spec.version} · {item.source} (normalised: every default filled in)")
    text = yaml.dump(spec.to_dict(), Dumper=_block_text_dumper(), sort_keys=False, allow_unicode=True, width=120)
    print(text, end="")
    return 0


def _block_text_dumper() -> type:
    import yaml

    class BlockTextDumper(yaml.SafeDumper):
        """Multi-line strings (the system prompt) as `|` blocks, the way people write them."""

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value and all(line == line.rstrip() for line in value.splitlines()) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    BlockTextDumper.add_representer(str, text)
    return BlockTextDumper


def cmd_diff(args: argparse.Namespace) -> int:
    from neon.cli.agent_run_diff import are_run_ids, cmd_run_diff
    from neon.execute import diff_specs, format_changes

    if are_run_ids(args.old, args.new):
        return cmd_run_diff(args)
    old, new = _resolve(args.old, args.path), _resolve(args.new, args.path)
    changes = diff_specs(old.spec, new.spec)
    count = f"{len(changes)} change{'s' * (len(changes) != 1)}"
    print(f"{old.spec.name} {old.spec.version} ({old.source}) → {new.spec.name} {new.spec.version} "
          f"({new.source}): {count}")
    if changes:
        print(format_changes(changes))
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from neon.execute import schema_text

    print(schema_text(), end="")
    return 0


def _resolve(ref: str, folder: str | None) -> SpecFile:
    """A spec file given as a path, or an agent's file found by name in the agents folder."""
    from neon.execute import SpecError, agents_path, load_agents, load_spec_file

    path = Path(ref)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        try:
            return load_spec_file(path)
        except SpecError as exc:
            raise UsageError(f"{ref} is not a valid agent spec:\n{exc}") from None
    where = agents_path(folder)
    try:
        found = load_agents(where)
    except SpecError as exc:
        raise UsageError(f"no agent {ref!r}: {exc}") from None
    if ref in found.files:
        return found.files[ref]
    broken = [str(issue) for issue in found.issues()]
    hint = f"; files with errors:\n{chr(10).join(broken)}" if broken else ""
    known = ", ".join(sorted(found.specs)) or "none"
    raise UsageError(f"no agent {ref!r} in {where} (agents there: {known}){hint}")
