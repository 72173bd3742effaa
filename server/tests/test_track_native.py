"""`neon.track` against a real server over HTTP (in this process, real chDB and SQLite/PostgreSQL): every call
lands in the store as logged; forks and resumes; the on-disk buffer when the server is down, also sent by a
later process; bad bodies get a clear 4xx."""

from __future__ import annotations

import gzip
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import uvicorn

from neon.track import File, Histogram, Run, TrackError, sync
from neon_server.app import create_app
from neon_server.runtime import Services


@pytest.fixture
def buffer(tmp_path: Path) -> Path:
    return tmp_path / "buffer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer(Protocol):
    url: str


class ServerOn:
    """The app served over HTTP in this process on a chosen port (for a client that logged before it was up)."""

    def __init__(self, services: Services, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_config=None, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerOn:
        self.thread.start()
        while not self.server.started:  # uvicorn sets it once it listens
            if not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def server_on(services: Services, port: int) -> ServerOn:
    return ServerOn(services, port)


def points(services: Services, project: str, run_id: str, path: str, kind: str = "float") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = services.track.points(kind, project, run_id, path).to_pylist()
    return rows


def left_in(buffer: Path, run_id: str = "") -> list[Path]:
    """Items still in the buffer (of one run, when given)."""
    return sorted(p for p in buffer.rglob("*") if p.suffix in (".ntrk", ".json") and p.name != "run.json"
                  and p.relative_to(buffer).parts[0].startswith(f"{run_id}-" if run_id else ""))


def test_every_call_lands_in_the_store_as_logged(services: Services, live_server: LiveServer,
                                                  project_key: tuple[str, str], buffer: Path,
                                                  tmp_path: Path) -> None:
    project, key = project_key
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01weights")
    when = datetime(2026, 3, 5, 12, 30, tzinfo=UTC)
    with Run("r1", experiment_name="exp", base_url=live_server.url, api_key=key, buffer_dir=buffer) as run:
        run.log_configs({"lr": 0.001, "epochs": 10, "amp": True, "optimizer": {"name": "adam", "beta": 0.9},
                         "start": when, "labels": ["b", "a"]})
        run.log_metrics({"loss": 2.0, "acc": math.nan}, step=0.5, timestamp=when)
        run.log_metrics({"loss": math.inf, "acc": 0.25}, step=1.25)
        run.log_metrics({"loss": -math.inf}, step=2)
        run.log_metrics({"val": 0.5}, step=3, preview=True, preview_completion=0.4)
        run.log_string_series({"stdout": "epoch 1"}, step=1)
        run.log_histograms({"grads": Histogram([0.0, 1.0, 3.0], counts=[5, 7])}, step=1)
        run.add_tags(["baseline", "gpu", "temp"])
        run.remove_tags(["temp"])
        run.add_tags(["team-a"], group_tags=True)
        run.assign_files({"model/weights": weights, "model/notes": File(b"hello", mime_type="text/plain")})
        run.log_files({"samples": b"img"}, step=2)
    attrs = services.track.attributes(project, "r1")
    assert attrs["lr"] == ("float", 0.001)
    assert attrs["epochs"] == ("int", 10)
    assert attrs["amp"] == ("bool", True)
    assert attrs["optimizer/name"] == ("string", "adam")
    assert attrs["optimizer/beta"] == ("float", 0.9)
    assert attrs["start"] == ("datetime", when)
    assert attrs["labels"] == ("stringSet", ["a", "b"])
    assert attrs["sys/tags"] == ("stringSet", ["baseline", "gpu"])
    assert attrs["sys/group_tags"] == ("stringSet", ["team-a"])
    assert attrs["sys/experiment/name"] == ("string", "exp")
    loss = points(services, project, "r1", "loss")
    assert [(p["step"], p["value"]) for p in loss] == [(0.5, 2.0), (1.25, math.inf), (2.0, -math.inf)]
    assert loss[0]["time_ms"] == when.timestamp() * 1000
    acc = points(services, project, "r1", "acc")
    assert math.isnan(acc[0]["value"])  # type: ignore[arg-type]
    assert acc[1]["value"] == 0.25
    assert [(p["value"], p["preview"], round(p["ratio"], 3)) for p in points(services, project, "r1", "val")] == [  # type: ignore[call-overload]
        (0.5, True, 0.4)]
    summary = services.track.series(project, "r1")["loss"]
    assert (summary.count, summary.posinf_count, summary.neginf_count) == (3, 1, 1)
    assert [p["value"] for p in points(services, project, "r1", "stdout", "string")] == ["epoch 1"]
    (hist,) = points(services, project, "r1", "grads", "histogram")
    assert (hist["bin_edges"], hist["bin_values"], hist["kind"]) == ([0.0, 1.0, 3.0], [5.0, 7.0], "counts")
    _, ref = attrs["model/weights"]
    assert ref["size_bytes"] == 9
    client = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"})
    assert client.get(f"/api/track/files/{ref['path']}").content == b"\x00\x01weights"
    assert attrs["model/notes"][1]["mime_type"] == "text/plain"
    (sample,) = points(services, project, "r1", "samples", "file")
    assert sample["step"] == 2.0
    assert client.get(f"/api/track/files/{sample['file_path']}").content == b"img"
    assert left_in(buffer) == []


def test_a_relogged_step_replaces_its_point(services: Services, live_server: LiveServer,
                                            project_key: tuple[str, str], buffer: Path) -> None:
    project, key = project_key
    with Run("r", base_url=live_server.url, api_key=key, buffer_dir=buffer) as run:
        run.log_metrics({"loss": 1.0}, step=1)
        run.wait_for_submission()
        run.log_metrics({"loss": 0.5}, step=1)
        run.log_metrics({"loss": 0.25}, step=2)
    assert [(p["step"], p["value"]) for p in points(services, project, "r", "loss")] == [(1.0, 0.5), (2.0, 0.25)]


def test_forks_and_resumes(services: Services, live_server: LiveServer, project_key: tuple[str, str],
                           buffer: Path) -> None:
    project, key = project_key
    common = {"base_url": live_server.url, "api_key": key, "buffer_dir": buffer}
    with Run("parent", **common) as parent:  # type: ignore[arg-type]
        parent.log_metrics({"loss": 1.0}, step=1)
    with Run("child", fork_run_id="parent", fork_step=1, **common) as child:  # type: ignore[arg-type]
        child.log_metrics({"loss": 0.5}, step=2)
    child_run = services.track.run(project, "child")
    assert (child_run.fork_parent_run_id, child_run.fork_step) == ("parent", 1.0)
    assert services.track.attributes(project, "child")["sys/forking/parent"] == ("string", "parent")
    with Run("parent", resume=True, **common) as again:  # type: ignore[arg-type]
        again.log_metrics({"loss": 0.75}, step=2)
    assert [p["step"] for p in points(services, project, "parent", "loss")] == [1.0, 2.0]
    assert services.track.run(project, "parent").short_id == "NEON-1"
    ghost = Run("ghost", resume=True, **common)  # type: ignore[arg-type]
    ghost.log_metrics({"loss": 1.0}, step=1)
    with pytest.raises(TrackError, match="'ghost' does not exist"):
        ghost.close()
    assert len(left_in(buffer)) == 1  # kept for a later sync


def test_values_are_checked_where_they_are_logged(live_server: LiveServer, project_key: tuple[str, str],
                                                  buffer: Path) -> None:
    with Run("r", base_url=live_server.url, api_key=project_key[1], buffer_dir=buffer) as run:
        with pytest.raises(TypeError, match="the value of 'b' is not a number"):
            run.log_metrics({"a": 1.0, "b": "x"}, step=1)  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="step must be a number from 0"):
            run.log_metrics({"a": 1.0}, step=-1)
        with pytest.raises(ValueError, match="step must be a number from 0"):
            run.log_metrics({"a": 1.0}, step=math.nan)
        with pytest.raises(ValueError, match="attribute paths are non-empty strings"):
            run.log_metrics({"": 1.0}, step=1)
        with pytest.raises(TypeError, match="'cfg' is a object"):
            run.log_configs({"cfg": object()})
        with pytest.raises(ValueError, match="increasing bin edges"):
            run.log_histograms({"h": Histogram([1, 0], counts=[1])}, step=1)
        run.log_metrics({"a": 1.0}, step=1)  # what was good before the refusals is still logged
    with pytest.raises(TrackError, match="is closed"):
        run.log_metrics({"a": 2.0}, step=2)


