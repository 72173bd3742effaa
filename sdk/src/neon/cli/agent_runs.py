"""`neon agent run | fork | runs | approvals | approve | reject`: durable runs through the server's API.

`run --follow` prints each step as it completes and the model's tokens as they stream (from the run's event
stream), and returns when the run answers, stops, fails or waits for an approval. Exit codes: 0 answered,
1 failed / stopped / unreachable, 2 bad input, 3 waiting for an approval (decide it, then `neon agent runs`).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from neon.client import NeonClient, NeonError

EXIT_ERROR, EXIT_USAGE, EXIT_WAITING = 1, 2, 3
FINAL = {"completed", "failed", "cancelled", "stopped"}


def register(agent_commands: Any) -> None:
    """Add the run subcommands to `neon agent`'s subparsers."""
    run = agent_commands.add_parser("run", help="start a durable run of an agent")
    run.add_argument("name", help="the agent (a spec in the server's agents folder)")
    run.add_argument("--input", "-i", required=True, help="the first user message")
    run.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="a prompt variable; repeatable")
    run.add_argument("--follow", "-f", action="store_true", help="print steps and streamed tokens until it answers")
    run.add_argument("--single-turn", action="store_true", help="end the run after its first answer")
    run.add_argument("--json", action="store_true", help="print the run as JSON")
    _connection(run)
    run.set_defaults(handler=cmd_run)

    fork = agent_commands.add_parser("fork", help="a new run reusing a run's steps before step K, live from K")
    fork.add_argument("run_id", help="the run to fork")
    fork.add_argument("--at", type=int, required=True, metavar="K",
                      help="the parent's steps before index K are reused (no calls made); the fork goes live at K")
    prompt = fork.add_mutually_exclusive_group()
    prompt.add_argument("--system-prompt", metavar="TEXT", help="another system prompt")
    prompt.add_argument("--system-prompt-file", metavar="FILE", help="another system prompt, from a file")
    fork.add_argument("--model", help="another model name")
    fork.add_argument("--provider", help="another provider (openai, anthropic)")
    fork.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                      help="a model parameter (the value read as JSON, else as text); repeatable")
    fork.add_argument("--tools", metavar="A,B", help="keep only these tools")
    fork.add_argument("--version", help="run this recorded version of the agent instead of the parent's")
    fork.add_argument("--input", "-i", help="replace the user message of K's turn (K must start the turn)")
    fork.add_argument("--follow", "-f", action="store_true", help="print steps and streamed tokens until it answers")
    fork.add_argument("--json", action="store_true", help="print the run as JSON")
    _connection(fork)
    fork.set_defaults(handler=cmd_fork)

    runs = agent_commands.add_parser("runs", help="list runs")
    runs.add_argument("--agent")
    runs.add_argument("--version")
    runs.add_argument("--status")
    runs.add_argument("--fork-of", metavar="RUN_ID", help="only the forks of this run")
    runs.add_argument("--limit", type=int, default=20)
    _connection(runs)
    runs.set_defaults(handler=cmd_runs)

    approvals = agent_commands.add_parser("approvals", help="calls waiting for a decision")
    _connection(approvals)
    approvals.set_defaults(handler=cmd_approvals)

    for verb in ("approve", "reject"):
        decide = agent_commands.add_parser(verb, help=f"{verb} a waiting call")
        decide.add_argument("run_id")
        decide.add_argument("call", help="the call id or step key (see `neon agent approvals`)")
        decide.add_argument("--reason", default="", help="why (recorded in the run and its trace)")
        decide.add_argument("--by", default="", help="who decides (default: the API key)")
        _connection(decide)
        decide.set_defaults(handler=cmd_decide, verb=verb)


def connection_options(parser: argparse.ArgumentParser) -> None:
    """--base-url and --api-key (for other `neon agent` subcommands that call the server)."""
    _connection(parser)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="server URL (NEON_BASE_URL, else the saved credentials)")
    parser.add_argument("--api-key", help="API key (NEON_API_KEY, else the saved credentials)")


def _client(args: argparse.Namespace) -> NeonClient:
    return NeonClient(args.base_url, args.api_key, timeout=30)


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def _reports_api_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The server's refusal, or an unreachable server, as one line and an exit code (2 for what the caller
    can fix: an unknown agent or run, a decision already taken, bad input)."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except NeonError as exc:
            return _fail(exc.message, EXIT_USAGE if exc.status_code in (404, 409, 422) else EXIT_ERROR)
        except httpx.HTTPError as exc:
            return _fail(f"cannot reach the server: {exc}")

    return run


@_reports_api_errors
def cmd_run(args: argparse.Namespace) -> int:
    variables: dict[str, str] = {}
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(f"--var takes KEY=VALUE, got {item!r}", EXIT_USAGE)
        variables[key] = value
    body = {"agent": args.name, "input": args.input, "variables": variables, "multi_turn": not args.single_turn}
    with _client(args) as client:
        run = client.request("POST", "/api/agent-runs", json=body)
        if not args.follow:
            print(json.dumps(run, indent=2) if args.json else f"{run['run_id']}  {run['agent']}@{run['version']}"
                  f"  {run['status']}  trace {run['trace_id']}")
            return 0
        print(f"run {run['run_id']}  {run['agent']}@{run['version']}  trace {run['trace_id']}", flush=True)
        return follow(client, run["run_id"], json_out=args.json)


