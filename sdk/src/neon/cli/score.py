"""`neon score`: run built-in scorers over stored production traces chosen by a filter.

The server does the scoring (a score job, `POST /api/score-jobs`): the traces and their payloads never cross the
network, judges use the server's LLM provider settings, and the same code scores for the API, the CLI and the
online rules. The CLI checks the scorer specs first, starts the job, follows its progress and prints a summary.

Exit codes: 0 when the job completed (scorer errors are reported, not fatal), 1 when it failed or the server
could not be reached, 2 for bad input (a scorer spec, a filter the server refused).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

EXIT_ERROR = 1
EXIT_USAGE = 2
# option → the trace filter field it sets (the names of GET /api/traces' parameters)
TEXT_FILTERS = ("name", "name_contains", "service", "session_id", "user_id", "agent_id", "agent_version",
                "environment", "model", "tool", "search", "from", "to")


def register(commands: Any) -> None:
    """Add `score` to the `neon` parser's subcommands."""
    score = commands.add_parser(
        "score", help="score stored traces chosen by a filter with built-in scorers (on the server)",
        description='Scorer specs: NAME, NAME:{"arg": value} or {"scorer": NAME, "args": {...}}; e.g. '
                    '--scorer json_valid --scorer \'contains:{"needles": "refund"}\'. See docs/online-evaluation.md.')
    score.add_argument("--scorer", action="append", required=True, metavar="SPEC", help="a scorer; repeatable")
    filters = score.add_argument_group("which traces (as GET /api/traces; default: the last 24 hours)")
    for name in TEXT_FILTERS:
        filters.add_argument(f"--{name.replace('_', '-')}", dest=f"filter_{name}", metavar=name.upper())
    filters.add_argument("--status", dest="filter_status", choices=("ok", "error", "unset"))
    filters.add_argument("--tag", dest="filter_tag", action="append", metavar="TAG", help="repeatable: all must match")
    filters.add_argument("--attr", dest="filter_attr", action="append", metavar="KEY=VALUE", help="repeatable")
    filters.add_argument("--min-duration-ms", dest="filter_min_duration_ms", type=float)
    score.add_argument("--limit", type=int, default=100, help="newest matching traces to score (default 100)")
    score.add_argument("--key", default="", help="scores of one key replace each other when rerun (default '')")
    score.add_argument("--dry-run", action="store_true", help="only list the traces that would be scored")
    score.add_argument("--no-wait", action="store_true", help="start the job and print its id")
    score.add_argument("--json", metavar="FILE", help="also write the finished job as JSON")
    score.add_argument("--base-url", help="server URL (NEON_BASE_URL, else the saved credentials)")
    score.add_argument("--api-key", help="API key (NEON_API_KEY, else the saved credentials)")
    score.set_defaults(handler=cmd_score)


def _fail(message: str, code: int) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def trace_filter(args: argparse.Namespace) -> dict[str, Any]:
    """The filter fields the options set (only those given)."""
    return {key.removeprefix("filter_"): value for key, value in vars(args).items()
            if key.startswith("filter_") and value is not None}


def cmd_score(args: argparse.Namespace) -> int:
    from neon.client import NeonClient, NeonError
    from neon.evaluate.specs import SpecError, spec_from_text

    try:
        specs = [spec_from_text(text).to_dict() for text in args.scorer]
    except SpecError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with NeonClient(args.base_url, args.api_key, timeout=60) as client:
            started = client.start_score_job(specs, filter=trace_filter(args), limit=args.limit, key=args.key,
                                             dry_run=args.dry_run)
            if args.dry_run:
                _print_matches(started)
                return 0
            if args.no_wait:
                print(started["id"])
                return 0
            job = _follow(client, started["id"])
    except NeonError as exc:
        return _fail(exc.message, EXIT_USAGE if 400 <= exc.status_code < 500 else EXIT_ERROR)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the server: {exc}", EXIT_ERROR)
    print(job_report(job))
    if args.json:
        Path(args.json).write_text(json.dumps(job, indent=2))
    return 0 if job["status"] == "completed" else EXIT_ERROR


def _follow(client: Any, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends, showing progress on a terminal."""
    interactive = sys.stderr.isatty()
    delay = 0.2
    while True:
        job: dict[str, Any] = client.get_score_job(job_id)
        if interactive:
            print(f"\rscoring: {job['done']}/{job['total']} traces, {job['errors']} errors", end="", file=sys.stderr)
        if job["status"] in ("completed", "failed"):
            if interactive:
                print(file=sys.stderr)
            return job
        time.sleep(delay)
        delay = min(2.0, delay * 1.5)


def _print_matches(result: dict[str, Any]) -> None:
    print(f"{result['matched']} trace(s) would be scored with "
          f"{', '.join(s['scorer'] for s in result['scorers'])}:")
    for trace in result["traces"]:
        print(f"  {trace['trace_id']}  {trace.get('start_time') or '':30}  {trace.get('status') or '':5}  "
              f"{trace.get('name') or ''}")


def job_report(job: dict[str, Any]) -> str:
    """A finished job as text: counts, then one line per score."""
    lines = [f"score job {job['id']}: {job['status']} — {job['done']}/{job['total']} traces, "
             f"{job['scores_written']} scores written, {job['errors']} errors"]
    if job.get("error"):
        lines.append(f"  error: {job['error']}")
    summary = job.get("summary") or {}
    if summary:
        lines.append(f"  {'SCORE':24} {'SCORED':>6} {'MEAN':>6} {'PASSED':>6} {'FAILED':>6} {'NO VALUE':>8} "
                     f"{'ERRORS':>6}")
    for name, s in sorted(summary.items()):
        mean = f"{s['mean']:.3f}" if s.get("mean") is not None else "-"
        lines.append(f"  {name:24} {s['scored']:>6} {mean:>6} {s['passed']:>6} {s['failed']:>6} "
                     f"{s['no_value']:>8} {s['errors']:>6}")
        if s.get("first_error"):
            lines.append(f"    first error: {s['first_error']}")
    return "\n".join(lines)
