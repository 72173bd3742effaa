"""Suites: declaring them, discovering them from eval files in isolation, and loading dataset files."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from neon.evaluate import Case, Dataset, DatasetError, Score, SuiteError, define_suite, define_test, discover_suites
from neon.evaluate.suites import SuiteRegistry, collecting, eval_files


class Exact:
    name = "exact"

    def __call__(self, case: Case, outcome: object) -> Score:
        return Score("exact", 1.0)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


SUITE_FILE = """
    from neon.evaluate import Case, Score, define_suite
    from helper import answer  # a module beside the eval file

    class Exact:
        name = "exact"
        def __call__(self, case, outcome):
            return Score("exact", 1.0 if outcome.output == case.expected else 0.0)

    define_suite("{name}", agent=answer, scorers=[Exact()],
                 cases=[Case(input="a", expected="A"), Case(input="b", expected="B", id="bee")])
"""


def test_discovery_finds_eval_files_imports_siblings_and_leaves_nothing_behind(tmp_path: Path) -> None:
    write(tmp_path / "evals" / "helper.py", "def answer(x):\n    return x.upper()\n")
    write(tmp_path / "evals" / "eval_core.py", SUITE_FILE.format(name="core"))
    write(tmp_path / "evals" / "nested" / "billing_eval.py",
          SUITE_FILE.format(name="billing").replace("from helper", "from evals_helper"))
    write(tmp_path / "evals" / "nested" / "evals_helper.py", "def answer(x):\n    return x\n")
    write(tmp_path / "evals" / "evaluation_notes.py", "raise RuntimeError('must not be imported')\n")
    write(tmp_path / "evals" / ".venv" / "eval_hidden.py", "raise RuntimeError('must not be imported')\n")
    modules_before = set(sys.modules)
    path_before = list(sys.path)

    registry = discover_suites(tmp_path / "evals")

    assert [s.name for s in registry] == ["core", "billing"]
    core = registry.get("core")
    assert [c.id for c in core.cases] == ["case-1", "bee"]  # ids by position unless given
    assert core.source.endswith("eval_core.py")
    assert not {m for m in set(sys.modules) - modules_before if m.startswith("neon_eval_")}
    assert sys.path == path_before
    # a second discovery gets its own registry: no "defined twice" from the first one
    assert [s.name for s in discover_suites(tmp_path / "evals")] == ["core", "billing"]


def test_defining_outside_discovery_registers_nothing() -> None:
    suite = define_suite("loose", agent=str.upper, cases=[Case(input="x")])
    assert suite.name == "loose"
    registry = SuiteRegistry()
    with collecting(registry):
        define_suite("inside", agent=str.upper, cases=[Case(input="x")])
    assert [s.name for s in registry] == ["inside"]


def test_discovery_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="does not exist"):
        discover_suites(tmp_path / "missing")
    bad = write(tmp_path / "e1" / "eval_bad.py", "import no_such_module_here\n")
    with pytest.raises(SuiteError, match=r"eval_bad\.py: import failed: ModuleNotFoundError"):
        discover_suites(bad.parent)
    write(tmp_path / "e2" / "eval_a.py", SUITE_FILE.format(name="same").replace("from helper import answer",
                                                                               "answer = str.upper"))
    write(tmp_path / "e2" / "eval_b.py", SUITE_FILE.format(name="same").replace("from helper import answer",
                                                                               "answer = str.upper"))
    with pytest.raises(SuiteError, match="'same' is defined twice"):
        discover_suites(tmp_path / "e2")
    registry = discover_suites(tmp_path / "e2" / "eval_a.py")  # a single file works too
    with pytest.raises(SuiteError, match=r"no suite named 'other' \(found: same\)"):
        registry.get("other")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cases": []}, "has no cases"),
    ({"cases": [Case(input=1, id="x"), Case(input=2, id="x")]}, "two cases have the id 'x'"),
    ({"cases": [Case(input=1)], "scorers": [lambda c, o: None]}, "is not a scorer"),
    ({"cases": [Case(input=1)], "scorers": [Exact(), Exact()]}, "two scorers are named 'exact'"),
    ({"cases": [Case(input=1)], "concurrency": 0}, "concurrency must be at least 1"),
    ({"cases": [{"inputs": 1}]}, "unknown key"),
    ({"cases": [42]}, "cases must be Case"),
])
def test_bad_suites_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((SuiteError, DatasetError), match=message):
        define_suite("bad", agent=str.upper, **kwargs)  # type: ignore[arg-type]


def test_define_test_adds_its_own_scorers_and_dataset_files_resolve_beside_the_eval_file(tmp_path: Path) -> None:
    write(tmp_path / "cases.yaml", """
        name: support-cases
        cases:
          - {input: "hi", expected: "HI", id: greet}
          - input: {question: "refund?"}
            expected_tools: [lookup_policy]
            metadata: {topic: refunds}
    """)
    write(tmp_path / "eval_x.py", """
        from neon.evaluate import define_suite, define_test, Score

        class Polite:
            name = "polite"
            def __call__(self, case, outcome):
                return Score("polite", 1.0)

        define_suite("x", agent=str, dataset="cases.yaml",
                     cases=[define_test("extra", input="yo", scorers=[Polite()])])
    """)
    suite = discover_suites(tmp_path).get("x")
    assert suite.dataset == "support-cases"
    assert [c.id for c in suite.cases] == ["greet", "case-2", "extra"]
    assert suite.cases[1].expected_tools == ["lookup_policy"]
    assert suite.cases[1].metadata == {"topic": "refunds"}
    assert [s.name for s in suite.scorers_for(suite.cases[2])] == ["polite"]
    assert suite.scorers_for(suite.cases[0]) == []
    assert define_test("t", input=1).case.id == "t"


def test_dataset_files_jsonl_yaml_json(tmp_path: Path) -> None:
    rows = [{"input": "a", "expected": "A", "id": "1"}, {"input": {"q": 2}, "metadata": {"k": "v"}}]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "d.yml").write_text("- input: a\n  expected: A\n  id: '1'\n- input: {q: 2}\n  metadata: {k: v}\n")
    loaded = [Dataset.from_file(tmp_path / n) for n in ("d.jsonl", "d.json", "d.yml")]
    assert all(d.name == "d" for d in loaded)
    assert all(d.to_dicts() == rows for d in loaded)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.jsonl", '{"input": 1}\n{"input": 2,\n', r"bad\.jsonl line 2: not valid JSON"),
    ("bad.jsonl", '{"expected": 1}\n', r"line 1: 'input' is required"),
    ("bad.yaml", "input: [", "not valid YAML"),
    ("bad.yaml", "just text", "expected a list of cases"),
    ("bad.json", '[{"input": 1, "expected_tools": "search"}]', "'expected_tools' must be a list"),
    ("bad.csv", "input\n1\n", "unknown format '.csv'"),
])
def test_bad_dataset_files_name_the_place_and_the_problem(tmp_path: Path, name: str, text: str,
                                                          message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DatasetError, match=message):
        Dataset.from_file(tmp_path / name)


def test_missing_dataset_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No such file"):
        Dataset.from_file(tmp_path / "nope.jsonl")


def test_eval_files_single_file_and_sorting(tmp_path: Path) -> None:
    a = write(tmp_path / "b" / "eval_z.py", "")
    b = write(tmp_path / "a" / "x_eval.py", "")
    assert eval_files(tmp_path) == [b, a]
    assert eval_files(a) == [a]
