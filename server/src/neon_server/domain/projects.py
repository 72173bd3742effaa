"""Projects and API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_project_name(name: str) -> str:
    if not PROJECT_NAME.match(name):
        raise ValueError(
            f"project name {name!r} must be 1–63 characters of lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the secret, only its visible prefix and hash."""

    id: str
    project_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project a verified key (or run token, or a report's share link) belongs to, and the key."""

    project_id: str
    key_id: str
    key_prefix: str
    credential: Literal["api_key", "run_token", "share_link"] = "api_key"