@_reports_api_errors
def cmd_fork(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"at_step": args.at}
    if args.system_prompt_file:
        try:
            with open(args.system_prompt_file, encoding="utf-8") as prompt:
                body["system_prompt"] = prompt.read()
        except OSError as exc:
            return _fail(f"cannot read --system-prompt-file: {exc}", EXIT_USAGE)
    elif args.system_prompt is not None:
        body["system_prompt"] = args.system_prompt
    parameters: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(f"--param takes KEY=VALUE, got {item!r}", EXIT_USAGE)
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value
    if parameters:
        body["parameters"] = parameters
    if args.tools is not None:
        body["tools"] = [name.strip() for name in args.tools.split(",") if name.strip()]
    for name in ("model", "provider", "version", "input"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    with _client(args) as client:
        run = client.request("POST", f"/api/agent-runs/{args.run_id}/fork", json=body)
        line = f"{run['run_id']}  {run['agent']}@{run['version']}  fork of {args.run_id} at step {args.at}"
        if not args.follow:
            print(json.dumps(run, indent=2) if args.json else f"{line}  {run['status']}  trace {run['trace_id']}")
            return 0
        print(f"run {line}  trace {run['trace_id']}", flush=True)
        return follow(client, run["run_id"], json_out=args.json)


class _Console:
    """Step lines and streamed tokens from two threads, without tearing each other's lines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.streaming: str | None = None  # the step whose tokens are being printed, mid-line

    def tokens(self, step_key: str, text: str) -> None:
        with self.lock:
            if self.streaming != step_key:
                print(("\n" if self.streaming else "") + "  │ ", end="")
                self.streaming = step_key
            print(text.replace("\n", "\n  │ "), end="", flush=True)

    def line(self, text: str) -> None:
        with self.lock:
            if self.streaming is not None:
                print()
                self.streaming = None
            print(text, flush=True)


def follow(client: NeonClient, run_id: str, *, json_out: bool = False, poll_seconds: float = 0.25) -> int:
    """Print steps as they complete (polling the run) and tokens as they stream (the event stream)."""
    console = _Console()
    stop = threading.Event()
    tokens = threading.Thread(target=_print_tokens, args=(client, run_id, stop, console), daemon=True)
    tokens.start()
    shown: set[str] = set()
    try:
        while True:
            run = client.request("GET", f"/api/agent-runs/{run_id}")
            for step in run["steps"]:
                if step["key"] not in shown and step["status"] != "running":
                    shown.add(step["key"])
                    console.line(f"  step {step['key']:<6} {step['kind']:<9} {step['name']:<20} {step['status']:<9} "
                                 f"{step['summary'][:80]}")
            pending = [a for a in run["approvals"] if a["decision"] is None]
            if run["status"] in FINAL or run["status"] == "waiting" or pending:
                break
            time.sleep(poll_seconds)
    finally:
        stop.set()
    if json_out:
        print(json.dumps(run, indent=2))
    usage = run["usage"]
    console.line(f"{run['status']}: {usage['llm_calls']} LLM calls, {usage['tool_calls']} tool calls, "
                 f"{usage['input_tokens'] + usage['output_tokens']} tokens")
    if pending:
        for approval in pending:
            print(f"waiting for approval: {approval['tool']}({json.dumps(approval['arguments'])})\n"
                  f"  decide: neon agent approve {run_id} {approval['step_key']} --reason …   (or reject)")
        return EXIT_WAITING
    if run.get("answer") is not None:
        print(run["answer"])
    if run.get("error"):
        print(f"error: {run['error']}", file=sys.stderr)
    return 0 if run["status"] in ("completed", "waiting") and not run.get("error") else EXIT_ERROR


def _print_tokens(client: NeonClient, run_id: str, stop: threading.Event, console: _Console) -> None:
    """Tokens as they arrive; best effort (the steps printed from the run are what is durable)."""
    try:
        with client.stream("GET", f"/api/agent-runs/{run_id}/events") as response:
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event.get("type") == "delta":
                        console.tokens(str(event.get("step_key")), str(event.get("text", "")))
    except (httpx.HTTPError, ValueError):
        return


@_reports_api_errors
def cmd_runs(args: argparse.Namespace) -> int:
    params = {k: v for k, v in (("agent", args.agent), ("version", args.version), ("status", args.status),
                                ("fork_of", args.fork_of)) if v}
    with _client(args) as client:
        runs = client.request("GET", "/api/agent-runs", params={**params, "limit": args.limit})["runs"]
    print(f"{'RUN':<31} {'AGENT':<20} {'VERSION':<13} {'STATUS':<18} STARTED")
    for run in runs:
        status = run["status"] + (f" ({run['pending_approvals']})" if run["pending_approvals"] else "")
        fork = run.get("fork")
        lineage = f"  fork of {fork['parent_run_id']} at step {fork['at_step']}" if fork else ""
        print(f"{run['run_id']:<31} {run['agent'] or '':<20} {run['version'] or '':<13} {status:<18} "
              f"{run['started_at'] or ''}{lineage}")
    return 0


@_reports_api_errors
def cmd_approvals(args: argparse.Namespace) -> int:
    with _client(args) as client:
        approvals = client.request("GET", "/api/agent-approvals")["approvals"]
    if not approvals:
        print("no calls are waiting for a decision")
    for a in approvals:
        print(f"{a['run_id']}  {a['step_key']}  {a['agent']}@{a['version']}  {a['tool']}"
              f"({json.dumps(a['arguments'])})\n    the model said: {a['reason'][:200] or '(nothing)'}")
    return 0


@_reports_api_errors
def cmd_decide(args: argparse.Namespace) -> int:
    with _client(args) as client:
        decided = client.request("POST", f"/api/agent-runs/{args.run_id}/approvals/{args.call}/{args.verb}",
                                 json={"reason": args.reason, "by": args.by})
    print(f"{decided['decision']}: {decided['tool']} in {args.run_id} by {decided['decided_by']}")
    return 0
