"""Suites: an agent, the cases to run it on, and the scorers to judge it — declared in `eval_*.py` files.

    # evals/eval_support.py
    from neon.evaluate import Case, define_suite

    define_suite("core-tests", agent=answer, scorers=[exact_answer],
                 cases=[Case(input="What is my balance?", expected="42 EUR", id="balance")])

`discover_suites("evals/")` imports every `eval_*.py` / `*_eval.py` file below a folder, each on its own, and
collects what the files defined. Definitions go to the registry of the discovery in progress (a context
variable), so two discoveries never see each other's suites and importing a file outside discovery defines
nothing globally.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neon.evaluate.datasets import Dataset
from neon.evaluate.types import Case, Scorer

Agent = Callable[[Any], Any | Awaitable[Any]]
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "site-packages"})


class SuiteError(ValueError):
    """A suite is declared wrongly, or an eval file cannot be imported; the message says which and why."""


@dataclass(frozen=True)
class EvalTest:
    """One case with scorers of its own (besides the suite's), made by `define_test`."""

    case: Case
    scorers: tuple[Scorer, ...] = ()


@dataclass
class Suite:
    """An agent, its cases and its scorers. Cases run `concurrency` at a time, each within `timeout_seconds`.

    A case passes when the agent did not fail, no scorer failed, and every score passed: `Score.passed` when
    the scorer set it, else `value >= pass_threshold` (scores without a value, e.g. categorical, are neutral).
    """

    name: str
    agent: Agent
    cases: list[Case]
    scorers: list[Scorer]
    concurrency: int = 8
    timeout_seconds: float | None = None
    pass_threshold: float = 0.5
    dataset: str = ""
    extra_scorers: dict[str, tuple[Scorer, ...]] = field(default_factory=dict)  # case id → define_test scorers
    source: str = ""  # the file that defined it

    def scorers_for(self, case: Case) -> list[Scorer]:
        """The suite's scorers, then the case's own (from `define_test`)."""
        return [*self.scorers, *self.extra_scorers.get(case.id, ())]


class SuiteRegistry:
    """The suites one discovery collected, in definition order; names are unique within it."""

    def __init__(self) -> None:
        self._suites: dict[str, Suite] = {}

    def add(self, suite: Suite) -> None:
        if suite.name in self._suites:
            raise SuiteError(f"suite {suite.name!r} is defined twice ({self._suites[suite.name].source or '?'} "
                             f"and {suite.source or '?'})")
        self._suites[suite.name] = suite

    def get(self, name: str) -> Suite:
        try:
            return self._suites[name]
        except KeyError:
            known = ", ".join(sorted(self._suites)) or "none"
            raise SuiteError(f"no suite named {name!r} (found: {known})") from None

    def __iter__(self) -> Iterator[Suite]:
        return iter(self._suites.values())

    def __len__(self) -> int:
        return len(self._suites)


_active: contextvars.ContextVar[tuple[SuiteRegistry, str] | None] = contextvars.ContextVar(
    "neon_suite_registry", default=None)


@contextmanager
def collecting(registry: SuiteRegistry, source: str = "") -> Iterator[SuiteRegistry]:
    """Within the block, `define_suite` adds to `registry` (suites record `source` as their file)."""
    token = _active.set((registry, source))
    try:
        yield registry
    finally:
        _active.reset(token)


def define_test(name: str, *, input: Any, expected: Any = None, expected_tools: Sequence[str] | None = None,
                scorers: Iterable[Scorer] = (), metadata: Mapping[str, Any] | None = None) -> EvalTest:
    """One named case, optionally with scorers that apply to it alone. Pass it in a suite's `cases`."""
    if not name:
        raise SuiteError("define_test needs a name (it becomes the case id)")
    case = Case(input=input, expected=expected, expected_tools=list(expected_tools) if expected_tools else None,
                metadata=dict(metadata or {}), id=name)
    return EvalTest(case=case, scorers=tuple(_check_scorers(scorers, f"test {name!r}")))


def define_suite(name: str, *, agent: Agent, cases: Iterable[Case | EvalTest | Mapping[str, Any]] | None = None,
                 dataset: Dataset | str | Path | None = None, scorers: Iterable[Scorer] = (),
                 concurrency: int = 8, timeout_seconds: float | None = None,
                 pass_threshold: float = 0.5) -> Suite:
    """Declare a suite. Give `cases` (Cases, `define_test`s or dicts) or a `dataset` (a Dataset or a
    JSONL/YAML/JSON file, relative paths resolved from the defining file), or both.

    During discovery the suite is registered; it is returned either way, so it can also be run directly."""
    if not name or not isinstance(name, str):
        raise SuiteError("a suite needs a name")
    if not callable(agent):
        raise SuiteError(f"suite {name!r}: agent must be callable, got {type(agent).__name__}")
    if concurrency < 1:
        raise SuiteError(f"suite {name!r}: concurrency must be at least 1, got {concurrency}")
    if timeout_seconds is not None and timeout_seconds <= 0:
        raise SuiteError(f"suite {name!r}: timeout_seconds must be positive")
    active = _active.get()
    source = active[1] if active else ""
    all_cases, extra, dataset_name = _collect_cases(name, cases, dataset, source)
    if not all_cases:
        raise SuiteError(f"suite {name!r} has no cases: give cases=[...] or dataset=...")
    suite = Suite(name=name, agent=agent, cases=_with_ids(all_cases, name),
                  scorers=_check_scorers(scorers, f"suite {name!r}"), concurrency=concurrency,
                  timeout_seconds=timeout_seconds, pass_threshold=pass_threshold, dataset=dataset_name,
                  extra_scorers=extra, source=source)
    if active is not None:
        active[0].add(suite)
    return suite


def _collect_cases(suite: str, cases: Iterable[Case | EvalTest | Mapping[str, Any]] | None,
                   dataset: Dataset | str | Path | None,
                   source: str) -> tuple[list[Case], dict[str, tuple[Scorer, ...]], str]:
    """The dataset's cases then the listed ones; the scorers of `define_test`s by case id; the dataset name."""
    all_cases: list[Case] = []
    extra: dict[str, tuple[Scorer, ...]] = {}
    dataset_name = ""
    if dataset is not None:
        if not isinstance(dataset, Dataset):
            path = Path(dataset)
            if not path.is_absolute() and source:
                path = Path(source).parent / path
            dataset = Dataset.from_file(path)
        dataset_name = dataset.name
        all_cases.extend(dataset.cases)
    for item in cases or ():
        if isinstance(item, EvalTest):
            all_cases.append(item.case)
            if item.scorers:
                extra[item.case.id] = item.scorers
        elif isinstance(item, Case):
            all_cases.append(item)
        elif isinstance(item, Mapping):
            all_cases.append(Dataset.case_from_dict(item, f"suite {suite!r} case {len(all_cases) + 1}"))
        else:
            raise SuiteError(f"suite {suite!r}: cases must be Case, define_test(...) or dict, "
                             f"got {type(item).__name__}")
    return all_cases, extra, dataset_name


def _check_scorers(scorers: Iterable[Scorer], where: str) -> list[Scorer]:
    checked = []
    for scorer in scorers:
        name = getattr(scorer, "name", None)
        if not callable(scorer) or not isinstance(name, str) or not name:
            raise SuiteError(f"{where}: {scorer!r} is not a scorer (a callable with a non-empty `name`)")
        checked.append(scorer)
    names = [s.name for s in checked]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SuiteError(f"{where}: two scorers are named {', '.join(map(repr, duplicates))}")
    return checked


def _with_ids(cases: list[Case], suite: str) -> list[Case]:
    """Cases without an id get `case-N` (their position), so results pair up across runs; ids must be unique."""
    result = []
    seen: set[str] = set()
    for i, given in enumerate(cases, start=1):
        case = given if given.id else Case(input=given.input, expected=given.expected,
                                           expected_tools=given.expected_tools, metadata=given.metadata,
                                           id=f"case-{i}")
        if case.id in seen:
            raise SuiteError(f"suite {suite!r}: two cases have the id {case.id!r}")
        seen.add(case.id)
        result.append(case)
    return result


@dataclass(frozen=True)
class SpecAgent:
    """A suite target that is an agent spec file: on the server each case runs as a durable agent run (a
    child `neon.agent_run` workflow, one turn, the case's input as the message). `neon eval` cannot run it
    in-process: calling it raises, so each case is recorded as errored with that reason."""

    path: str

    def __call__(self, value: Any) -> Any:
        raise RuntimeError(f"the agent spec {self.path} runs only as a workflow: start the run on the server "
                           "(POST /api/eval-runs/start, with Temporal)")


def agent_spec(path: str | Path) -> SpecAgent:
    """A suite target naming an agent spec file (relative paths from the defining eval file)."""
    found = Path(path)
    active = _active.get()
    if not found.is_absolute() and active is not None and active[1]:
        found = Path(active[1]).parent / found
    if not found.is_file():
        raise SuiteError(f"agent spec {str(found)!r} does not exist")
    return SpecAgent(str(found.resolve()))


# ---------------------------------------------------------------- discovery
def eval_files(path: str | Path) -> list[Path]:
    """`path` itself if it is a file, else the `eval_*.py` and `*_eval.py` files below it, sorted."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SuiteError(f"eval path {str(root)!r} does not exist")
    found = []
    for file in root.rglob("*.py"):
        if any(part in SKIP_DIRS or part.startswith(".") for part in file.relative_to(root).parts[:-1]):
            continue
        if file.name.startswith("eval_") or file.stem.endswith("_eval"):
            found.append(file)
    return sorted(found)


def discover_suites(path: str | Path) -> SuiteRegistry:
    """Import each eval file below `path` in isolation and return the suites they defined.

    Each file is imported under a unique module name with its folder (and `path`) on `sys.path`, so it can
    import modules beside it; the module is dropped from `sys.modules` afterwards. An import error names the
    file and the error."""
    files = eval_files(path)
    root = Path(path).resolve()
    root_dir = root if root.is_dir() else root.parent
    registry = SuiteRegistry()
    for file in files:
        _import_eval_file(file.resolve(), root_dir, registry)
    return registry


def _import_eval_file(file: Path, root: Path, registry: SuiteRegistry) -> None:
    digest = hashlib.sha1(str(file).encode(), usedforsecurity=False).hexdigest()[:10]
    module_name = f"neon_eval_{digest}_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise SuiteError(f"{file}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    added = [p for p in (str(file.parent), str(root)) if p not in sys.path]
    sys.path[:0] = added
    sys.modules[module_name] = module  # dataclasses and pickling look modules up while the file runs
    try:
        with collecting(registry, str(file)):
            spec.loader.exec_module(module)
    except SuiteError:
        raise
    except Exception as exc:
        raise SuiteError(f"{file}: import failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.modules.pop(module_name, None)
        for p in added:
            if p in sys.path:
                sys.path.remove(p)
