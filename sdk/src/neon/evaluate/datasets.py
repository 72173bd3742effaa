"""Datasets: lists of cases, from JSONL, YAML or JSON files, or from a Neon server (versioned there).

A file holds one case per JSON line (`.jsonl`), or a list of cases (`.yaml`, `.yml`, `.json`), or a mapping
with `cases:` (and optionally `name:`). A case is a mapping with `input` (required), `expected`,
`expected_tools`, `metadata` and `id`; any other key is an error, so a typo does not silently drop data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neon.evaluate.types import Case

if TYPE_CHECKING:
    from neon.client import NeonClient

CASE_KEYS = frozenset({"input", "expected", "expected_tools", "metadata", "id"})


class DatasetError(ValueError):
    """A dataset file or item is malformed; the message names the file, the line or item, and the problem."""


@dataclass
class Dataset:
    """A named list of cases. `version` is the server's version number when fetched from a server."""

    name: str
    cases: list[Case] = field(default_factory=list)
    version: int | None = None

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    @staticmethod
    def case_from_dict(data: Mapping[str, Any], where: str) -> Case:
        """A Case from a mapping; `where` (e.g. "cases.jsonl line 3") prefixes any error."""
        if not isinstance(data, Mapping):
            raise DatasetError(f"{where}: a case must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - CASE_KEYS)
        if unknown:
            raise DatasetError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                               f"a case has {', '.join(sorted(CASE_KEYS))}")
        if "input" not in data:
            raise DatasetError(f"{where}: 'input' is required")
        tools = data.get("expected_tools")
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
            raise DatasetError(f"{where}: 'expected_tools' must be a list of tool names")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise DatasetError(f"{where}: 'metadata' must be a mapping")
        case_id = data.get("id", "")
        if not isinstance(case_id, str | int):
            raise DatasetError(f"{where}: 'id' must be a string")
        return Case(input=data["input"], expected=data.get("expected"), expected_tools=tools,
                    metadata=dict(metadata), id=str(case_id))

    @classmethod
    def from_dicts(cls, name: str, items: Iterable[Mapping[str, Any]], *, version: int | None = None) -> Dataset:
        return cls(name=name, cases=[cls.case_from_dict(item, f"{name} item {i}")
                                     for i, item in enumerate(items, start=1)], version=version)

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> Dataset:
        """Load `.jsonl`, `.yaml`/`.yml` or `.json`; the name defaults to the file's stem (or its `name:`)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"dataset file {path}: {exc.strerror or exc}") from None
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return cls(name=name or path.stem, cases=list(_jsonl_cases(text, path)))
        if suffix in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise DatasetError(f"dataset file {path}: not valid YAML: {exc}") from None
        elif suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"dataset file {path}: not valid JSON: {exc}") from None
        else:
            raise DatasetError(f"dataset file {path}: unknown format {suffix!r}; use .jsonl, .yaml, .yml or .json")
        declared_name = None
        if isinstance(data, Mapping):
            declared_name = data.get("name")
            data = data.get("cases")
        if not isinstance(data, list):
            raise DatasetError(f"dataset file {path}: expected a list of cases (or a mapping with 'cases:')")
        cases = [cls.case_from_dict(item, f"{path} case {i}") for i, item in enumerate(data, start=1)]
        return cls(name=name or (str(declared_name) if declared_name else path.stem), cases=cases)

    @classmethod
    def from_server(cls, client: NeonClient, name: str, version: int | None = None) -> Dataset:
        """The items of a server dataset at `version` (default: the newest); case ids are the item ids."""
        items = client.dataset_items(name, version=version)
        cases = [Case(input=i["input"], expected=i.get("expected"), expected_tools=i.get("expected_tools"),
                      metadata=dict(i.get("metadata") or {}), id=str(i["id"])) for i in items["items"]]
        return cls(name=name, cases=cases, version=int(items["version"]))

    def to_dicts(self) -> list[dict[str, Any]]:
        """The cases as mappings (what `from_dicts` reads and the server's item API accepts)."""
        rows = []
        for case in self.cases:
            row: dict[str, Any] = {"input": case.input}
            if case.expected is not None:
                row["expected"] = case.expected
            if case.expected_tools is not None:
                row["expected_tools"] = list(case.expected_tools)
            if case.metadata:
                row["metadata"] = dict(case.metadata)
            if case.id:
                row["id"] = case.id
            rows.append(row)
        return rows


def _jsonl_cases(text: str, path: Path) -> Iterator[Case]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path} line {number}: not valid JSON: {exc.msg}") from None
        yield Dataset.case_from_dict(data, f"{path} line {number}")


def load_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """`Dataset.from_file`: load a JSONL, YAML or JSON file of cases."""
    return Dataset.from_file(path, name)
