"""Runs written through `Services.track` for the neptune-query tests, and what reads them: a live server, the
client's environment, raw protocol calls.

Five runs: base-1 and base-2 (experiment exp-a; base-2 is the newer, so the head), other-1 (exp-b), fork-1
(exp-c, forked from base-1 at step 2) and loner (no experiment). base-1 has configs of every type, metrics with
fractional steps and a NaN, a preview point, a string series, histograms and a file series.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import neptune_query as nq
import pytest
from neptune_api.proto.neptune_pb.api.v1.model.leaderboard_entries_pb2 import (
    ProtoLeaderboardEntriesSearchResultDTO,
)
from neptune_query.internal import client as nq_client
from neptune_query.internal.context import set_project

from neon_server.domain.track import FileRef, ForkPoint, Histogram, RunCreate, RunWrites
from neon_server.runtime import Services

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 2, 28, 8, 30, 15, 250000, tzinfo=UTC)
LOSS_STEPS = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
FORK_STEPS = [2.5, 3.0, 3.5]


def loss(run: str, step: float) -> float:
    if run == "base-1" and step == 1.5:
        return math.nan
    return {"base-1": 1.0, "base-2": 2.0, "other-1": 3.0, "fork-1": 10.0}[run] / (1 + step)


def ms(step: float) -> float:
    return (T0 + timedelta(seconds=step * 10)).timestamp() * 1000


@dataclass
class Setup:
    url: str
    project: str  # workspace/project as neptune-query names it
    key: str
    services: Services
    project_id: str


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def write_runs(services: Services, project_id: str) -> None:
    track = services.track
    creates = [RunCreate("base-1", "exp-a", T0), RunCreate("base-2", "exp-a", T0 + timedelta(minutes=1)),
               RunCreate("other-1", "exp-b", T0 + timedelta(minutes=2)),
               RunCreate("fork-1", "exp-c", T0 + timedelta(minutes=3), fork=ForkPoint("base-1", 2.0)),
               RunCreate("loner", "", T0 + timedelta(minutes=4))]
    for create in creates:
        outcome, _ = run(track.create_run(project_id, create))
        assert outcome.ok, outcome
    configs: dict[str, dict[str, Any]] = {
        "base-1": {"config/lr": 0.001, "config/epochs": 10, "config/amp": True, "config/name": "resnet",
                   "config/start": START, "config/labels": frozenset({"x", "y"}),
                   "config/weights": FileRef("w/base-1.bin", 1234, "application/octet-stream")},
        "base-2": {"config/lr": 0.01, "config/epochs": 20, "config/amp": False, "config/name": "vit"},
        "other-1": {"config/lr": 0.1, "config/epochs": 5, "config/name": "resnet-big"},
        "fork-1": {"config/lr": 0.0005, "config/name": "resnet"},
        "loner": {"config/lr": 0.2},
    }
    tags = {"base-1": ["tag-a", "best"], "base-2": ["tag-b"], "other-1": ["tag-a"], "fork-1": ["tag-c"]}
    for run_id, values in configs.items():
        writes = RunWrites(run_id)
        for path, value in values.items():
            writes.set_attribute(path, value, ms(0))
        writes.set_changes += [("sys/tags", tag, True) for tag in tags.get(run_id, [])]
        steps = FORK_STEPS if run_id == "fork-1" else [] if run_id == "loner" else LOSS_STEPS
        for step in steps:
            writes.add_float("loss", step, ms(step), loss(run_id, step))
        if run_id == "base-1":
            for step in LOSS_STEPS:
                writes.add_float("acc", step, ms(step), step / 10)
                writes.add_string("logs", step, ms(step), f"line {step} ✓ \"quoted\"")
            writes.add_float("acc", 3.5, ms(3.5), 0.99, preview=True, ratio=0.5)  # not committed yet
            writes.add_histogram("hist", 1, ms(1), Histogram((0.0, 1.0, 2.0), (3.0, 4.0)))
            writes.add_histogram("hist", 2, ms(2), Histogram((0.0, 0.5, 1.0), (0.25, 0.75), "densities"))
            writes.add_file("samples", 1, ms(1), FileRef("s/1.png", 10, "image/png"))
            writes.add_file("samples", 2, ms(2), FileRef("s/2.png", 20, "image/png"))
        if run_id == "base-2":
            for step, value in zip((1, 2, 3, 4), (math.inf, -math.inf, math.nan, 0.5), strict=True):
                writes.add_float("grad", step, ms(step), value)
        if run_id == "fork-1":
            writes.add_string("logs", 3.0, ms(3.0), "fork line")
        outcome = run(track.write(project_id, writes))
        assert outcome.ok, outcome
        assert not outcome.rejections, outcome


def token_for(url: str, key: str) -> str:
    return base64.b64encode(json.dumps({"api_address": url, "api_url": url, "api_key": key}).encode()).decode()


def reading(live_server: Any, services: Services, project_key: tuple[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """The body of each test module's `setup` fixture: the runs written, neptune-query pointed at the server."""
    project_id, key = project_key
    write_runs(services, project_id)
    project = f"some-workspace/{services.projects.get(project_id).name}"
    monkeypatch.setenv("NEPTUNE_API_TOKEN", token_for(live_server.url, key))
    monkeypatch.setenv("NEPTUNE_PROJECT", project)
    monkeypatch.setenv("NEPTUNE_QUERY_RETRY_SOFT_TIMEOUT", "5")
    nq.set_api_token(token_for(live_server.url, key))
    set_project(project)
    yield Setup(live_server.url, project, key, services, project_id)
    nq_client.clear_cache()


def rows(df: Any) -> list[dict[str, Any]]:
    return df.reset_index().to_dict("records")  # type: ignore[no-any-return]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def python_buckets(points: list[tuple[float, float]], n: int) -> dict[int, dict[str, Any]]:
    """The same bucketing in plain Python: bucket 0 = (-inf, a], then n - 1 equal buckets up to b."""
    a, b = min(s for s, _ in points), max(s for s, _ in points)
    width = (b - a) / (n - 1)
    out: dict[int, dict[str, Any]] = {}
    for step, value in sorted(points):
        index = 0 if step <= a else min(n - 1, math.ceil((step - a) / width))
        bucket = out.setdefault(index, {"finite": [], "nan": 0, "pos": 0, "neg": 0})
        if math.isnan(value):
            bucket["nan"] += 1
        elif math.isinf(value):
            bucket["pos" if value > 0 else "neg"] += 1
        else:
            bucket["finite"].append((step, value))
    return out


def post(setup: Setup, path: str, body: dict[str, Any], **params: str) -> httpx.Response:
    return httpx.post(setup.url + path, json=body, params=params,
                      headers={"Authorization": f"Bearer {setup.key}"}, timeout=30)


SEARCH = "/api/leaderboard/v1/proto/leaderboard/entries/search/"


def search_ids(setup: Setup, body: dict[str, Any]) -> list[str]:
    answer = post(setup, SEARCH, {"attributeFilters": [{"path": "sys/custom_run_id"}], **body},
                  projectIdentifier=setup.project, type="run")
    assert answer.status_code == 200, answer.text
    result = ProtoLeaderboardEntriesSearchResultDTO.FromString(answer.content)
    return [a.string_properties.value for e in result.entries for a in e.attributes]