def test_logging_with_the_server_down_arrives_once_it_is_up(services: Services, project_key: tuple[str, str],
                                                            buffer: Path) -> None:
    project, key = project_key
    port = free_port()
    run = Run("offline", base_url=f"http://127.0.0.1:{port}", api_key=key, buffer_dir=buffer, max_backoff=0.2,
              flush_interval=0.05)
    for step in range(1000):
        run.log_metrics({"loss": 1 / (step + 1), "acc": step / 1000}, step=step)
    run.log_configs({"lr": 0.1})
    assert run.wait_for_submission(timeout=0.5) is False
    assert left_in(buffer)  # on disk while the server is down
    with server_on(services, port):
        assert run.close() is True
        summaries = services.track.series(project, "offline")
        assert (summaries["loss"].count, summaries["acc"].count) == (1000, 1000)
        assert len(points(services, project, "offline", "loss")) == 1000
        assert services.track.attributes(project, "offline")["lr"] == ("float", 0.1)
    assert left_in(buffer) == []


LEFTOVER = textwrap.dedent("""
    import sys
    from neon.track import Run
    run = Run("left", experiment_name="exp", base_url=sys.argv[1], api_key="k", max_backoff=0.1)
    for step in range(500):
        run.log_metrics({"loss": float(step)}, step=step)
    run.log_string_series({"stdout": "bye"}, step=499)
    assert run.close(timeout=0.3) is False  # nobody listens: everything stays in the buffer
    forgotten = Run("unclosed", base_url=sys.argv[1], api_key="k", flush_interval=3600)
    forgotten.log_metrics({"loss": 1.0}, step=1)  # never closed: the interpreter's exit writes it to the buffer
""")


