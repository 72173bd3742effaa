"""The OpenAPI document is a contract: schemathesis sends every operation requests made from the document, valid
and invalid, to a real server over real stores (chDB and SQLite), and runs all its checks on every answer:
documented status codes and bodies, schema-valid requests accepted, schema-violating ones refused, 405 with
`Allow` for undocumented methods, authentication enforced, no server errors.

Bounded (`max-examples` per operation) and derandomized, so a run is quick and the same every time. Run it alone:
`uv run --no-sync pytest server/tests/test_openapi_contract.py` (docs/development.md).
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import schemathesis
from google.protobuf.message import DecodeError
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from schemathesis import Case, CheckContext, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from neon_server.api.errors import HTTP_METHODS, documented_paths
from neon_server.app import create_app, openapi_document
from neon_server.runtime import Services
from neon_server.services.errors import Unauthorized
from neon_server.storage.analytics import open_analytics
from neon_server.storage.metadata import open_metadata
from server.tests.conftest import LiveServer, make_services
from server.tests.neptune_export import SCHEMA as EXPORTER_SCHEMA

pytestmark = pytest.mark.slow

CONFIG: dict[str, Any] = {
    "seed": 20261201,
    "generation": {"max-examples": 10, "deterministic": True, "database": "none"},
    "checks": {"enabled": True},
    # Hypothesis' health checks judge the generator (too slow, too much filtered), not the API: on a busy
    # machine they would fail the run for reasons that say nothing about the contract.
    "suppress-health-check": ["all"],
}

schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis.Config.from_dict(CONFIG)).exclude(
    path_regex=r"^/api/live/")  # the live tail is an endless Server-Sent Events stream: a call never returns

# Rules a JSON Schema cannot state (one value against another, against the server's state, or against what an
# earlier answer handed out): a schema-valid request may break them, and is then refused with one of these.
CROSS_FIELD_REFUSALS = (
    "the time range is empty",  # `from` must be before `to`
    "points for this range",  # analytics: a bucket too fine for a long range
    # a cursor is the `next_cursor` of a previous page (for the same sort), not something to make up
    "cursor is not valid", "cursor belongs to another listing",
    "appears twice",  # ids unique within one request
    # a scorer's arguments, checked by that scorer: their names and types, a judge's LLM provider
    "has no argument(s)", ".args.", "refused its arguments", "needs an LLM provider",
    "would both write the score",  # two scorers of one request writing the same score name
    "runs of different suites cannot be compared",
    "page_token is not one this API gave out",  # agent runs: a page token comes from the previous page
    "the body hashes to",  # an agent blob's ref is the hash of its value
    "invalid agent spec",  # an agent spec is checked against its own JSON Schema (`neon agent schema`)
    "a run cannot fork itself",  # Track: a fork's parent is another run
    "has an empty, '.' or '..' part",  # Track files: a key's segment may not be '.' or '..' (no lookarounds here)
    "a window needs both from_x and to_x", "the window's from must be below its to",  # Track chart buckets
    "x = metric needs x_path",
    "NQL: ",  # an NQL query is parsed by its own grammar (docs/track.md#nql-choosing-runs)
    "needs the group_by it came from", "aggregate does not fit",  # runs table: a group key, an aggregate's type
    "not a valid RE2 regular expression",  # attribute search: a regex is parsed by RE2's grammar
    "formula: ",  # a formula too (docs/track-formulas.md), and names at least one series
    "send either `runs`", "with log_x, the window must start above 0", "runs per request",  # Track formulas
    # dashboard specs: a block inside the 12-column grid, a dynamic section's regex that compiles, a JSON size
    "(the 12-column grid)", "not a valid regular expression", "KB as JSON", "blocks in all",
    "a lone surrogate",
    "variant labels must be unique",  # A/B tests: one label per variant
)


def refused_for_a_cross_field_rule(response: Response, case: Case) -> bool:
    if case.operation.label == "POST /api/traces/ingest" and response.status_code == 400:
        # Nothing in the body could be used: every trace broke a rule of its own (an end before its start, a start
        # a day ahead…), and the answer counts them (docs/ingest.md).
        return "rejected_spans" in response.json()
    if response.status_code != 422:
        return False
    message = str(response.json()["error"]["message"])
    return any(rule in message for rule in CROSS_FIELD_REFUSALS)


def schema_valid_requests_are_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis's `positive_data_acceptance`, except for refusals of the rules a schema cannot state."""
    if case.meta is not None and case.meta.generation.mode.is_positive and refused_for_a_cross_field_rule(
            response, case):
        return None
    return positive_data_acceptance(ctx, response, case)


