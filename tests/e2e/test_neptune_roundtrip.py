"""Neptune's two clients against one spawned `neon up`, both unmodified: what neptune-scale logs, neptune-query
reads back (runs table with a filter, metrics with fork lineage, string series, histograms, buckets)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import NeonProcess, free_port
from tests.e2e.test_neptune_scale import client, finish, neptune_env

pytestmark = pytest.mark.slow

READ = textwrap.dedent('''
    import json, math
    import neptune_query as nq
    import neptune_query.runs as nq_runs
    from neptune_query.filters import Filter

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    table = nq_runs.fetch_runs_table(runs=Filter.eq("optimizer", "adam") & Filter.gt("lr", 0.0001),
                                     attributes=["lr", "batch", "optimizer"])
    metrics = nq_runs.fetch_metrics(runs=["child"], attributes=["train/loss"])
    own = nq_runs.fetch_metrics(runs=["child"], attributes=["train/loss"], lineage_to_the_root=False)
    odd = nq_runs.fetch_metrics(runs=["parent"], attributes=["train/odd"])
    notes = nq_runs.fetch_series(runs=["parent"], attributes=["notes"])
    hist = nq_runs.fetch_series(runs=["parent"], attributes=["weights"])
    buckets = nq.fetch_metric_buckets(experiments=["baseline"], y=["train/loss"], limit=4)
    print(json.dumps({
        "table": [[clean(v) for v in row] for row in table.itertuples(index=True)],
        "metrics": [[float(s), clean(float(v))] for s, v in metrics.reset_index()[["step", "train/loss"]].values],
        "own": [float(s) for s in own.reset_index()["step"]],
        "odd": [clean(float(v)) for v in odd.reset_index()["train/odd"]],
        "notes": [[float(s), v] for s, v in notes.reset_index()[["step", "notes"]].values],
        "hist": [[list(h.edges), list(h.values)] for h in hist.reset_index()["weights"]],
        "buckets": len(buckets.index),
    }))
''')


def test_what_neptune_scale_logs_neptune_query_reads(spawn: type[NeonProcess], neon_home: Path,
                                                     tmp_path: Path) -> None:
    server = spawn(neon_home, free_port())
    server.wait_healthy()
    env = neptune_env(server.home)
    out = finish(client(tmp_path, env, "full", str(tmp_path)))
    assert "Traceback" not in out, out
    script = tmp_path / "read.py"
    script.write_text(READ)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    # the runs table: only the parent has the configs the filter asks for
    assert len(read["table"]) == 1
    assert read["table"][0][0] == "parent"
    assert sorted(map(str, read["table"][0][1:])) == ["0.001", "64", "adam"]
    # the fork reads as its parent's points up to the fork step, then its own
    inherited = [[i / 4, 1 / (i + 1)] for i in range(40) if i / 4 <= 5.5]
    assert read["metrics"] == [*inherited, [6.0, 10.0], [7.0, 11.0], [8.0, 12.0]]
    assert read["own"] == [6.0, 7.0, 8.0]
    assert read["odd"] == [None if i % 10 == 3 else i * 0.5 for i in range(40)]
    assert read["notes"] == [[0.5, "note 0"], [1.5, "note 1"], [2.5, "note 2"]]
    assert read["hist"] == [[[0, 1, 2, 4], [3, 0, 7]]]
    assert read["buckets"] == 4  # the loss over its steps, in 4 buckets
    assert not math.isnan(read["metrics"][0][1])
