"""Datasets: named, versioned lists of items (input, expected, expected tools, metadata) — created through
the API or from production traces, read by `neon eval` as suite cases.

Every change (items added or removed) makes a new version; reading a version always gives the same items.
"""

from __future__ import annotations

import json
import re
from typing import Any

from neon_server.domain.evaluation import Dataset, DatasetItem, DatasetVersion, NewItem
from neon_server.services.errors import Conflict, InvalidInput, NotFound
from neon_server.services.trace_filters import trace_filter_from
from neon_server.services.traces import TraceListService, TraceService
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.evaluation import DatasetRepository

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
MAX_ITEMS_PER_REQUEST = 10_000
MAX_FROM_TRACES = 1000


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidInput(f"dataset name {name!r} must be 1–100 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
    return name


def new_items(items: list[dict[str, Any]]) -> list[NewItem]:
    """Items from request JSON, each checked; errors name the item (`items[3].expected_tools …`)."""
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise InvalidInput(f"at most {MAX_ITEMS_PER_REQUEST} items per request")
    made = []
    ids: set[str] = set()
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object")
        unknown = sorted(set(item) - {"input", "expected", "expected_tools", "metadata", "id"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field(s) {', '.join(unknown)}")
        if "input" not in item:
            raise InvalidInput(f"{where}.input is required")
        tools = item.get("expected_tools")
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
            raise InvalidInput(f"{where}.expected_tools must be a list of tool names")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidInput(f"{where}.metadata must be an object")
        item_id = item.get("id") or ""
        if item_id and (not isinstance(item_id, str) or not ITEM_ID.match(item_id)):
            raise InvalidInput(f"{where}.id must be 1–200 letters, digits, '.', '_', ':' or '-'")
        if item_id in ids:
            raise InvalidInput(f"{where}.id {item_id!r} appears twice")
        if item_id:
            ids.add(item_id)
        made.append(NewItem(input=item["input"], expected=item.get("expected"), expected_tools=tools,
                            metadata=metadata, item_id=item_id))
    return made


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _decode(text: str) -> Any:
    """Payloads are stored as text: JSON when the SDK serialised an object, else the string itself."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class DatasetService:
    def __init__(self, repo: DatasetRepository, trace_list: TraceListService, traces: TraceService) -> None:
        self._repo = repo
        self._trace_list = trace_list
        self._traces = traces

    def create(self, project_id: str, name: str, *, description: str = "",
               items: list[dict[str, Any]] | None = None) -> Dataset:
        check_name(name)
        if len(description) > 10_000:
            raise InvalidInput("description must be at most 10,000 characters")
        try:
            return self._repo.create(project_id, name, description, new_items(items or []))
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None

    def all(self, project_id: str) -> list[Dataset]:
        return self._repo.all(project_id)

    def get(self, project_id: str, name: str) -> Dataset:
        found = self._repo.get(project_id, name)
        if found is None:
            raise NotFound(f"no dataset named {name!r} in this project")
        return found

    def add_items(self, project_id: str, name: str, items: list[dict[str, Any]]) -> tuple[Dataset, list[str]]:
        """Add items as a new version; returns the dataset and the new items' ids."""
        made = new_items(items)
        if not made:
            raise InvalidInput("no items given")
        return self._change(project_id, name, add=made, note=f"added {_plural(len(made), 'item')}")

    def remove_items(self, project_id: str, name: str, item_ids: list[str]) -> Dataset:
        if not item_ids:
            raise InvalidInput("no item_ids given")
        if len(set(item_ids)) != len(item_ids):
            raise InvalidInput("item_ids has repeats")
        dataset, _ = self._change(project_id, name, remove=item_ids,
                                  note=f"removed {_plural(len(item_ids), 'item')}")
        return dataset

    def _change(self, project_id: str, name: str, *, add: list[NewItem] | None = None,
                remove: list[str] | None = None, note: str) -> tuple[Dataset, list[str]]:
        try:
            changed = self._repo.change(project_id, name, add=add or [], remove=remove or [], note=note)
        except KeyError as exc:  # ids not in the current version: nothing there to remove
            raise NotFound(f"cannot remove items {exc.args[0]}") from None
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        if changed is None:
            raise NotFound(f"no dataset named {name!r} in this project")
        return changed

    def versions(self, project_id: str, name: str) -> list[DatasetVersion]:
        found = self._repo.versions(project_id, name)
        if found is None:
            raise NotFound(f"no dataset named {name!r} in this project")
        return found

    def items(self, project_id: str, name: str, *, version: int | None = None, limit: int = 1000,
              offset: int = 0) -> tuple[int, list[DatasetItem]]:
        try:
            found = self._repo.items(project_id, name, version, limit=limit, offset=offset)
        except LookupError as exc:
            raise NotFound(str(exc.args[0])) from None
        if found is None:
            raise NotFound(f"no dataset named {name!r} in this project")
        return found

    def from_traces(self, project_id: str, name: str, *, filter: dict[str, Any], limit: int = 100,
                    expected: str = "output") -> dict[str, Any]:
        """Items from the root spans of the traces that match `filter` (newest first, at most `limit`): input
        from the root's input, expected from its output (unless `expected` is "none"), linked to the trace.
        Creates the dataset if needed; traces already in it are skipped. One new version."""
        check_name(name)
        if not 1 <= limit <= MAX_FROM_TRACES:
            raise InvalidInput(f"limit must be between 1 and {MAX_FROM_TRACES}")
        if expected not in ("output", "none"):
            raise InvalidInput("expected must be 'output' (the trace's output) or 'none'")
        flt = trace_filter_from(filter)
        traces = self._trace_list.matching(project_id, flt, limit)
        if self._repo.get(project_id, name) is None:
            self.create(project_id, name, description="from production traces")
        # Only the matching traces are looked up: reading every item would grow with the dataset.
        already = self._repo.from_traces(project_id, name, [t["trace_id"] for t in traces])
        fresh = [t for t in traces if t["trace_id"] not in already and t.get("root_span_id")]
        payloads = self._traces.root_payloads(project_id, [(t["trace_id"], t["root_span_id"]) for t in fresh])
        made, no_input = [], 0
        for t in fresh:
            payload = payloads.get((t["trace_id"], t["root_span_id"]))
            if payload is None or not payload["input"]:
                no_input += 1
                continue
            made.append(NewItem(input=_decode(payload["input"]),
                                expected=_decode(payload["output"]) if expected == "output" else None,
                                metadata={"trace_name": t.get("name", ""), "status": t.get("status", "")},
                                source_trace_id=t["trace_id"]))
        skipped = {"already_in_dataset": sum(1 for t in traces if t["trace_id"] in already),
                   "no_root_input": no_input + sum(1 for t in traces if not t.get("root_span_id"))}
        if not made:
            dataset = self.get(project_id, name)
            return {"dataset": dataset.to_dict(), "version": dataset.current_version, "added": 0,
                    "matched": len(traces), "skipped": skipped, "item_ids": []}
        dataset, ids = self._change(project_id, name, add=made,
                                    note=f"from traces: {_plural(len(made), 'item')}")
        return {"dataset": dataset.to_dict(), "version": dataset.current_version, "added": len(ids),
                "matched": len(traces), "skipped": skipped, "item_ids": ids}
