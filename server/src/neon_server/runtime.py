"""The server's parts, opened together from settings and closed together (no module-level singletons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neon_server.services.keys import KeyService
from neon_server.services.projects import ProjectService
from neon_server.settings import Settings
from neon_server.storage.analytics import AnalyticsDB, open_analytics
from neon_server.storage.metadata import MetadataStore, open_metadata


@dataclass
class Services:
    settings: Settings
    analytics: AnalyticsDB
    metadata: MetadataStore
    keys: KeyService = field(init=False)
    projects: ProjectService = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyService(self.metadata.api_keys, cache_seconds=self.settings.auth_cache_seconds)
        self.projects = ProjectService(self.metadata.projects, self.keys)

    def health(self) -> dict[str, Any]:
        """Each dependency's state; `status` is ok only when all are."""
        dependencies = {"analytics": self.analytics.health(), "metadata": self.metadata.health()}
        ok = all(d["status"] == "ok" for d in dependencies.values())
        return {"status": "ok" if ok else "degraded", "dependencies": dependencies}

    def close(self) -> None:
        try:
            self.analytics.close()
        finally:
            self.metadata.close()


def open_services(settings: Settings) -> Services:
    """Open the metadata store, then the analytics store (which may be locked by another process)."""
    metadata = open_metadata(settings.metadata_url)
    try:
        analytics = open_analytics(settings.analytics_url)
    except BaseException:
        metadata.close()
        raise
    return Services(settings=settings, analytics=analytics, metadata=metadata)
