"""neptune-exporter's directory layout: finding complete runs to import, ordering them, writing runs back.

    <data>/<S(project)>/<S(run_id)>_part_<n>.parquet       S(x): non-[alnum _ -] → '_', then '-' + blake2b-8 hex

Parts are written as `.parquet.tmp` and renamed when the run is finished, part_0 last: a run without part_0
was not fully exported and is skipped. Needs pyarrow (imported by the callers, never by `import neon`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PART = re.compile(r"^(?P<stem>.+)_part_(?P<n>\d+)\.parquet$")
PART_BYTES = 50 * 2**20  # the exporter rolls to a new part past 50 MiB
FILE_TYPES = ("file", "file_series", "file_set", "artifact")
_LINEAGE = ("sys/forking/parent", "sys/creation_time")


def sanitize(part: str) -> str:
    """The exporter's file-name form of a project or run id: unique thanks to the digest suffix."""
    digest = hashlib.blake2b(part.encode(), digest_size=8).hexdigest()
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in part) + "-" + digest


@dataclass
class RunFiles:
    project_dir: Path
    stem: str
    parts: list[Path]  # part_0 first
    rows: int = 0
    run_id: str = ""
    parent: str = ""
    created: datetime | None = None


@dataclass
class Layout:
    runs: list[RunFiles] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # file stems without part_0


def project_dirs(root: Path) -> list[Path]:
    """Project folders under an export: `root` itself when it holds Parquet parts, else its sub-folders
    (`root/data/*` when `root` is the exporter's output folder)."""
    if any(PART.match(p.name) for p in root.iterdir() if p.is_file()):
        return [root]
    base = root / "data" if (root / "data").is_dir() else root
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def choose_project(dirs: list[Path], project: str | None) -> list[Path]:
    """The project folders to import: all when there is one, else the one `project` names (its id as exported,
    e.g. `workspace/project`, or its folder name)."""
    if project is None:
        if len(dirs) > 1:
            names = ", ".join(d.name for d in dirs)
            raise ValueError(f"the export holds {len(dirs)} projects ({names}): choose one with --project "
                             "(they would all land in the API key's project)")
        return dirs
    chosen = [d for d in dirs if d.name in (project, sanitize(project))]
    if not chosen:
        raise ValueError(f"no project {project!r} in the export (found: {', '.join(d.name for d in dirs)})")
    return chosen


def find_runs(project_dir: Path) -> Layout:
    """The fully exported runs of one project folder (`.tmp` files and runs without part_0 are left out)."""
    import pyarrow.parquet as pq

    stems: dict[str, dict[int, Path]] = {}
    for path in sorted(project_dir.iterdir()):
        match = PART.match(path.name)
        if match and path.is_file():
            stems.setdefault(match["stem"], {})[int(match["n"])] = path
    layout = Layout()
    for stem, parts in sorted(stems.items()):
        if 0 not in parts:
            layout.incomplete.append(stem)
            continue
        files = [parts[n] for n in sorted(parts)]
        run = RunFiles(project_dir, stem, files)
        try:
            run.rows = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
        except Exception as exc:
            raise ImportFileError(next(p for p in files), f"not a readable Parquet file: {exc}") from None
        layout.runs.append(run)
    return layout


class ImportFileError(Exception):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def read_lineage(run: RunFiles) -> None:
    """The run id, fork parent and creation time from part_0's parameter rows (they come first in a run)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    first = run.parts[0]
    try:
        parquet = pq.ParquetFile(first)
        columns = [c for c in ("run_id", "attribute_path", "step", "string_value", "datetime_value")
                   if c in parquet.schema_arrow.names]
        for group in range(parquet.metadata.num_row_groups):
            table = parquet.read_row_group(group, columns=columns)
            if not run.run_id and table.num_rows and "run_id" in columns:
                run.run_id = str(table.column("run_id")[0].as_py() or "")
            if "attribute_path" in columns:
                wanted = table.filter(pc.is_in(table.column("attribute_path"), value_set=_lineage_paths()))
                for row in wanted.to_pylist():
                    if row["attribute_path"] == "sys/forking/parent":
                        run.parent = row.get("string_value") or ""
                    elif isinstance(row.get("datetime_value"), datetime):
                        run.created = row["datetime_value"]
            if "step" not in columns or table.column("step").null_count < table.num_rows:
                break  # past the parameters
    except Exception as exc:
        raise ImportFileError(first, f"not a readable Parquet file: {exc}") from None


def _lineage_paths() -> Any:
    import pyarrow as pa

    return pa.array(_LINEAGE)


def parents_first(runs: list[RunFiles]) -> list[RunFiles]:
    """Runs ordered so that a fork comes after its parent; roots by creation time (as the exporter's loaders do)."""
    by_id = {r.run_id: r for r in runs}
    children: dict[str, list[RunFiles]] = {}
    roots: list[RunFiles] = []
    for run in runs:
        if run.parent and run.parent in by_id and run.parent != run.run_id:
            children.setdefault(run.parent, []).append(run)
        else:
            roots.append(run)
    oldest = datetime.max.replace(tzinfo=None)

    def key(run: RunFiles) -> tuple[datetime, str]:
        return (run.created.replace(tzinfo=None) if run.created else oldest, run.run_id)

    ordered: list[RunFiles] = []
    queue = sorted(roots, key=key)
    while queue:
        run = queue.pop(0)
        ordered.append(run)
        queue[0:0] = sorted(children.pop(run.run_id, []), key=key)
    for rest in children.values():  # a fork cycle: nothing to put first, import as given
        ordered += rest
    return ordered


class RunWriter:
    """Writes one run's rows as the exporter does: parts rolled past 50 MiB, `.tmp` until the run is finished,
    then renamed highest part first and part_0 last (so a reader never sees half a run)."""

    def __init__(self, project_dir: Path, run_id: str, schema: Any, part_bytes: int = PART_BYTES) -> None:
        self._dir = project_dir
        self._stem = sanitize(run_id)
        self._schema = schema
        self._part_bytes = part_bytes
        self._parts: list[Path] = []
        self._writer: Any = None
        self.rows = 0

    def _open(self) -> None:
        import pyarrow.parquet as pq

        path = self._dir / f"{self._stem}_part_{len(self._parts)}.parquet.tmp"
        self._parts.append(path)
        self._writer = pq.ParquetWriter(path, self._schema, compression="snappy")

    def write(self, table: Any) -> None:
        if self._writer is None:
            self._open()
        self._writer.write_table(table)
        self.rows += table.num_rows
        if os.path.getsize(self._parts[-1]) > self._part_bytes:
            self._writer.close()
            self._writer = None

    def finish(self) -> list[Path]:
        if self._writer is not None:
            self._writer.close()
        if not self._parts:  # a run with no rows still gets its (empty) part_0
            self._open()
            self._writer.close()
        done = []
        for tmp in reversed(self._parts):
            final = tmp.with_suffix("")  # drop .tmp
            os.replace(tmp, final)
            done.append(final)
        return done[::-1]


def iter_batches(path: Path, batch_rows: int) -> Iterator[Any]:
    """A part's rows in batches (pyarrow RecordBatches)."""
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
