"""The native Track body: what `neon.track` encodes the server decodes to the same writes; every malformed body
is refused with a message naming what is wrong (and nothing but FormatError escapes, fuzzed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neon.track._format import PREFIX, Batch, encode
from neon_server.domain.track import FileRef, Histogram, RunCreate
from neon_server.runtime import Services
from neon_server.track.native_format import FormatError, decode


def batch_of(points: list[tuple[float, float, dict[str, float]]], *, preview: float | None = None) -> Batch:
    b = Batch()
    for step, time_ms, values in points:
        for path in values:
            if path not in b.index:
                b.index[path] = len(b.paths)
                b.paths.append(path)
        b.code.fromlist([b.index[p] for p in values])
        b.value.fromlist(list(values.values()))
        b.step.append(step)
        b.time_ms.append(time_ms)
        b.count.append(len(values))
        b.ratio.append(1.0 if preview is None else preview)
        b.preview.append(0 if preview is None else 1)
    return b


def float_rows(body: bytes) -> list[tuple[str, float, float, float, bool, float]]:
    table = decode(body).float_arrow
    assert table is not None
    return [(r["path"], r["step"], r["time_ms"], r["value"], r["preview"], r["ratio"]) for r in table.to_pylist()]


def test_float_points_round_trip_with_nan_inf_and_fractional_steps() -> None:
    b = batch_of([(0.5, 1000.0, {"loss": 1.5, "acc": math.nan}), (1.25, 2000.0, {"loss": math.inf, "x": -math.inf})])
    (body,) = encode("r1", b)
    rows = float_rows(body)
    assert [r[:3] for r in rows] == [("loss", 0.5, 1000.0), ("acc", 0.5, 1000.0), ("loss", 1.25, 2000.0),
                                     ("x", 1.25, 2000.0)]
    values = [r[3] for r in rows]
    assert values[0] == 1.5
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf]
    assert all(not r[4] and r[5] == 1.0 for r in rows)
    assert decode(body).run_id == "r1"


def test_previews_keep_their_flag_and_completion() -> None:
    (body,) = encode("r", batch_of([(3, 0, {"loss": 0.1})], preview=0.25))
    assert float_rows(body) == [("loss", 3.0, 0.0, 0.1, True, 0.25)]


def test_everything_else_travels_in_the_header() -> None:
    b = Batch()
    when = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    b.assign += [["lr", 0.1, 5.0], ["epochs", 3, 5.0], ["amp", True, 5.0], ["name", "x", 5.0],
                 ["start", {"$datetime": when.timestamp() * 1000}, 5.0], ["labels", {"$set": ["a", "b"]}, 5.0],
                 ["ckpt", {"$file": {"path": "r/ckpt/none/a.bin", "size": 3, "mime": "x/y"}}, 5.0]]
    b.tags += [["sys/tags", "t", True], ["sys/tags", "t", False]]
    b.strings.append(["log", 1.0, 7.0, "hello", False, 1.0])
    b.histograms.append(["h", 2.0, 7.0, {"edges": [0, 1, 2], "values": [3, 4], "kind": "counts"}, False, 1.0])
    b.files.append(["f", 3.0, 7.0, {"path": "k", "size": 1, "mime": "m"}, False, 1.0])
    (body,) = encode("r", b)
    w = decode(body)
    assert w.assign == {"lr": 0.1, "epochs": 3, "amp": True, "name": "x", "start": when,
                        "labels": frozenset({"a", "b"}), "ckpt": FileRef("r/ckpt/none/a.bin", 3, "x/y")}
    assert w.assign_time["lr"] == 5.0
    assert w.set_changes == [("sys/tags", "t", True), ("sys/tags", "t", False)]
    assert (w.string_path, w.string_step, w.string_time, w.string_value) == (["log"], [1.0], [7.0], ["hello"])
    assert w.histogram_value == [Histogram((0.0, 1.0, 2.0), (3.0, 4.0), "counts")]
    assert w.file_value == [FileRef("k", 1, "m")]
    assert w.float_arrow is None


def test_a_big_batch_is_split_between_groups_and_loses_nothing() -> None:
    b = batch_of([(s, s * 10.0, {f"m{i}": s + i / 100 for i in range(50)}) for s in range(2000)])
    b.assign.append(["lr", 0.1, 0.0])
    bodies = encode("r", b, max_bytes=64 * 1024)
    assert len(bodies) > 5
    rows = [row for body in bodies for row in float_rows(body)]
    assert len(rows) == 100_000
    assert rows[-1] == ("m49", 1999.0, 19990.0, 1999.49, False, 1.0)
    assert sum(1 for body in bodies if decode(body).assign) == 1


def valid_body() -> bytes:
    return encode("r", batch_of([(1, 2, {"a": 1.0, "b": 2.0})]))[0]


def with_header(header: dict[str, object], blocks: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    text += b" " * (-(PREFIX.size + len(text)) % 8)
    return PREFIX.pack(b"NTRK", 1, 0, len(text)) + text + blocks


@pytest.mark.parametrize(("body", "message"), [
    (b"NTR", "shorter than the 12-byte prefix"),
    (b"PK\x03\x04" + b"\0" * 20, "does not start with b'NTRK'"),
    (struct.pack("<4sHHI", b"NTRK", 2, 0, 0), "format version 2 is not supported"),
    (struct.pack("<4sHHI", b"NTRK", 1, 1, 0), "flags must be 0"),
    (struct.pack("<4sHHI", b"NTRK", 1, 0, 999), "runs past the end"),
    (struct.pack("<4sHHI", b"NTRK", 1, 0, 4) + b"{{{{", "header is not UTF-8 JSON"),
    (with_header({"run": "r", "bogus": 1}), "unknown header keys ['bogus']"),
    (with_header({"paths": []}), "header.run must be the run id"),
    (with_header({"run": "r", "groups": -1}), "header.groups must be an integer"),
    (with_header({"run": "r", "groups": 1, "points": 1, "paths": ["a"]}, b"\0" * 8), "take 37 bytes"),
    (with_header({"run": "r", "groups": 1, "points": 2, "paths": ["a"]},
                  struct.pack("<dddd", 1, 1, 1, 1) + struct.pack("<III", 1, 0, 0) + struct.pack("<fB", 1, 0)),
     "group counts add up to 1, header.points is 2"),
    (with_header({"run": "r", "groups": 1, "points": 1, "paths": ["a"]},
                  struct.pack("<ddd", 1, 1, 1) + struct.pack("<II", 1, 5) + struct.pack("<fB", 1, 0)),
     "path index 5, header.paths has 1"),
    (with_header({"run": "r", "assign": [["a", [1, 2], 0]]}), "header.assign[0]: unsupported value"),
    (with_header({"run": "r", "assign": [["a", 1]]}), "header.assign[0] must be a list of 3 items"),
    (with_header({"run": "r", "tags": [["sys/tags", 1, True]]}), "header.tags[0] must be [path, value string"),
    (with_header({"run": "r", "strings": [["s", "one", 0, "x", False, 1]]}), "header.strings[0][1] must be a number"),
    (with_header({"run": "r", "histograms": [["h", 1, 0, {"edges": "x", "values": []}, False, 1]]}),
     "edges and values must be lists"),
    (with_header({"run": "r", "files": [["f", 1, 0, {"size": 1}, False, 1]]}), "header.files[0][3] must be"),
])
def test_malformed_bodies_are_refused_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=None) as raised:
        decode(body)
    assert message in str(raised.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_format_errors(data: bytes) -> None:
    with pytest.raises(FormatError):
        decode(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_damaged_valid_body_decodes_or_raises_a_format_error(data: st.DataObject) -> None:
    body = bytearray(valid_body())
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    with contextlib.suppress(FormatError):
        decode(bytes(body[:cut]))


def test_decoded_points_and_appended_points_are_prepared_together_grouped_by_path() -> None:
    from neon_server.domain.track import TrackCode
    from neon_server.track.columns import prepare

    (body,) = encode("r", batch_of([(1, 10, {"b": 1.0, "a": 2.0, "": 3.0}), (2, 20, {"b": 4.0, "a": 5.0})]))
    writes = decode(body)
    writes.add_float("c", 1, 10, 6.0)
    writes.add_float("a", 3, 30, 7.0)
    prepared = prepare("p", writes)
    rows = prepared.points["float"].table.to_pylist()
    got = [(r["path"], r["step"], r["value"]) for r in rows]
    assert sorted(got) == [("a", 1.0, 2.0), ("a", 2.0, 5.0), ("a", 3.0, 7.0), ("b", 1.0, 1.0), ("b", 2.0, 4.0),
                           ("c", 1.0, 6.0)]
    paths = [path for path, _s, _v in got]
    assert paths == sorted(paths, key=paths.index)  # each path's points together, in the order they came
    assert [s for path, s, _v in got if path == "b"] == [1.0, 2.0]  # in the order logged
    assert {r["project_id"] for r in rows} == {"p"}
    assert {r["run_id"] for r in rows} == {"r"}
    assert [(r.code, r.count) for r in prepared.rejections()] == [(TrackCode.FIELD_PATH_EMPTY, 1)]


def test_a_step_repeated_within_one_write_keeps_its_last_value(services: Services) -> None:
    """Many points logged two and three times at one step in one request (as a client batch holds them when a
    step is logged again before the batch is sent): the store keeps the last of each, never an earlier one."""
    project = services.projects.create("dups").id
    asyncio.run(services.track.create_run(project, RunCreate("r")))
    b = Batch()
    for rep in range(3):
        for step in range(20_000):
            b.code.fromlist(list(range(10)))
            b.value.fromlist([float(rep)] * 10)
            b.step.append(step)
            b.time_ms.append(1.7e12)
            b.count.append(10)
            b.ratio.append(1.0)
            b.preview.append(0)
    b.paths = [f"m{i}" for i in range(10)]
    (body,) = encode("r", b)
    assert asyncio.run(services.track.write(project, decode(body))).accepted == 600_000
    assert services.track.points("float", project, "r", "m7").column("value").to_pylist() == [2.0] * 20_000
    # A whole-table FINAL reads granules in parallel: of rows with equal versions it would keep any one
    (stored,) = services.analytics.query(
        "SELECT count() AS n, countIf(value != 2) AS earlier FROM track_float_points FINAL "
        "WHERE project_id = {p:String}", tag="tests.track.final", params={"p": project})
    assert stored == {"n": 200_000, "earlier": 0}
    summary = services.track.series(project, "r")["m3"]
    assert (summary.count, summary.min_value, summary.max_value) == (20_000, 2.0, 2.0)
