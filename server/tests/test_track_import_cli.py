"""`neon import neptune` over a folder in neptune-exporter's layout and `neon export` back, against a real server."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from neon.cli.main import main
from neon_server.runtime import Services
from server.tests.conftest import LiveServer
from server.tests.neptune_export import PROJECT, SCHEMA, T0, param, run_rows, sanitize, table, write_run
from server.tests.test_track_import import snapshot


def neon(server: LiveServer, key: str, *args: str) -> int:
    return main([*args, "--base-url", server.url, "--api-key", key])


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """An exporter output folder: three runs, a fork whose parent sorts (and is read) after it, a run in two
    parts, a run still being written (no part_0) and a leftover .tmp file."""
    data = tmp_path / "exports" / "data"
    write_run(data, run_rows("a-child", parent="z-parent", fork_step=2.1), parts=2)
    write_run(data, run_rows("z-parent", experiment="exp", created=T0.replace(year=2024)))
    write_run(data, run_rows("m-other"), parts=3)
    write_run(data, run_rows("unfinished"), parts=2, complete=False)
    return tmp_path / "exports"


def test_an_export_folder_is_imported_parents_first(services: Services, live_server: LiveServer,
                                                     project_key: tuple[str, str], export: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    project, key = project_key
    assert neon(live_server, key, "import", "neptune", str(export)) == 0
    out, err = capsys.readouterr()
    assert "imported 3 run(s)" in out
    assert "3 created" in out
    assert "file reference(s) imported as references" in out
    assert "unfinished" in err
    assert "no part_0" in err
    assert "importing: 3/3 runs" in err
    runs = {r.run_id: r for r in services.track.runs(project)}
    assert sorted(runs) == ["a-child", "m-other", "z-parent"]
    assert (runs["a-child"].fork_parent_run_id, runs["a-child"].fork_step) == ("z-parent", 2.1)
    assert runs["z-parent"].experiment_name == "exp"
    assert services.track.series(project, "m-other")["train/loss"].count == 7  # all three parts

    before = snapshot(services, project)
    assert neon(live_server, key, "import", "neptune", str(export / "data")) == 0
    assert "0 created, 3 already there" in capsys.readouterr().out
    assert snapshot(services, project) == before


def test_a_bad_file_is_named_with_its_row(services: Services, live_server: LiveServer,
                                          project_key: tuple[str, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    project, key = project_key
    data = tmp_path / "data"
    rows = run_rows("r")
    rows.insert(3, {**param("r", "config/x", "string", "?"), "attribute_type": "tensor"})
    (path,) = write_run(data, rows)
    assert neon(live_server, key, "import", "neptune", str(data)) == 1
    out = capsys.readouterr().out
    assert f"{path}: row 3, column attribute_type: unknown attribute type 'tensor'" in out
    assert services.track.series(project, "r")["train/loss"].count == 7  # the good rows are in

    other_shape = tmp_path / "other" / f"{sanitize('t')}_part_0.parquet"
    other_shape.parent.mkdir()
    pq.write_table(table(run_rows("t")).drop_columns(["step"]), other_shape)
    assert neon(live_server, key, "import", "neptune", str(other_shape.parent)) == 1
    assert f"{other_shape}: column 'step' is missing" in capsys.readouterr().out

    broken = data / sanitize(PROJECT) / f"{sanitize('s')}_part_0.parquet"
    broken.write_bytes(b"PAR1 not really")
    assert neon(live_server, key, "import", "neptune", str(data)) == 2
    assert f"{broken}: not a readable Parquet file" in capsys.readouterr().err


def test_several_projects_need_a_choice(live_server: LiveServer, key_of: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "data", run_rows("r"))
    (tmp_path / "data" / "other-project").mkdir()
    assert neon(live_server, key_of, "import", "neptune", str(tmp_path)) == 2
    assert "choose one with --project" in capsys.readouterr().err
    assert neon(live_server, key_of, "import", "neptune", str(tmp_path), "--project", PROJECT) == 0


@pytest.fixture
def key_of(project_key: tuple[str, str]) -> str:
    return project_key[1]


def test_export_then_import_into_another_project_gives_the_same_data(
        services: Services, live_server: LiveServer, project_key: tuple[str, str], export: Path,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, key = project_key
    assert neon(live_server, key, "import", "neptune", str(export)) == 0
    out_dir = tmp_path / "neon-export"
    assert neon(live_server, key, "export", str(out_dir)) == 0
    assert "exported 3 run(s)" in capsys.readouterr().out
    name = services.projects.get(project).name
    parts = sorted((out_dir / sanitize(name)).iterdir())
    assert [p.name for p in parts] == sorted(f"{sanitize(r)}_part_0.parquet" for r in ("a-child", "m-other",
                                                                                        "z-parent"))
    assert pq.read_schema(parts[0]).remove_metadata() == SCHEMA

    other = services.projects.create("copy")
    _key, other_key = services.keys.create(other.id)
    assert neon(live_server, other_key, "import", "neptune", str(out_dir)) == 0
    assert snapshot(services, other.id) == snapshot(services, project)

    assert neon(live_server, key, "export", str(tmp_path / "one"), "--run", "z-parent") == 0
    assert len(list((tmp_path / "one" / sanitize(name)).iterdir())) == 1
