"""Track's stored attributes and series summaries as Neptune's `ProtoAttributeDTO` (what neptune-query reads).

Datetimes travel as epoch milliseconds; a float series carries last/min/max/average/variance over its finite
values (NaN when it has none); string, histogram and file series carry their last point and its step.
"""

from __future__ import annotations

import math
from typing import Any

from neptune_api.proto.neptune_pb.api.v1.model.leaderboard_entries_pb2 import ProtoAttributeDTO

# Histogram kinds as Neptune names them (neptune-exporter reads "COUNTING" for counts).
HISTOGRAM_TYPES = {"counts": "COUNTING", "densities": "DENSITY"}


def attribute_dto(row: dict[str, Any]) -> ProtoAttributeDTO:
    """One row of `track_attributes` (see TrackReadStore.attribute_rows)."""
    name, kind = row["path"], row["type"]
    dto = ProtoAttributeDTO(name=name, type=kind)
    if kind == "float":
        dto.float_properties.SetInParent()
        _header(dto.float_properties, name, kind)
        dto.float_properties.value = row["float_value"]
    elif kind == "int":
        _header(dto.int_properties, name, kind)
        dto.int_properties.value = row["int_value"]
    elif kind == "bool":
        _header(dto.bool_properties, name, kind)
        dto.bool_properties.value = bool(row["bool_value"])
    elif kind == "string":
        _header(dto.string_properties, name, kind)
        dto.string_properties.value = row["string_value"]
    elif kind == "datetime":
        _header(dto.datetime_properties, name, kind)
        dto.datetime_properties.value = int(row["datetime_ms"])
    elif kind == "stringSet":
        _header(dto.string_set_properties, name, kind)
        dto.string_set_properties.value.extend(sorted(row["string_set"]))
    elif kind == "fileRef":
        _header(dto.file_ref_properties, name, kind)
        dto.file_ref_properties.path = row["file_path"]
        dto.file_ref_properties.sizeBytes = int(row["file_size"])
        dto.file_ref_properties.mimeType = row["file_mime"]
    return dto


def series_dto(row: dict[str, Any], last: dict[str, Any] | None) -> ProtoAttributeDTO:
    """One row of `track_series` (see TrackReadStore.series_rows) with, for string, histogram and file series,
    its last point (TrackReadStore.last_values)."""
    name, kind = row["path"], row["type"]
    dto = ProtoAttributeDTO(name=name, type=kind)
    if kind == "floatSeries":
        props = dto.float_series_properties
        _header(props, name, kind)
        if row["count"]:
            props.last_step = row["last_step"]
            props.last = row["last_value"]
        finite = row["finite_count"] > 0
        props.min = row["min_value"] if finite else math.nan
        props.max = row["max_value"] if finite else math.nan
        props.average = row["mean_value"] if finite else math.nan
        props.variance = row["variance"] if finite else math.nan
    elif kind == "stringSeries":
        _header(dto.string_series_properties, name, kind)
        if last is not None:
            dto.string_series_properties.last_step = last["step"]
            dto.string_series_properties.last = last["value"]
    elif kind == "histogramSeries":
        _header(dto.histogram_series_properties, name, kind)
        if last is not None:
            dto.histogram_series_properties.last_step = last["step"]
            hist = dto.histogram_series_properties.last
            hist.type = HISTOGRAM_TYPES.get(last["kind"], last["kind"])
            hist.edges.extend(last["bin_edges"])
            hist.values.extend(last["bin_values"])
    elif kind == "fileRefSeries":
        _header(dto.file_ref_series_properties, name, kind)
        if last is not None:
            dto.file_ref_series_properties.last_step = last["step"]
            ref = dto.file_ref_series_properties.last
            ref.path, ref.sizeBytes, ref.mimeType = last["file_path"], int(last["file_size"]), last["file_mime"]
    return dto


def _header(props: Any, name: str, kind: str) -> None:
    props.attribute_name = name
    props.attribute_type = kind
