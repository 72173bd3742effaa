"""Rows and files in neptune-exporter's shape, written here from its documented schema (not from our code), for
the import tests: `model.SCHEMA`, one row per value, `<data>/<S(project)>/<S(run)>_part_<n>.parquet`."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("project_id", pa.string()), ("run_id", pa.string()), ("attribute_path", pa.string()),
    ("attribute_type", pa.string()), ("step", pa.decimal128(18, 6)), ("timestamp", pa.timestamp("ms", tz="UTC")),
    ("int_value", pa.int64()), ("float_value", pa.float64()), ("string_value", pa.string()),
    ("bool_value", pa.bool_()), ("datetime_value", pa.timestamp("ms", tz="UTC")),
    ("string_set_value", pa.list_(pa.string())), ("file_value", pa.struct([("path", pa.string())])),
    ("histogram_value", pa.struct([("type", pa.string()), ("edges", pa.list_(pa.float64())),
                                   ("values", pa.list_(pa.float64()))])),
])
PROJECT = "acme/vision"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sanitize(part: str) -> str:
    digest = hashlib.blake2b(part.encode(), digest_size=8).hexdigest()
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in part) + "-" + digest


def param(run: str, path: str, kind: str, value: Any) -> dict[str, Any]:
    column = {"float": "float_value", "int": "int_value", "string": "string_value", "bool": "bool_value",
              "datetime": "datetime_value", "string_set": "string_set_value", "file": "file_value"}[kind]
    return {"project_id": PROJECT, "run_id": run, "attribute_path": path, "attribute_type": kind, column: value}


def point(run: str, path: str, kind: str, step: str, value: Any, seconds: float = 0) -> dict[str, Any]:
    column = {"float_series": "float_value", "string_series": "string_value",
              "histogram_series": "histogram_value", "file_series": "file_value"}[kind]
    return {"project_id": PROJECT, "run_id": run, "attribute_path": path, "attribute_type": kind,
            "step": Decimal(step), "timestamp": T0 + timedelta(seconds=seconds), column: value}


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def run_rows(run: str, *, experiment: str = "", parent: str = "", fork_step: float = 0.0,
             created: datetime = T0) -> list[dict[str, Any]]:
    """A run with every attribute type: parameters (incl. sys/*), float series with fractional steps and
    NaN/±Inf, a string series, a histogram series, a file and a file series; in the exporter's row order."""
    rows = [param(run, "sys/id", "string", f"VIS-{len(run)}"),
            param(run, "sys/custom_run_id", "string", run),
            param(run, "sys/creation_time", "datetime", created),
            param(run, "sys/modification_time", "datetime", created + timedelta(hours=2)),
            param(run, "sys/owner", "string", "alice"),
            param(run, "sys/tags", "string_set", ["baseline", "resnet"]),
            param(run, "sys/failed", "bool", False),
            param(run, "config/lr", "float", 0.001),
            param(run, "config/epochs", "int", 12),
            param(run, "config/optimizer", "string", "adam"),
            param(run, "config/augment", "bool", True),
            param(run, "config/started", "datetime", created + timedelta(minutes=1)),
            param(run, "config/labels", "string_set", ["cat", "dog"])]
    if experiment:
        rows += [param(run, "sys/name", "string", experiment), param(run, "sys/experiment/name", "string", experiment)]
    if parent:
        rows += [param(run, "sys/forking/parent", "string", parent),
                 param(run, "sys/forking/step", "float", fork_step)]
    losses = [("0", 2.5), ("0.5", 2.25), ("1.000001", math.nan), ("1.25", math.inf), ("2", -math.inf),
              ("2.1", 0.1), ("3", 1.75)]
    rows += [point(run, "train/loss", "float_series", s, v, i) for i, (s, v) in enumerate(losses)]
    rows += [point(run, "train/acc", "float_series", str(i), i / 10, i) for i in range(5)]
    rows += [point(run, "logs/stdout", "string_series", s, line, i)
             for i, (s, line) in enumerate([("0", "epoch 0"), ("0.25", "warm"), ("1", "épocha 1 ✓")])]
    rows += [point(run, "weights/hist", "histogram_series", str(i),
                   {"type": "COUNTING", "edges": [0.0, 0.5, 1.0 + i], "values": [float(i), 3.0]}, i)
             for i in range(3)]
    rows.append(param(run, "artifacts/model", "file", {"path": f"{sanitize(run)}/artifacts/model.txt"}))
    rows += [point(run, "samples/image", "file_series", str(i),
                   {"path": f"{sanitize(run)}/samples/image/step_{i}_000000.png"}, i) for i in (1, 2)]
    return rows


def write_run(data: Path, rows: list[dict[str, Any]], *, parts: int = 1, complete: bool = True) -> list[Path]:
    """Write one run's rows as the exporter does (split in `parts`; without part_0 when not `complete`)."""
    run = rows[0]["run_id"]
    folder = data / sanitize(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    size = math.ceil(len(rows) / parts)
    written = []
    for n in range(parts):
        path = folder / f"{sanitize(run)}_part_{n}.parquet"
        if n == 0 and not complete:
            path = path.with_name(path.name + ".tmp")
        pq.write_table(table(rows[n * size:(n + 1) * size]), path, compression="snappy")
        written.append(path)
    return written
