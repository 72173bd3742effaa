"""Values `neon.track` logs besides floats: configs, histograms and files, as the native body carries them."""

from __future__ import annotations

import hashlib
import math
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Union

MAX_BINS = 512


@dataclass(frozen=True)
class Histogram:
    """Like neptune-scale's: `bin_edges` (increasing, len = bins + 1) and either `counts` or `densities`."""

    bin_edges: Sequence[float]
    counts: Sequence[float] | None = None
    densities: Sequence[float] | None = None


@dataclass(frozen=True)
class File:
    """A file to log: a path on disk or bytes; `destination` overrides the key it is stored under."""

    source: str | Path | bytes
    mime_type: str | None = None
    destination: str | None = None


FileSource = Union[str, Path, bytes, File]  # noqa: UP007 - a runtime alias


def config_value(path: str, value: Any, cast_unsupported: bool) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.timestamp() * 1000}
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return {"$set": sorted(set(value))}
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        item = value.item()
        if isinstance(item, bool | int | float):
            return item
    if cast_unsupported:
        return str(value)
    raise TypeError(f"log_configs: {path!r} is a {type(value).__name__}: log a float, int, bool, str, datetime "
                    "or a list/set of str (or pass cast_unsupported=True)")


def _numbers(values: Any, what: str) -> list[float]:
    return [float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]


def histogram_json(path: str, hist: Any) -> dict[str, Any]:
    given = getattr(hist, "bin_edges", None)
    edges = _numbers([] if given is None else given, "bin_edges")
    counts, densities = getattr(hist, "counts", None), getattr(hist, "densities", None)
    if (counts is None) == (densities is None):
        raise ValueError(f"log_histograms: {path!r} needs exactly one of counts or densities")
    values = _numbers(counts if counts is not None else densities, "values")
    if len(edges) - 1 > MAX_BINS:
        raise ValueError(f"log_histograms: {path!r} has more than {MAX_BINS} bins")
    if len(values) != len(edges) - 1 or any(math.isnan(e) for e in edges) or any(
            b <= a for a, b in pairwise(edges)):
        raise ValueError(f"log_histograms: {path!r} needs increasing bin edges and one value per bin")
    return {"edges": edges, "values": values, "kind": "counts" if counts is not None else "densities"}


def _segment(text: str, limit: int) -> str:
    """A key segment: letters, digits, '.', '_' and '-' only, and a hash of the original so none collide."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:limit].strip(".") or "_"
    return f"{clean}-{hashlib.blake2b(text.encode(), digest_size=6).hexdigest()}"


def file_ref(run_id: str, path: str, step: float | None, spec: File) -> tuple[dict[str, Any], bytes | Path]:
    """The reference to store ({path, size, mime}) and the bytes' source. The key is
    `<run>/<attribute>/<step or none>/<name>`, unless the File gives a destination."""
    if isinstance(spec.source, bytes):
        data: bytes | Path = spec.source
        size, name = len(spec.source), f"{uuid.uuid4()}.bin"
        mime = spec.mime_type or "application/octet-stream"
    else:
        source = Path(spec.source)
        if not source.is_file():
            raise FileNotFoundError(f"log file {path!r}: {source} is not a file")
        data, size, name = source, source.stat().st_size, source.name
        mime = spec.mime_type or mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    if spec.destination is not None:
        key = spec.destination
    else:
        at = "none" if step is None else f"{step:019.6f}".replace(".", "_")
        stem, dot, ext = name.rpartition(".")
        filename = f"{re.sub(r'[^A-Za-z0-9_-]', '_', stem)[:180]}.{re.sub(r'[^A-Za-z0-9]', '', ext)[:18]}" \
            if dot and stem else re.sub(r"[^A-Za-z0-9._-]", "_", name)[:180]
        key = f"{_segment(run_id, 200)}/{_segment(path, 200)}/{at}/{filename}"
    return {"path": key, "size": size, "mime": mime}, data