@pytest.fixture
def leftover(project_key: tuple[str, str], buffer: Path) -> int:
    """A finished process that logged run 'left' to a port where nothing listened: its buffer is left."""
    port = free_port()
    env = {**os.environ, "NEON_TRACK_BUFFER": str(buffer)}
    subprocess.run([sys.executable, "-c", LEFTOVER, f"http://127.0.0.1:{port}"], env=env, check=True, timeout=60)
    assert left_in(buffer)
    return port


@pytest.mark.slow
def test_a_later_process_resumes_the_run_and_sends_what_was_left(services: Services, project_key: tuple[str, str],
                                                                 buffer: Path, leftover: int) -> None:
    project, key = project_key
    with server_on(services, leftover) as live, Run("left", resume=True, base_url=live.url, api_key=key,
                                                    buffer_dir=buffer) as run:
        run.log_metrics({"loss": 500.0}, step=500)
    assert [p["value"] for p in points(services, project, "left", "loss")] == [float(s) for s in range(501)]
    assert services.track.attributes(project, "left")["sys/experiment/name"] == ("string", "exp")
    assert [p["value"] for p in points(services, project, "left", "stdout", "string")] == ["bye"]
    assert left_in(buffer, "left") == []
    assert left_in(buffer, "unclosed")  # another run's leftovers wait for their own run, or a sync


