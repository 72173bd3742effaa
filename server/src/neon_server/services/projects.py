"""Projects: creation, lookup, and the `default` project that the first `neon up` makes."""

from __future__ import annotations

import secrets

from neon_server.domain.projects import ApiKey, Project, check_project_name
from neon_server.services.errors import Conflict, InvalidInput, NotFound
from neon_server.services.keys import KeyService
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.repositories import ProjectRepository

DEFAULT_PROJECT = "default"


class ProjectService:
    def __init__(self, projects: ProjectRepository, keys: KeyService) -> None:
        self._projects = projects
        self._keys = keys

    def create(self, name: str) -> Project:
        try:
            check_project_name(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        try:
            return self._projects.create(f"prj_{secrets.token_hex(8)}", name)
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None

    def get(self, project_id: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise NotFound(f"no project with id {project_id!r}")
        return project

    def by_name(self, name: str) -> Project:
        project = self._projects.get_by_name(name)
        if project is None:
            raise NotFound(f"no project named {name!r}")
        return project

    def list(self) -> list[Project]:
        return self._projects.list()

    def bootstrap(self) -> tuple[Project, ApiKey, str] | None:
        """On a store with no projects: create `default` and a first key. None if projects exist."""
        if self._projects.list():
            return None
        try:
            project = self.create(DEFAULT_PROJECT)
        except Conflict:
            return None  # another server process bootstrapped the same store at the same moment
        key, secret = self._keys.create(project.id, name="created by neon up")
        return project, key, secret
