"""Online evaluation rules: which new traces to score (a filter on the trace's root fields and a sample rate)
and with which scorers. Checked when saved — filter fields, rate, scorer specs (built, so a judge without a
provider is refused now rather than failing on every trace)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from neon_server.domain.online import NewRule, OnlineRule
from neon_server.services.errors import Conflict, InvalidInput, NotFound
from neon_server.services.score_jobs import checked_scorers
from neon_server.storage.metadata.errors import AlreadyExists
from neon_server.storage.metadata.online import OnlineRuleRepository

# What a rule can match: the root-span fields a trace's rollup carries (the live tail's vocabulary).
EXACT = ("name", "status", "service", "session_id", "user_id", "agent_id", "agent_version", "environment")
FILTER_FIELDS = (*EXACT, "name_contains", "tag")
STATUSES = ("ok", "error", "unset")
RULE_FIELDS = ("name", "filter", "sample_rate", "scorers", "enabled")


def check_filter(data: Any) -> dict[str, Any]:
    """The rule filter, normalised (`tag` always a list); InvalidInput names an unknown field or a bad value."""
    if not isinstance(data, Mapping):
        raise InvalidInput("filter must be an object")
    unknown = sorted(set(data) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidInput(f"filter: unknown field(s) {', '.join(unknown)}; a rule can match "
                           f"{', '.join(FILTER_FIELDS)} (the trace's root fields)")
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key == "tag":
            tags = [value] if isinstance(value, str) else value
            if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
                raise InvalidInput("filter.tag must be a tag or a list of tags (all must be present)")
            clean[key] = tags
        elif not isinstance(value, str) or not value:
            raise InvalidInput(f"filter.{key} must be a non-empty string")
        else:
            clean[key] = value
    if clean.get("status", "ok") not in STATUSES:
        raise InvalidInput(f"filter.status must be one of {', '.join(STATUSES)}")
    return clean


def matches(flt: Mapping[str, Any], trace: Mapping[str, Any]) -> bool:
    """Whether a trace (its rollup: name, status, agent_id, tags…) passes a rule's filter."""
    for key in EXACT:
        if key in flt and str(trace.get(key) or "") != flt[key]:
            return False
    if "name_contains" in flt and flt["name_contains"].lower() not in str(trace.get("name") or "").lower():
        return False
    return set(flt.get("tag", ())) <= set(trace.get("tags") or ())


def sampled(trace_id: str, rate: float) -> bool:
    """Deterministic by trace id: the same trace is always in or out, and a rule at 10 % takes a subset of the
    traces one at 20 % takes — rules at equal rates score the same traces, so their scores can be compared."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    return int(hashlib.sha256(trace_id.encode()).hexdigest()[:16], 16) / 2**64 < rate


class OnlineRuleService:
    """CRUD of rules; `on_change` is told after every change (the online scorer reloads its rules)."""

    def __init__(self, repo: OnlineRuleRepository, *, env: Mapping[str, str] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self._repo = repo
        self._env = env
        self._on_change = on_change or (lambda: None)

    def set_on_change(self, callback: Callable[[], None]) -> None:
        self._on_change = callback

    def check(self, data: Mapping[str, Any]) -> NewRule:
        """A NewRule from request JSON, every field checked."""
        unknown = sorted(set(data) - set(RULE_FIELDS))
        if unknown:
            raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; a rule has {', '.join(RULE_FIELDS)}")
        name = data.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
            raise InvalidInput("name must be 1–100 characters")
        rate = data.get("sample_rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidInput("sample_rate must be a number from 0 to 1 (the share of matching traces scored)")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false")
        specs, _ = checked_scorers(data.get("scorers"), self._env)
        return NewRule(name=name.strip(), filter=check_filter(data.get("filter") or {}), sample_rate=float(rate),
                       scorers=specs, enabled=enabled)

    def create(self, project_id: str, data: Mapping[str, Any]) -> OnlineRule:
        rule = self.check(data)
        try:
            created = self._repo.create(project_id, rule)
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        self._on_change()
        return created

    def all(self, project_id: str) -> list[OnlineRule]:
        return self._repo.all(project_id)

    def get(self, project_id: str, rule_id: str) -> OnlineRule:
        rule = self._repo.get(project_id, rule_id)
        if rule is None:
            raise NotFound(f"no online rule {rule_id!r} in this project")
        return rule

    def update(self, project_id: str, rule_id: str, changes: Mapping[str, Any]) -> OnlineRule:
        """Change the fields given (e.g. `{"enabled": false}`); the result is checked as a whole."""
        current = self.get(project_id, rule_id)
        merged = {"name": current.name, "filter": current.filter, "sample_rate": current.sample_rate,
                  "scorers": current.scorers, "enabled": current.enabled, **changes}
        rule = self.check(merged)
        try:
            updated = self._repo.replace(project_id, rule_id, rule)
        except AlreadyExists as exc:
            raise Conflict(str(exc)) from None
        if updated is None:
            raise NotFound(f"no online rule {rule_id!r} in this project")
        self._on_change()
        return updated

    def delete(self, project_id: str, rule_id: str) -> None:
        if not self._repo.delete(project_id, rule_id):
            raise NotFound(f"no online rule {rule_id!r} in this project")
        self._on_change()
