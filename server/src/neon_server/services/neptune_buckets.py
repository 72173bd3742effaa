"""`fetch_metric_buckets`: a float series cut into at most 1,000 step buckets, as Neptune's backend answers
(`ProtoGetTimeseriesBucketsRequest` → `ProtoTimeseriesBucketsDTO`).

Within one request every series is bucketed over the same step range (given by the view, else the range of
all the requested points), so that neptune-query can put the series side by side: bucket 0 is (-inf, a] and
holds the first point, then `maxBuckets - 1` equal buckets up to b. Each bucket carries its first and last
finite points, min, max, sum and count of finite values and its NaN, +Inf and -Inf counts. Lineage is
stitched as for points. Supported: x = step, linear scales, formulas that name one attribute (`${path}`).
"""

from __future__ import annotations

import math
import re

from google.protobuf.message import DecodeError
from neptune_api.proto.neptune_pb.api.v1.model.requests_pb2 import (
    ProtoGetTimeseriesBucketsRequest,
    ProtoLineage,
    ProtoScale,
)
from neptune_api.proto.neptune_pb.api.v1.model.series_values_pb2 import ProtoTimeseriesBucketsDTO

from neon_server.services.errors import BadBody, InvalidInput
from neon_server.services.neptune_series import SeriesReader
from neon_server.storage.analytics.track_read import Segment, TrackReadStore

MAX_BUCKETS = 1_001  # neptune-query asks for its limit (≤ 1,000) plus the opening bucket
MAX_EXPRESSIONS = 1_000
_ONE_ATTRIBUTE = re.compile(r"^\$\{((?:[^\\${}]|\\[\\${}])*)\}$")
_UNESCAPE = re.compile(r"\\([\\${}])")


def attribute_of(formula: str) -> str:
    """The attribute a `${path}` formula names (neptune-query escapes \\ $ { } in the path)."""
    found = _ONE_ATTRIBUTE.match(formula)
    if found is None or not found.group(1):
        raise InvalidInput(f"formula {formula[:120]!r} is not supported here: only '${{attribute path}}'")
    return _UNESCAPE.sub(r"\1", found.group(1))


class Buckets:
    def __init__(self, store: TrackReadStore, series: SeriesReader) -> None:
        self._store = store
        self._series = series

    def buckets(self, project_id: str, payload: bytes) -> ProtoTimeseriesBucketsDTO:
        try:
            request = ProtoGetTimeseriesBucketsRequest.FromString(payload)
        except DecodeError as exc:
            raise BadBody(f"the body is not a protobuf ProtoGetTimeseriesBucketsRequest ({exc})") from None
        view = request.view
        if len(request.expressions) > MAX_EXPRESSIONS:
            raise InvalidInput(f"at most {MAX_EXPRESSIONS} series per request")
        if not 1 <= view.maxBuckets <= MAX_BUCKETS:
            raise InvalidInput(f"maxBuckets must be between 1 and {MAX_BUCKETS}")
        if view.HasField("xAxis") and view.xAxis.WhichOneof("value") not in (None, "steps"):
            raise InvalidInput("only steps are supported as the x axis of buckets")
        if view.xScale != ProtoScale.linear or view.yScale != ProtoScale.linear:
            raise InvalidInput("only linear scales are supported for buckets")
        x_from = getattr(view, "from") if view.HasField("from") else None
        x_to = view.to if view.HasField("to") else None
        for bound in (x_from, x_to):
            if bound is not None and not math.isfinite(bound):
                raise InvalidInput("the view's from and to must be finite")
        wanted = [(e.requestId, e.runId, e.lineage == ProtoLineage.FULL) for e in request.expressions]
        paths = {e.requestId: attribute_of(e.customYFormula) for e in request.expressions}
        previews = {e.requestId: e.includePreview for e in request.expressions}
        lineages = self._series.lineages(project_id, wanted)
        segments = [Segment(request_id, run.run_id, paths[request_id], lo=lo, hi=hi, preview=previews[request_id])
                    for request_id, chain in lineages.items() for run, lo, hi in chain]
        a, b, rows = self._store.buckets(project_id, segments, x_from=x_from, x_to=x_to, buckets=view.maxBuckets)
        width = (b - a) / (view.maxBuckets - 1) if view.maxBuckets > 1 else 0.0
        result = ProtoTimeseriesBucketsDTO()
        entries = {e.requestId: result.entries.add(requestId=e.requestId) for e in request.expressions}
        for row in rows:
            index = int(row["bucket"])
            bucket = entries[row["request"]].bucket.add(
                index=index, fromX=-math.inf if index == 0 else a + (index - 1) * width,
                toX=a if index == 0 else (b if index == view.maxBuckets - 1 else a + index * width),
                finitePointCount=row["finite_count"], nanCount=row["nan_count"],
                positiveInfCount=row["posinf_count"], negativeInfCount=row["neginf_count"])
            if row["finite_count"]:
                bucket.first.x, bucket.first.y = row["first_x"], row["first_y"]
                bucket.last.x, bucket.last.y = row["last_x"], row["last_y"]
                bucket.localMin, bucket.localMax, bucket.localSum = (row["local_min"], row["local_max"],
                                                                     row["local_sum"])
        return result