@pytest.mark.slow
def test_neon_track_sync_sends_what_was_left(services: Services, project_key: tuple[str, str], buffer: Path,
                                             leftover: int) -> None:
    project, key = project_key
    with server_on(services, leftover):
        result = sync(buffer, api_key=key)
        assert (result.left, result.refused) == (0, 0)
        assert services.track.series(project, "left")["loss"].count == 500
        assert [p["value"] for p in points(services, project, "unclosed", "loss")] == [1.0]
        again = subprocess.run([sys.executable, "-m", "neon.cli.main", "track", "sync", "--buffer", str(buffer),
                                "--api-key", key], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "sent 0 item(s)" in again.stdout
    assert len(points(services, project, "left", "loss")) == 500


def test_bad_requests_get_a_clear_4xx(services: Services, live_server: LiveServer,
                                      project_key: tuple[str, str]) -> None:
    project, key = project_key
    client = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"})
    native = {"Content-Type": "application/vnd.neon.track"}
    assert client.post("/api/track/runs", json={"run_id": "r"}).status_code == 201
    answer = client.post("/api/track/ingest", content=b"garbage!garbage!", headers=native)
    assert answer.status_code == 400
    assert "does not start with b'NTRK'" in answer.json()["error"]["message"]
    answer = client.post("/api/track/ingest", content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 415
    assert "application/vnd.neon.track" in answer.json()["error"]["message"]
    assert client.post("/api/track/ingest", content=gzip.compress(b"NTRK"), headers={
        **native, "Content-Encoding": "gzip"}).status_code == 400
    from neon.track._format import Batch, encode

    batch = Batch()
    batch.assign += [["sys/id", "forged", 0.0], ["ok", 1, 0.0]]
    answer = client.post("/api/track/ingest", content=gzip.compress(encode("r", batch)[0]),
                         headers={**native, "Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    assert [r["code"] for r in answer.json()["rejections"]] == ["FIELD_PATH_NON_WRITABLE"]
    assert services.track.attributes(project, "r")["ok"] == ("int", 1)
    answer = client.post("/api/track/ingest", content=encode("ghost", batch)[0], headers=native)
    assert (answer.status_code, answer.json()["error"]["track_code"]) == (404, "RUN_NOT_FOUND")
    answer = client.post("/api/track/runs", json={"run_id": "c", "fork": {"run_id": "nope", "step": 1}})
    assert (answer.status_code, answer.json()["error"]["track_code"]) == (404, "RUN_FORK_PARENT_NOT_FOUND")
    assert client.post("/api/track/runs", json={"run_id": "a/b"}).status_code == 422
    answer = client.put("/api/track/files/a/%2E%2E/b", content=b"dots")  # no way out of the project's folder
    assert answer.status_code == 422
    assert "'..'" in answer.json()["error"]["message"]
    files = services.settings.home / "track-files"
    assert not [p for p in files.rglob("b") if p.is_file()]
    assert client.put("/api/track/files/a/.hidden/b", content=b"dots").status_code == 201
    assert files.joinpath(project, "a", ".hidden", "b").read_bytes() == b"dots"
    answer = client.put("/api/track/files/a%20b", content=b"x")
    assert answer.status_code == 422
    assert "key" in answer.json()["error"]["message"]
    assert httpx.post(f"{live_server.url}/api/track/ingest", content=b"", headers=native).status_code == 401


def test_terminate_keeps_what_was_not_sent_for_a_sync(services: Services, live_server: LiveServer,
                                                      project_key: tuple[str, str], buffer: Path) -> None:
    project, key = project_key
    run = Run("t", base_url=live_server.url, api_key=key, buffer_dir=buffer, flush_interval=3600)
    run.log_metrics({"loss": 1.0}, step=1)
    run.terminate()  # the point was never taken by the sender: it is in the buffer now
    assert len(left_in(buffer, "t")) == 1
    assert sync(buffer, api_key=key).sent == 1
    assert [p["value"] for p in points(services, project, "t", "loss")] == [1.0]


def test_a_step_logged_twice_in_one_batch_keeps_the_last_value(services: Services, live_server: LiveServer,
                                                               project_key: tuple[str, str], buffer: Path) -> None:
    project, key = project_key
    with Run("twice", base_url=live_server.url, api_key=key, buffer_dir=buffer, flush_interval=3600) as run:
        for value in (1.0, 2.0, 3.0):  # one body: nothing is sent before close()
            run.log_metrics({"loss": value, "acc": value / 10}, step=1)
        run.log_metrics({"loss": 4.0}, step=2)
    assert [(p["step"], p["value"]) for p in points(services, project, "twice", "loss")] == [(1.0, 3.0), (2.0, 4.0)]
    assert [p["value"] for p in points(services, project, "twice", "acc")] == [0.3]
    summary = services.track.series(project, "twice")["loss"]
    assert (summary.count, summary.last_value, summary.max_value) == (2, 4.0, 4.0)
