"""The exporter's folder layout as `neon import neptune` reads it and `neon export` writes it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neon.cli.exporter_layout import (
    RunFiles,
    RunWriter,
    choose_project,
    find_runs,
    parents_first,
    project_dirs,
    sanitize,
)

SCHEMA = pa.schema([("run_id", pa.string()), ("attribute_path", pa.string()), ("float_value", pa.float64())])


def test_names_are_made_file_safe_and_unique() -> None:
    assert sanitize("ws/proj").startswith("ws_proj-")
    assert sanitize("ws/proj") != sanitize("ws_proj")  # the digest keeps them apart
    assert len(sanitize("x").rsplit("-", 1)[1]) == 16  # blake2b with an 8-byte digest, in hex


def test_a_run_is_written_in_parts_and_only_complete_runs_are_found(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "r/1", SCHEMA, part_bytes=1)  # every write starts a new part
    rows = pa.table({"run_id": ["r/1"] * 3, "attribute_path": ["a", "b", "c"], "float_value": [1.0, 2.0, 3.0]},
                    schema=SCHEMA)
    for i in range(3):
        writer.write(rows.slice(i, 1))
    assert list(tmp_path.glob("*.tmp"))  # not visible as a run until finished
    assert find_runs(tmp_path).runs == []
    parts = writer.finish()
    assert [p.name for p in parts] == [f"{sanitize('r/1')}_part_{n}.parquet" for n in range(3)]
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / f"{sanitize('half')}_part_1.parquet").write_bytes(pq_bytes(rows))  # no part_0: still exporting
    found = find_runs(tmp_path)
    assert [(r.stem, r.rows, len(r.parts)) for r in found.runs] == [(sanitize("r/1"), 3, 3)]
    assert found.incomplete == [sanitize("half")]


def pq_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def test_forks_come_after_their_parents_and_roots_by_creation_time(tmp_path: Path) -> None:
    def run(run_id: str, parent: str = "", day: int = 1) -> RunFiles:
        return RunFiles(tmp_path, run_id, [], run_id=run_id, parent=parent, created=datetime(2025, 1, day, tzinfo=UTC))

    runs = [run("grandchild", "child", 1), run("child", "root-b", 2), run("root-b", day=3), run("root-a", day=4),
            run("orphan", "elsewhere", 2)]
    assert [r.run_id for r in parents_first(runs)] == ["orphan", "root-b", "child", "grandchild", "root-a"]


def test_the_project_folder_is_found_or_must_be_chosen(tmp_path: Path) -> None:
    data = tmp_path / "exports" / "data"
    (data / sanitize("ws/a")).mkdir(parents=True)
    (data / sanitize("ws/b")).mkdir()
    dirs = project_dirs(tmp_path / "exports")
    assert [d.name for d in dirs] == sorted([sanitize("ws/a"), sanitize("ws/b")])
    with pytest.raises(ValueError, match="choose one with --project"):
        choose_project(dirs, None)
    assert choose_project(dirs, "ws/b") == [data / sanitize("ws/b")]
    with pytest.raises(ValueError, match="no project 'ws/c'"):
        choose_project(dirs, "ws/c")


def test_without_pyarrow_the_commands_say_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['neon_server'] = None\n"
            "from neon.cli.main import main\n"
            f"sys.exit(main(['import', 'neptune', {str(tmp_path)!r}]) * 10 + main(['export', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 22
    assert "`neon import neptune` reads and writes Parquet and needs pyarrow: pip install pyarrow" in done.stderr
    assert "`neon export` reads and writes Parquet and needs pyarrow" in done.stderr
