"""A project of runs for the runs-table tests: every attribute type, some missing, ties, NaN, a loss series;
and the same table computed in plain Python."""

from __future__ import annotations

import asyncio
import functools
import math
import random
import statistics
from datetime import UTC, datetime
from typing import Any

from neon_server.domain.track import FileRef, RunCreate, RunWrites
from neon_server.runtime import Services

T0 = 1_760_000_000_000
RUNS = 40
OPTIMIZERS = ["adam", "sgd", "lion"]


def make_runs(services: Services, project_id: str, ids: range = range(RUNS), seed: int = 16
              ) -> dict[str, dict[str, Any]]:
    """Runs with a mix of attributes and a loss series; answers what each run holds as plain Python values."""
    rnd = random.Random(seed)
    truth: dict[str, dict[str, Any]] = {}
    plans = []
    for i in ids:
        run_id = f"run-{i:02d}"
        held: dict[str, Any] = {}
        if i % 7 != 3:  # some runs lack the learning rate; values repeat (ties)
            held["config/lr"] = math.nan if i == 11 else rnd.choice([0.1, 0.01, 0.001, 0.001])
        held["config/batch"] = rnd.choice([16, 32, 64])
        if i % 5 != 4:
            held["config/optimizer"] = OPTIMIZERS[i % 3]
        held["config/flag"] = i % 2 == 0
        held["config/when"] = datetime.fromtimestamp((T0 + rnd.randrange(10**6)) / 1000, UTC)
        if i % 4 == 0:
            held["config/model"] = FileRef(f"files/{i}.bin", 10 + i, "application/octet-stream")
        if i % 6 != 5:
            losses = [rnd.uniform(0, 5) for _ in range(rnd.randrange(1, 8))]
            if i % 9 == 0:
                losses[-1] = math.nan
            held["train/loss"] = losses
        truth[run_id] = held
        plans.append((i, run_id, held))

    async def write() -> None:
        for i, run_id, _ in plans:
            await services.track.create_run(project_id, RunCreate(run_id, experiment_name=f"exp-{i % 4}",
                                                                  creation_time=datetime.fromtimestamp(
                                                                      (T0 + i * 1000) / 1000, UTC)))

        async def one(i: int, run_id: str, held: dict[str, Any]) -> None:
            writes = RunWrites(run_id)
            for path, value in held.items():
                if path == "train/loss":
                    for step, loss in enumerate(value):
                        writes.add_float(path, step, T0 + step, loss)
                else:
                    writes.set_attribute(path, value, T0)
            writes.set_changes.append(("sys/tags", f"t{i % 3}", True))
            await services.track.write(project_id, writes)

        await asyncio.gather(*(one(*plan) for plan in plans))

    asyncio.run(write())
    for i, _, held in plans:
        held["sys/tags"] = [f"t{i % 3}"]
        held["sys/name"] = f"exp-{i % 4}"
    return truth


def finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def aggregate(losses: list[float], name: str) -> float | int:
    """A float series' aggregate as the summaries define it (over finite values; last is the last point)."""
    ok = finite(losses)
    if name == "last":
        return losses[-1]
    if name == "count":
        return len(losses)
    if name == "last_step":
        return float(len(losses) - 1)
    if not ok:
        return math.nan
    return {"min": min(ok), "max": max(ok), "average": statistics.fmean(ok),
            "variance": statistics.pvariance(ok)}[name]


def value(held: dict[str, Any], path: str, agg: str | None = None) -> Any:
    """A run's value of a column, or None."""
    if path not in held:
        return None
    if path == "train/loss":
        return aggregate(held[path], agg or "last")
    return held[path]


def sort_value(v: Any) -> tuple[int, Any]:  # noqa: PLR0911 - one answer per type
    """(rank, comparable): 0 a value, 1 NaN, 2 missing."""
    if v is None:
        return 2, 0
    if isinstance(v, float) and math.isnan(v):
        return 1, 0
    if isinstance(v, datetime):
        return 0, v.timestamp()
    if isinstance(v, bool):
        return 0, int(v)
    if isinstance(v, list):
        return 0, ",".join(sorted(v))
    if isinstance(v, FileRef):
        return 0, v.path
    return 0, v


def expected_order(truth: dict[str, dict[str, Any]], keys: list[tuple[str, str | None, bool]]) -> list[str]:
    """Run ids sorted by the keys (path, aggregate, descending): values, then NaN, then missing; ties by id."""
    def compare(a: str, b: str) -> int:
        for path, agg, descending in keys:
            (ra, va), (rb, vb) = sort_value(value(truth[a], path, agg)), sort_value(value(truth[b], path, agg))
            if ra != rb:
                return -1 if ra < rb else 1
            if va != vb:
                less = va < vb
                return (-1 if less else 1) * (-1 if descending else 1)
        return -1 if a < b else (1 if a > b else 0)

    return sorted(truth, key=functools.cmp_to_key(compare))


def as_json(v: Any) -> Any:
    """A Python value as the API answers it."""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return v
    if isinstance(v, datetime):
        return v.isoformat(timespec="milliseconds")
    if isinstance(v, FileRef):
        return {"path": v.path, "size_bytes": v.size_bytes, "mime_type": v.mime_type}
    return v
