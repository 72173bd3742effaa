"""Agent spec versions as the metadata store returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AgentVersion:
    """One recorded version of an agent: `version` is the spec's content hash, `spec` its canonical form."""

    project_id: str
    name: str
    version: str
    spec: dict[str, Any]
    created_at: datetime

    def to_dict(self, *, with_spec: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version,
                                "created_at": self.created_at.isoformat()}
        if with_spec:
            data["spec"] = self.spec
        return data


@dataclass(frozen=True)
class AgentSummary:
    """An agent in a project's list: its newest version, how many versions were recorded, and when the first was."""

    latest: AgentVersion
    version_count: int
    first_seen_at: datetime

    def to_dict(self) -> dict[str, Any]:
        spec = self.latest.spec
        model = spec.get("model") or {}
        return {"name": self.latest.name, "latest_version": self.latest.version,
                "description": spec.get("description", ""),
                "model": f"{model.get('provider', '')}:{model.get('name', '')}",
                "tools": [tool.get("name", "") for tool in spec.get("tools") or []],
                "version_count": self.version_count, "first_seen_at": self.first_seen_at.isoformat(),
                "updated_at": self.latest.created_at.isoformat()}
