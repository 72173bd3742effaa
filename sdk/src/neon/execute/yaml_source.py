"""YAML read as a node tree, so every field path maps back to its line and column.

`read_yaml(text)` composes the document with PyYAML (no construction of arbitrary objects: SafeLoader's scalar
rules only), builds plain data from the nodes, and records where each path starts. Duplicate keys, which PyYAML
would silently resolve to the last one, are reported as problems.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import yaml

from neon.execute.errors import Path


@dataclass(frozen=True)
class Mark:
    """A place in the file, counting from 1."""

    line: int
    column: int


@dataclass
class YamlDocument:
    """Plain data from a YAML document, with the place of each value (`values`) and of each mapping key (`keys`)."""

    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    duplicates: list[Path] = field(default_factory=list)
    odd_keys: list[tuple[Path, Any]] = field(default_factory=list)  # keys YAML did not read as strings

    def place(self, path: Path, *, at_key: bool = False) -> Mark | None:
        """Where `path` is written, or else its nearest enclosing field (a missing field: where it belongs)."""
        if at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return None


class YamlSyntaxError(ValueError):
    """The text is not YAML; `mark` is where the parser gave up."""

    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def read_yaml(text: str) -> YamlDocument:
    """Compose `text` (one YAML document) into plain data and marks. Raises YamlSyntaxError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark is not None else None
        raise YamlSyntaxError(" ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML", where) \
            from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), None) from None
    finally:
        loader.dispose()
    document = YamlDocument(data=None)
    if node is not None:
        document.data = _build(loader, node, (), document)
    return document


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, document: YamlDocument) -> Any:
    document.values.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # `<<: *defaults` merge keys, as PyYAML itself would apply them
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            read = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else key_node.value
            key = read if isinstance(read, str) else str(key_node.value) if isinstance(key_node, yaml.ScalarNode) \
                else "?"
            child = (*path, key)
            if not isinstance(read, str):  # `on:`, `yes:`, `1:`… are not strings to YAML; names must be
                document.odd_keys.append((child, read))
            if key in result:
                document.duplicates.append(child)
            document.keys[child] = _mark(key_node)
            if not isinstance(value_node, yaml.ScalarNode):  # a block under a key: point at the key's line
                document.values[child] = _mark(key_node)
            result[key] = _build(loader, value_node, child, document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), document) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = loader.construct_object(node, deep=True)
    if isinstance(value, datetime.date | datetime.datetime | bytes):
        return str(node.value)  # dates and binary are not JSON: keep what was written
    return value
