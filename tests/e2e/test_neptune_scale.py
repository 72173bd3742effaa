"""The unmodified neptune-scale 0.30 client, in its own process, logging to a spawned `neon up`; what is stored
is read back through Track's read API and compared with what was logged."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import NEON, NeonProcess, free_port

pytestmark = pytest.mark.slow

# The training script, run as `python script.py MODE`; NEPTUNE_API_TOKEN / NEPTUNE_PROJECT come from the env.
SCRIPT = textwrap.dedent('''
    import math, sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    from neptune_scale import Run
    from neptune_scale.types import Histogram

    def full(folder):
        data = Path(folder) / "weights.bin"
        data.write_bytes(bytes(range(256)) * 40)
        with Run(run_id="parent", experiment_name="baseline") as run:
            run.log_configs({"lr": 0.001, "batch": 64, "optimizer": "adam", "model/deep": True,
                             "started": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                             "datasets": ["train", "val"]})
            for i in range(40):
                run.log_metrics({"train/loss": 1 / (i + 1), "train/odd": math.nan if i % 10 == 3 else i * 0.5},
                                step=i / 4)
            for i in range(3):
                run.log_string_series({"notes": f"note {i}"}, step=i + 0.5)
            run.log_histograms({"weights": Histogram(bin_edges=[0, 1, 2, 4], counts=[3, 0, 7])}, step=1)
            run.add_tags(["keep", "drop", "also"])
            run.remove_tags(["drop"])
            run.add_tags(["group-a"], group_tags=True)
            run.assign_files({"artifacts/weights": str(data)})
            run.log_files({"samples": b"sample bytes"}, step=2)
            print("a console line")
        with Run(run_id="child", fork_run_id="parent", fork_step=5.5) as run:
            for i in range(3):
                run.log_metrics({"train/loss": 10.0 + i}, step=6 + i)

    def stream(steps):
        with Run(run_id="streamed") as run:
            for step in range(int(steps)):
                run.log_metrics({f"m{k}": step * 10 + k for k in range(5)}, step=step)
                time.sleep(0.01)

    def slow(seconds):
        with Run(run_id="slow") as run:
            end, step = time.monotonic() + float(seconds), 0
            while time.monotonic() < end:
                run.log_metrics({"m": float(step)}, step=step)
                step += 1
                time.sleep(0.25)
            run.log_configs({"steps": step})

    def plain(oversized=""):
        with Run(run_id="plain") as run:
            run.log_metrics({"x": 1.0}, step=1)
            if oversized:
                run.log_configs({"huge": "h" * int(oversized), "small": "kept"})

    if __name__ == "__main__":
        {"full": full, "stream": stream, "slow": slow, "plain": plain}[sys.argv[1]](*sys.argv[2:])
''')


def neptune_env(home: Path, *extra: str) -> dict[str, str]:
    """The environment `eval "$(neon neptune token)"` gives, run against the server that saved credentials in
    `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "NEPTUNE_"))}
    env["NEON_HOME"] = str(home)
    done = subprocess.run([NEON, "neptune", "token", *extra], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    assert {"NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT"} <= set(env)
    return env


def client(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> str:
    """Wait for the script to end (its `close()` returned) and give its output."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"neptune-scale did not finish:\n{out}") from None
    return out


class Reader:
    def __init__(self, server: NeonProcess) -> None:
        key = json.loads((server.home / "credentials.json").read_text())["api_key"]
        self.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/api/track/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def points(self, run_id: str, path: str, kind: str = "float") -> list[dict[str, Any]]:
        answer = self.http.get(f"/api/track/runs/{run_id}/points", params={"path": path, "kind": kind})
        assert answer.status_code == 200, answer.text
        points: list[dict[str, Any]] = answer.json()["points"]
        return points


@pytest.fixture
def server(spawn: type[NeonProcess], neon_home: Path) -> NeonProcess:
    process = spawn(neon_home, free_port())
    process.wait_healthy()
    return process


def test_what_neptune_scale_logs_is_stored(spawn: type[NeonProcess], neon_home: Path, tmp_path: Path) -> None:
    # parts of 4 KiB: the 10 KiB file goes up in three parts, the small one in one PUT
    server = spawn(neon_home, free_port(), env={"NEON_NEPTUNE_FILE_PART_BYTES": "4096"})
    server.wait_healthy()
    out = finish(client(tmp_path, neptune_env(server.home), "full", str(tmp_path)))
    assert "Traceback" not in out, out
    read = Reader(server)
    parent = read.run("parent")
    attributes = {path: a["value"] for path, a in parent["attributes"].items()}
    assert parent["experiment_name"] == "baseline"
    assert attributes["lr"] == 0.001
    assert attributes["batch"] == 64
    assert attributes["optimizer"] == "adam"
    assert attributes["model/deep"] is True
    assert attributes["started"] == "2025-01-02T03:04:05.000+00:00"
    assert sorted(attributes["datasets"]) == ["train", "val"]
    assert sorted(attributes["sys/tags"]) == ["also", "keep"]
    assert attributes["sys/group_tags"] == ["group-a"]

    loss = read.points("parent", "train/loss")
    assert [p["step"] for p in loss] == [i / 4 for i in range(40)]
    assert [p["value"] for p in loss] == [1 / (i + 1) for i in range(40)]
    odd = [p["value"] for p in read.points("parent", "train/odd")]
    assert odd == ["NaN" if i % 10 == 3 else i * 0.5 for i in range(40)]
    assert parent["series"]["train/odd"]["nan_count"] == 4
    notes = read.points("parent", "notes", "string")
    assert [(p["step"], p["value"]) for p in notes] == [(0.5, "note 0"), (1.5, "note 1"), (2.5, "note 2")]
    (histogram,) = read.points("parent", "weights", "histogram")
    assert histogram["value"]["edges"] == [0, 1, 2, 4]
    assert histogram["value"]["values"] == [3, 0, 7]
    assert any(p["value"] == "a console line" for p in read.points("parent", "runtime/stdout", "string"))

    # files: the references are attributes / series points, the bytes are in NEON_HOME/track-files
    files = server.home / "track-files"
    weights = attributes["artifacts/weights"]
    assert weights["size_bytes"] == 10240
    stored = list(files.glob(f"*/{weights['path']}"))
    assert len(stored) == 1
    assert stored[0].read_bytes() == bytes(range(256)) * 40
    assert list(files.glob(".uploads/*"))  # it went up in parts …
    assert not list(files.glob(".uploads/*/*"))  # … and the upload was completed
    (sample,) = read.points("parent", "samples", "file")
    assert next(files.glob(f"*/{sample['value']['path']}")).read_bytes() == b"sample bytes"

    child = read.run("child")
    assert (child["fork_parent_run_id"], child["fork_step"]) == ("parent", 5.5)
    assert [(p["step"], p["value"]) for p in read.points("child", "train/loss")] == [(6, 10), (7, 11), (8, 12)]

    # running it again resumes both runs: nothing doubled, the creation time kept
    again = finish(client(tmp_path, neptune_env(server.home), "full", str(tmp_path)))
    assert "Traceback" not in again, again
    assert read.run("parent")["created_at"] == parent["created_at"]
    assert len(read.points("parent", "train/loss")) == 40
    assert read.run("parent")["series"]["train/loss"]["count"] == 40


def test_kill_9_while_logging_loses_nothing_and_doubles_nothing(spawn: type[NeonProcess], neon_home: Path,
                                                                 tmp_path: Path) -> None:
    port = free_port()
    first = spawn(neon_home, port)
    first.wait_healthy()
    steps = 400
    proc = client(tmp_path, neptune_env(neon_home), "stream", str(steps))
    read = Reader(first)
    deadline = time.monotonic() + 120
    while True:  # until some of the run is stored
        answer = read.http.get("/api/track/runs/streamed")
        if answer.status_code == 200 and answer.json()["series"].get("m0", {}).get("count", 0) > 0:
            break
        assert time.monotonic() < deadline, "nothing was stored"
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    first.stop(signal.SIGKILL)
    assert proc.poll() is None, "the client finished before the server was killed: log more steps"
    second = spawn(neon_home, port)
    second.wait_healthy()
    out = finish(proc)
    assert proc.returncode == 0, out
    read = Reader(second)
    run = read.run("streamed")
    for k in range(5):
        points = read.points("streamed", f"m{k}")
        assert [p["step"] for p in points] == list(range(steps)), k
        assert [p["value"] for p in points] == [step * 10 + k for step in range(steps)]
        assert run["series"][f"m{k}"]["count"] == steps


def test_wrong_project_or_key_stops_the_client_and_stores_nothing(server: NeonProcess, tmp_path: Path) -> None:
    env = neptune_env(server.home)
    elsewhere = finish(client(tmp_path, {**env, "NEPTUNE_PROJECT": "neon/not-this-project"}, "plain"))
    assert "NeptuneProjectNotFound" in elsewhere
    key = json.loads((server.home / "credentials.json").read_text())["api_key"]
    other = subprocess.run([NEON, "projects", "create", "other"], capture_output=True, text=True, check=False,
                           env={**os.environ, "NEON_HOME": str(server.home)})
    assert other.returncode == 0, other.stderr
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("NEON_")} | {"NEON_HOME": str(server.home)}
    refused = subprocess.run([NEON, "neptune", "token", "--project", "other"], capture_output=True, text=True,
                             check=False, env=plain_env)
    assert refused.returncode == 2
    assert "belongs to project 'default', not 'other'" in refused.stderr
    theirs = neptune_env(server.home, "--project", "other", "--create-key")
    assert theirs["NEPTUNE_PROJECT"] == "neon/other"
    # a token of project `other` naming the default project
    crossed = finish(client(tmp_path, {**theirs, "NEPTUNE_PROJECT": env["NEPTUNE_PROJECT"]}, "plain"))
    assert "NeptuneProjectNotFound" in crossed
    payload = json.loads(base64.b64decode(env["NEPTUNE_API_TOKEN"]))
    payload["api_key"] = key[:-4] + "AAAA"
    rejected = finish(client(tmp_path, {**env, "NEPTUNE_API_TOKEN": base64.b64encode(
        json.dumps(payload).encode()).decode()}, "plain"))
    assert "NeptuneInvalidCredentialsError" in rejected, rejected
    assert Reader(server).http.get("/api/track/runs").json()["runs"] == []
    # and the right project still works
    ok = finish(client(tmp_path, theirs, "plain"))
    assert "Traceback" not in ok, ok
    their_key = json.loads(base64.b64decode(theirs["NEPTUNE_API_TOKEN"]))["api_key"]
    runs = httpx.get(f"{server.url}/api/track/runs", headers={"Authorization": f"Bearer {their_key}"}).json()
    assert [r["run_id"] for r in runs["runs"]] == ["plain"]


def test_a_run_longer_than_its_access_token_refreshes_it(spawn: type[NeonProcess], neon_home: Path,
                                                         tmp_path: Path) -> None:
    server = spawn(neon_home, free_port(), env={"NEON_NEPTUNE_TOKEN_SECONDS": "60", "NEON_LOG_LEVEL": "debug"})
    server.wait_healthy()
    out = finish(client(tmp_path, neptune_env(neon_home), "slow", "65"))
    assert "Traceback" not in out, out
    # every request is checked against `exp`: logging past the first token's minute needed a refreshed one
    assert "/api/neptune/oauth/protocol/openid-connect/token" in server.stderr + server.stdout
    read = Reader(server)
    steps = read.run("slow")["attributes"]["steps"]["value"]
    assert steps > 200
    assert [p["value"] for p in read.points("slow", "m")] == [float(i) for i in range(steps)]


def test_an_oversized_value_is_refused_and_the_rest_kept(server: NeonProcess, tmp_path: Path) -> None:
    out = finish(client(tmp_path, neptune_env(server.home), "plain", str(1_500_000)))
    assert "Traceback" not in out, out
    assert "NeptuneStringValueExceedsSizeLimit" in out, out  # the error the client logs for code 36
    run = Reader(server).run("plain")
    assert run["attributes"]["small"]["value"] == "kept"
    assert "huge" not in run["attributes"]
    assert run["series"]["x"]["count"] == 1
