"""The search attributes agent runs are listed by (docs/design/execute.md), with their Temporal types."""

from __future__ import annotations

from typing import Final

#: name → Temporal indexed value type, as the dev server's `--search-attribute NAME=TYPE` flag spells it.
SEARCH_ATTRIBUTES: Final[dict[str, str]] = {
    "NeonProject": "Keyword",
    "NeonAgent": "Keyword",
    "NeonAgentVersion": "Keyword",
    "NeonRunStatus": "Keyword",
    "NeonPendingApprovals": "Int",
    "NeonForkOf": "Keyword",
}
