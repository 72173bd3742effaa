"""`neon eval` (run suites, record them on the server) and `neon compare` (the regression gate).

Exit codes: `neon eval` 0 when every run was recorded (cases may fail: gating is `neon compare`'s job),
1 when a run could not be recorded, 2 for bad input (no such path or suite, an eval file that fails to import).
`neon compare` 0 when nothing regressed, 1 on a regression, 2 when the comparison could not be made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

EXIT_REGRESSION = 1
EXIT_ERROR = 1
EXIT_USAGE = 2


def register(commands: Any) -> None:
    """Add `eval` and `compare` to the `neon` parser's subcommands."""
    run = commands.add_parser("eval", help="run eval suites and record the runs on the server",
                              description="Discover suites in eval_*.py / *_eval.py files and run them.")
    run.add_argument("--suite", help="the suite to run (default: every suite found)")
    run.add_argument("--version", default=os.environ.get("NEON_EVAL_VERSION", "local"),
                     help="label of what is being evaluated, e.g. main or pr-123 (NEON_EVAL_VERSION)")
    run.add_argument("--path", default="evals", help="file or folder to discover suites in (default: evals)")
    run.add_argument("--concurrency", type=_positive_int, help="cases run at once (default: the suite's)")
    run.add_argument("--run-id", help="fill this server run (one started with POST /api/eval-runs/start)")
    run.add_argument("--no-upload", action="store_true", help="run locally only: no server, no export")
    run.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    _server_options(run)
    run.set_defaults(handler=cmd_eval)

    compare = commands.add_parser("compare", help="compare two versions' latest runs; fail on a regression",
                                  description="A scorer regresses when candidate mean < threshold x baseline "
                                              "mean over the cases both runs share.")
    compare.add_argument("--baseline", required=True, help="version to compare against, e.g. main")
    compare.add_argument("--candidate", required=True, help="version under test, e.g. pr-123")
    compare.add_argument("--threshold", type=float, default=0.95, help="ratio in (0, 1] (default 0.95)")
    compare.add_argument("--suite", help="only this suite (default: every suite run in both versions)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    compare.add_argument("--markdown", metavar="FILE", help="write the report as Markdown (a PR comment)")
    compare.add_argument("--json", metavar="FILE", help="write the report as JSON")
    _server_options(compare)
    compare.set_defaults(handler=cmd_compare)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="server URL (NEON_BASE_URL, else the saved credentials)")
    parser.add_argument("--api-key", help="API key (NEON_API_KEY, else the saved credentials)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fail(message: str, code: int) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def cmd_eval(args: argparse.Namespace) -> int:
    import neon
    from neon.client import NeonClient, NeonError
    from neon.evaluate.suites import SuiteError, discover_suites

    try:
        registry = discover_suites(args.path)
        suites = [registry.get(args.suite)] if args.suite else list(registry)
    except SuiteError as exc:
        return _fail(str(exc), EXIT_USAGE)
    if not suites:
        return _fail(f"no suites found under {args.path!r} (files named eval_*.py or *_eval.py that call "
                     "define_suite)", EXIT_USAGE)
    if args.run_id and len(suites) != 1:
        return _fail("--run-id needs --suite (a run holds one suite)", EXIT_USAGE)
    client = None if args.no_upload else NeonClient(args.base_url, args.api_key, timeout=30)
    if client is not None:
        neon.configure(base_url=client.base_url, api_key=args.api_key, service_name="neon-eval")
    outputs: list[dict[str, Any]] = []
    code = 0
    try:
        for suite in suites:
            try:
                outputs.append(asyncio.run(_run_and_record(suite, args, client)))
            except (NeonError, httpx.HTTPError) as exc:
                code = _fail(f"suite {suite.name}: could not record the run on {client.base_url if client else '?'}"
                             f": {exc}", EXIT_ERROR)
    finally:
        if client is not None:
            neon.flush()
            client.close()
    if args.json:
        Path(args.json).write_text(json.dumps(outputs, indent=2, default=str))
    return code


async def _run_and_record(suite: Any, args: argparse.Namespace, client: Any) -> dict[str, Any]:
    from neon.evaluate.recording import RunRecorder
    from neon.evaluate.report import Progress, run_summary
    from neon.evaluate.results import CaseResult
    from neon.evaluate.runner import run_suite

    recorder = None
    if client is not None:
        recorder = RunRecorder(client, suite=suite.name, version=args.version, case_count=len(suite.cases),
                               dataset=suite.dataset, run_id=args.run_id or "")
        await asyncio.to_thread(recorder.open)
    progress = Progress(suite.name, len(suite.cases))

    async def on_result(result: CaseResult) -> None:
        progress.update(result)
        if recorder is not None:
            await recorder.add(result)

    try:
        run = await run_suite(suite, version=args.version, concurrency=args.concurrency,
                              run_id=recorder.run_id if recorder else "", on_result=on_result)
    except BaseException as exc:
        if recorder is not None:
            await recorder.finish(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    summary = run.summary()
    if recorder is not None:
        stored = await recorder.finish()
        summary = dict(stored.get("summary") or summary)
    print(run_summary(suite.name, args.version, run.results, summary, run.run_id))
    print()
    return {"suite": suite.name, "version": args.version, "run_id": run.run_id, "summary": summary,
            "results": [r.to_dict() for r in run.results]}


def cmd_compare(args: argparse.Namespace) -> int:
    from neon.client import NeonClient, NeonError
    from neon.evaluate.compare import Comparison, check_threshold
    from neon.evaluate.report import comparison_markdown, comparison_text

    try:
        check_threshold(args.threshold)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with NeonClient(args.base_url, args.api_key, timeout=60) as client:
            data = client.compare_eval_runs(args.baseline, args.candidate, suite=args.suite,
                                            threshold=args.threshold, seed=args.seed)
    except NeonError as exc:
        return _fail(f"cannot compare: {exc.message}", EXIT_USAGE)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the server: {exc}", EXIT_USAGE)
    comparison = Comparison.from_dict(data)
    print(comparison_text(comparison))
    if args.markdown:
        Path(args.markdown).write_text(comparison_markdown(comparison))
    if args.json:
        Path(args.json).write_text(json.dumps(comparison.to_dict(), indent=2))
    return EXIT_REGRESSION if comparison.regressed else 0
