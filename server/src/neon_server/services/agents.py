"""Agent spec versions: the server records each version of an agent it is shown, so runs and traces can link to
exactly one. Specs are re-validated here with the SDK's own checks (`neon.execute.spec`), and the version is
computed here from the canonical form, never taken from the caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neon.execute.diff import diff_specs
from neon.execute.errors import SpecError
from neon.execute.spec import AgentSpec
from neon_server.domain.agents import AgentSummary, AgentVersion
from neon_server.services.errors import InvalidInput, NotFound
from neon_server.storage.metadata.agents import AgentVersionRepository


def checked_spec(data: Mapping[str, Any] | AgentSpec) -> AgentSpec:
    """The spec, validated; InvalidInput lists every problem (`errors`: [{field, message}])."""
    if isinstance(data, AgentSpec):
        return data
    if not isinstance(data, Mapping):
        raise InvalidInput("an agent spec is a JSON object (see `neon agent schema`)",
                           errors=[{"field": "", "message": "expected object"}])
    try:
        return AgentSpec.from_dict(data)
    except SpecError as exc:
        count = len(exc.errors)
        summary = "; ".join(str(issue) for issue in exc.errors[:3]) + ("; …" if count > 3 else "")
        raise InvalidInput(f"invalid agent spec ({count} error{'s' * (count != 1)}): {summary}",
                           errors=[{"field": issue.field, "message": issue.message} for issue in exc.errors]) \
            from None


class AgentService:
    """Record, list, read and compare the versions of a project's agents."""

    def __init__(self, repo: AgentVersionRepository) -> None:
        self._repo = repo

    def record(self, project_id: str, spec: Mapping[str, Any] | AgentSpec) -> tuple[AgentVersion, bool]:
        """Record this spec's version (idempotent: the same content is the same version); returns the stored
        version and whether this call added it."""
        checked = checked_spec(spec)
        return self._repo.add(project_id, checked.name, checked.version, checked.to_dict())

    def versions(self, project_id: str, name: str) -> list[AgentVersion]:
        """An agent's versions, newest first; NotFound when it has none."""
        found = self._repo.versions(project_id, name)
        if not found:
            raise NotFound(f"no agent {name!r} in this project")
        return found

    def get(self, project_id: str, name: str, version: str) -> AgentVersion:
        found = self._repo.get(project_id, name, version)
        if found is None:
            self.versions(project_id, name)  # no such agent at all: say that instead
            raise NotFound(f"agent {name!r} has no version {version!r}")
        return found

    def diff(self, project_id: str, name: str, old: str, new: str) -> list[dict[str, Any]]:
        """The changed fields from version `old` to version `new`: [{path, kind, old, new}]."""
        before, after = self.get(project_id, name, old), self.get(project_id, name, new)
        return [change.to_dict() for change in diff_specs(before.spec, after.spec)]

    def list(self, project_id: str) -> list[AgentSummary]:
        """Every agent of the project: its newest version and how many versions were recorded."""
        return self._repo.latest(project_id)
