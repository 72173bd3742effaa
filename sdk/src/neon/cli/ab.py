"""`neon ab start | show | list | cancel`: A/B tests of an agent-spec suite through the server's API
(docs/evaluation.md#ab-tests).

A variant is `LABEL` (the suite's spec as it is) or `LABEL=JSON`, the JSON an object of overrides:
`version`, `system_prompt`, `model`, `provider`, `parameters`, `tools`. The first variant is the baseline.
Exit codes: 0 done (and, with `--wait`, no scorer of any variant worse), 1 a variant is worse, the test failed
or the server is unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from neon.cli.agent_runs import EXIT_ERROR, EXIT_USAGE, _client, _connection, _fail, _reports_api_errors

OPEN = {"running", "paused", "comparing"}


def register(commands: Any) -> None:
    ab = commands.add_parser("ab", help="A/B tests: variants of an agent over an agent-spec suite, compared",
                             description="A/B tests: variants of an agent over an agent-spec suite, each compared "
                                         "with the first (the baseline) per scorer.")
    ab.set_defaults(handler=lambda _args: ab.print_help() or 0)
    sub = ab.add_subparsers(dest="ab_command", metavar="SUBCOMMAND")

    start = sub.add_parser("start", help="start an A/B test")
    start.add_argument("suite", help="an agent-spec suite of the server's evals folder")
    start.add_argument("--variant", "-v", action="append", required=True, metavar="LABEL[=JSON]",
                       help="a variant (repeat 2–10 times; the first is the baseline); JSON: an object of "
                            "overrides, e.g. 'terse={\"system_prompt\": \"Be brief.\"}'")
    start.add_argument("--concurrency", type=int, help="cases in flight per variant (default 8)")
    start.add_argument("--wait", "-w", action="store_true", help="wait for the verdicts and print them")
    start.add_argument("--json", action="store_true", help="print the answer as JSON")
    _connection(start)
    start.set_defaults(handler=cmd_start)

    show = sub.add_parser("show", help="an A/B test: variants, progress and verdicts")
    show.add_argument("ab_test_id")
    show.add_argument("--json", action="store_true", help="print the whole test (with per-case rows) as JSON")
    _connection(show)
    show.set_defaults(handler=cmd_show)

    listed = sub.add_parser("list", help="the project's A/B tests, newest first")
    listed.add_argument("--limit", type=int, default=20)
    _connection(listed)
    listed.set_defaults(handler=cmd_list)

    cancel = sub.add_parser("cancel", help="cancel an A/B test (every variant's run)")
    cancel.add_argument("ab_test_id")
    _connection(cancel)
    cancel.set_defaults(handler=cmd_cancel)


def parse_variant(text: str) -> dict[str, Any]:
    """`LABEL` or `LABEL=JSON-object-of-overrides`."""
    label, sep, given = text.partition("=")
    if not sep:
        return {"label": label}
    try:
        overrides = json.loads(given)
    except json.JSONDecodeError as exc:
        raise ValueError(f"variant {label!r}: the overrides are not JSON ({exc})") from exc
    if not isinstance(overrides, dict):
        raise ValueError(f"variant {label!r}: the overrides must be a JSON object")
    return {**overrides, "label": label}


@_reports_api_errors
def cmd_start(args: argparse.Namespace) -> int:
    try:
        variants = [parse_variant(v) for v in args.variant]
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    body: dict[str, Any] = {"suite": args.suite, "variants": variants}
    if args.concurrency is not None:
        body["concurrency"] = args.concurrency
    with _client(args) as client:
        started = client.request("POST", "/api/ab-tests", json=body)
        if not args.wait:
            print(json.dumps(started, indent=2) if args.json else
                  f"{started['ab_test_id']} started: {' vs '.join(started['variants'])} "
                  f"(eval runs {', '.join(started['eval_run_ids'])})")
            return 0
        while True:
            test = client.request("GET", f"/api/ab-tests/{started['ab_test_id']}")
            if test["status"] not in OPEN:
                break
            time.sleep(1)
    return _report(test, args.json)


@_reports_api_errors
def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        test = client.request("GET", f"/api/ab-tests/{args.ab_test_id}")
    return _report(test, args.json)


@_reports_api_errors
def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        tests = client.request("GET", "/api/ab-tests", params={"limit": args.limit})["ab_tests"]
    print(f"{'A/B TEST':<20} {'STATUS':<10} {'SUITE':<24} VARIANTS")
    for t in tests:
        print(f"{t['ab_test_id']:<20} {t['status']:<10} {t['suite'] or '':<24} "
              f"{' vs '.join(v['label'] for v in t['variants'])}")
    return 0


@_reports_api_errors
def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.request("POST", f"/api/ab-tests/{args.ab_test_id}/cancel")
    print(f"{args.ab_test_id}: cancel asked")
    return 0


def _report(test: dict[str, Any], as_json: bool) -> int:
    """Print the test; the exit code says whether any variant is worse than the baseline."""
    worse = any(s["verdict"] == "worse" for c in test["comparisons"] for s in c["scorers"])
    if as_json:
        print(json.dumps(test, indent=2))
    else:
        print(f"{test['ab_test_id']}  {test['status']}  suite {test['suite']}  agent {test['agent']}")
        if test["error"]:
            print(f"  {test['error']}")
        for i, v in enumerate(test["variants"]):
            p = v.get("progress") or {}
            print(f"  {v['label']:<20} {v['eval_run_id']}  {p.get('done', 0)}/{p.get('total', 0)} done  "
                  f"{p.get('status', '')}{'  (baseline)' if i == 0 else ''}")
        for c in test["comparisons"]:
            for s in c["scorers"]:
                ci = "–" if s["ci_low"] is None else f"[{s['ci_low']:+.3f}, {s['ci_high']:+.3f}]"
                delta = "–" if s["mean_delta"] is None else f"{s['mean_delta']:+.3f}"
                print(f"  {c['label']:<20} {s['scorer']:<20} Δ {delta:<8} CI {ci:<18} {s['verdict']}")
    if test["status"] in ("failed", "cancelled") or worse:
        if not as_json:
            print("a variant is worse than the baseline" if worse else f"the A/B test {test['status']}",
                  file=sys.stderr)
        return EXIT_ERROR
    return 0