@st.composite
def otlp_protobuf(draw: st.DrawFn) -> bytes:
    """ExportTraceServiceRequest messages, as the document describes the protobuf body (bytes alone cannot say it)."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for _ in range(draw(st.integers(0, 3))):
        span = spans.add()
        span.trace_id = draw(st.binary(min_size=16, max_size=16))
        span.span_id = draw(st.binary(min_size=8, max_size=8))
        span.name = draw(st.text(max_size=20))
        span.start_time_unix_nano = draw(st.integers(0, 2**64 - 1))
        span.end_time_unix_nano = draw(st.integers(0, 2**64 - 1))
    return request.SerializeToString()


schemathesis.openapi.media_type("application/x-protobuf", otlp_protobuf())


@schema.hook("map_body")
def logs_export_for_v1_logs(context: schemathesis.HookContext, body: Any) -> Any:
    """The protobuf strategy is registered per media type, so /v1/logs is handed trace exports: each becomes the
    logs export of the same shape (a log record per span, with its ids, time and name), which is what a logs
    client would send. Anything else (bodies of negative cases) goes as it came."""
    if context.operation is None or context.operation.path != "/v1/logs" or not isinstance(body, bytes):
        return body
    traces = ExportTraceServiceRequest()
    try:
        traces.ParseFromString(body)
    except DecodeError:
        return body
    logs = ExportLogsServiceRequest()
    for resource_spans in traces.resource_spans:
        records = logs.resource_logs.add().scope_logs.add().log_records
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                record = records.add()
                record.trace_id, record.span_id = span.trace_id, span.span_id
                record.time_unix_nano = span.start_time_unix_nano
                record.body.string_value = span.name
    return logs.SerializeToString()


@st.composite
def native_track_body(draw: st.DrawFn) -> bytes:
    """Native Track bodies (docs/track-sdk.md) as `neon.track` encodes them, for a run that may not exist."""
    from neon.track._format import Batch, encode

    batch = Batch()
    for step in range(draw(st.integers(0, 3))):
        values = draw(st.dictionaries(st.text(min_size=1, max_size=8), st.floats(), min_size=1, max_size=3))
        for path in values:
            batch.index.setdefault(path, len(batch.paths))
            if batch.index[path] == len(batch.paths):
                batch.paths.append(path)
        batch.code.fromlist([batch.index[p] for p in values])
        batch.value.fromlist(list(values.values()))
        batch.step.append(step)
        batch.time_ms.append(1.7e12)
        batch.count.append(len(values))
        batch.ratio.append(1.0)
        batch.preview.append(0)
    return encode(draw(st.sampled_from(["contract-run", "no-such-run"])), batch)[0]


schemathesis.openapi.media_type("application/vnd.neon.track", native_track_body())


@st.composite
def exporter_rows(draw: st.DrawFn) -> bytes:
    """neptune-exporter rows as an Arrow IPC stream (the body of POST /api/track/import)."""
    rows = [{"project_id": "ws/proj", "run_id": draw(st.sampled_from(["run-1", "run-2"])),
             "attribute_path": draw(st.text(alphabet="abc/_", min_size=1, max_size=12)),
             "attribute_type": "float", "float_value": draw(st.floats())} for _ in range(draw(st.integers(0, 3)))]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, EXPORTER_SCHEMA) as writer:
        writer.write_table(pa.Table.from_pylist(rows, schema=EXPORTER_SCHEMA))
    return sink.getvalue()


schemathesis.openapi.media_type("application/vnd.apache.arrow.stream", exporter_rows())

# Some cases are made at collection, before the fixture made the key: they carry this, and the test swaps it.
KEY_PLACEHOLDER = "contract-test-key"


@schema.auth(refresh_interval=None)
class ProjectKey:
    def get(self, case: Case, context: object) -> str:
        return KEY_PLACEHOLDER

    def set(self, case: Case, data: str, context: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@dataclass
class ContractApi:
    url: str
    services: Services
    project_id: str
    secret: str

    def key(self) -> str:
        """The project's key; a new one when the run revoked it (DELETE /api/keys/{id} with an id it listed)."""
        try:
            self.services.keys.authenticate(self.secret)
        except Unauthorized:
            self.secret = self.services.keys.create(self.project_id)[1]
        return self.secret


@pytest.fixture(scope="module")
def contract_api(chdb_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractApi]:
    """One server over real stores for every operation's run: chDB (a database of its own) and a SQLite file."""
    home = tmp_path_factory.mktemp("contract")
    database = f"t_{secrets.token_hex(6)}"
    analytics = open_analytics(f"chdb://{chdb_folder}?database={database}")
    metadata = open_metadata(f"sqlite:///{home / 'neon.db'}")
    services = make_services(home, analytics, metadata)
    project = services.projects.create("contract")
    try:
        with LiveServer(services) as server:
            # The agent-run routes answer from Temporal: the embedded dev server, as `neon up` runs it.
            temporal = services.start_temporal(server.url)
            deadline = time.monotonic() + 60
            while temporal.client is None:
                assert time.monotonic() < deadline, f"Temporal never came up: {temporal.health()}"
                time.sleep(0.05)
            yield ContractApi(server.url, services, project.id, services.keys.create(project.id)[1])
    finally:
        if services.temporal is not None:
            services.temporal.stop()
        services.stop_scoring()
        services.stop_writers()
        metadata.close()
        analytics.command(f"DROP DATABASE IF EXISTS {database}", tag="tests.drop")
        analytics.close()


@schema.parametrize()
def test_the_api_answers_as_its_openapi_document_says(case: Case, contract_api: ContractApi) -> None:
    if case.headers and case.headers.get("Authorization") == f"Bearer {KEY_PLACEHOLDER}":
        case.headers["Authorization"] = f"Bearer {contract_api.key()}"
    case.call_and_validate(base_url=contract_api.url, excluded_checks=[positive_data_acceptance],
                           additional_checks=[schema_valid_requests_are_accepted])


def test_the_405_check_knows_the_methods_the_document_lists() -> None:
    """The middleware that answers 405 reads each path's methods from the routes (building the document would
    cost the first request a second): they are the document's own, path by path."""
    app = create_app(None)
    listed = {path: sorted(m.upper() for m in item if m.upper() in HTTP_METHODS)
              for path, item in app.openapi()["paths"].items()}
    assert documented_paths(app) == listed
