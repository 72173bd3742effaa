"""A folder of agent specs: every `*.yaml` / `*.yml` file directly in it (not in subfolders; files whose names
start with '.' are skipped), each one agent.

    found = load_agents("agents")
    found.specs["support"]        # the good ones, by name
    found.errors                  # one SpecError per file that failed; a bad file never hides the good ones

Two files declaring the same agent name are an error naming both, and neither is loaded: which one was meant
cannot be guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from neon.execute.errors import SpecError, SpecIssue
from neon.execute.spec import AgentSpec, SpecFile, load_spec_file

SPEC_SUFFIXES = (".yaml", ".yml")
AGENTS_PATH_VARIABLE = "NEON_AGENTS_PATH"
DEFAULT_AGENTS_PATH = "agents"


@dataclass
class AgentFolder:
    """What a folder holds: valid specs by agent name (and the file of each), and the errors of the rest."""

    path: Path
    specs: dict[str, AgentSpec] = field(default_factory=dict)
    files: dict[str, SpecFile] = field(default_factory=dict)
    errors: list[SpecError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def issues(self) -> list[SpecIssue]:
        """Every problem of every file, in file order."""
        return [issue for error in self.errors for issue in error.errors]


def agents_path(path: str | Path | None = None) -> Path:
    """The agents folder: `path`, else $NEON_AGENTS_PATH, else ./agents."""
    return Path(path or os.environ.get(AGENTS_PATH_VARIABLE) or DEFAULT_AGENTS_PATH)


def spec_files(folder: str | Path) -> list[Path]:
    """The spec files directly in `folder`, sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix in SPEC_SUFFIXES and not p.name.startswith("."))


def load_agents(path: str | Path) -> AgentFolder:
    """Every agent spec in the folder `path`. A folder that does not exist (or is a file) is a SpecError."""
    folder = Path(path)
    if not folder.is_dir():
        reason = "is not a folder" if folder.exists() else "does not exist"
        raise SpecError([SpecIssue("", f"the agents folder {reason}", file=str(folder))], source=str(folder))
    found = AgentFolder(folder)
    loaded: list[SpecFile] = []
    for file in spec_files(folder):
        try:
            loaded.append(load_spec_file(file))
        except SpecError as exc:
            found.errors.append(exc)
    by_name: dict[str, list[SpecFile]] = {}
    for item in loaded:
        by_name.setdefault(item.spec.name, []).append(item)
    for name, items in by_name.items():
        if len(items) == 1:
            found.specs[name] = items[0].spec
            found.files[name] = items[0]
            continue
        for item in items:
            others = ", ".join(other.source for other in items if other is not item)
            issue = item.issue(("name",), f"agent name {name!r} is also declared in {others}; names must be "
                                          "unique in a folder")
            found.errors.append(SpecError([issue], source=item.source))
    found.errors.sort(key=lambda e: e.source or "")
    return found
