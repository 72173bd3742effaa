"""Agent folders (a bad file never hides the good ones; duplicate names name both files) and `neon agent`:
validate, list, show, diff and schema, through the real command entry point."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import jsonschema
import pytest

from neon.cli.main import main
from neon.execute import agent_schema, load_agents, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agents"
OTHER = """
    name: triage
    description: Sorts tickets
    model: {provider: anthropic, name: claude-sonnet-4-5}
    system_prompt: Sort the ticket.
"""
BAD = """
    name: broken
    model: {provider: openai, name: m}
    system_prompt: Hi
    tools:
      - name: t
        description: d
        implementation: pkg.mod:fn
        timeout: 5
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def agents(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    shutil.copy(EXAMPLES / "support.yaml", folder / "support.yaml")
    write(folder, "triage.yml", OTHER)
    write(folder, "notes.txt", "not a spec")
    write(folder / "drafts", "draft.yaml", "name: [not read: subfolders are skipped")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_loads_every_spec(agents: Path) -> None:
    found = load_agents(agents)
    assert sorted(found.specs) == ["support", "triage"]
    assert found.ok
    assert found.files["triage"].source == str(agents / "triage.yml")


def test_a_bad_file_does_not_hide_the_good_ones_and_duplicates_name_both_files(agents: Path) -> None:
    bad = write(agents, "broken.yaml", BAD)
    twin = write(agents, "triage-copy.yaml", OTHER)
    found = load_agents(agents)
    assert sorted(found.specs) == ["support"]
    assert [str(issue) for issue in found.issues()] == [
        f"{bad}:8:5: tools[0].timeout: unknown key 'timeout' (did you mean 'timeout_seconds'?)",
        f"{twin}:1:7: name: agent name 'triage' is also declared in {agents / 'triage.yml'}; names must be unique "
        "in a folder",
        f"{agents / 'triage.yml'}:1:7: name: agent name 'triage' is also declared in {twin}; names must be unique "
        "in a folder",
    ]


def test_validate_prints_versions_and_every_error(capsys: pytest.CaptureFixture[str], agents: Path) -> None:
    version = load_spec(EXAMPLES / "support.yaml").version
    code, out, _ = run(capsys, "agent", "validate", str(agents))
    assert code == 0
    assert out.splitlines() == [f"ok  support  {version}  {agents / 'support.yaml'}",
                                f"ok  triage  {load_spec(agents / 'triage.yml').version}  {agents / 'triage.yml'}",
                                "2 valid"]
    bad = write(agents.parent, "bad.yaml", BAD.replace("openai", "open-ai"))
    code, out, _ = run(capsys, "agent", "validate", str(agents / "support.yaml"), str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"ok  support  {version}  {agents / 'support.yaml'}",
        f"{bad}:2:19: model.provider: expected one of 'openai', 'anthropic', got 'open-ai'",
        f"{bad}:8:5: tools[0].timeout: unknown key 'timeout' (did you mean 'timeout_seconds'?)",
        "1 valid, 1 with errors (2 errors)",
    ]
    code, _, err = run(capsys, "agent", "validate", str(agents / "nope.yaml"))
    assert code == 2
    assert err == f"neon: {agents / 'nope.yaml'}: no such file or folder\n"


def test_validate_check_tools_reports_bad_import_paths(capsys: pytest.CaptureFixture[str], agents: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example's tools import from the repository root
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    code, out, _ = run(capsys, "agent", "validate", "--check-tools", str(EXAMPLES))
    assert code == 0, out
    text = (EXAMPLES / "support.yaml").read_text().replace("tools:lookup_policy", "tools:lookup_polcy")
    typo = write(agents, "support.yaml", text)
    code, out, _ = run(capsys, "agent", "validate", "--check-tools", str(typo))
    assert code == 1
    assert out.splitlines()[0] == (f"{typo}:33:21: tools[1].implementation: 'examples.agents.tools' has no "
                                   "attribute 'lookup_polcy' (from 'examples.agents.tools:lookup_polcy')")


def test_list_shows_each_agent(capsys: pytest.CaptureFixture[str], agents: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, "agent", "list", "--path", str(agents))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "MODEL", "TOOLS", "DESCRIPTION"]
    assert lines[1].split("  ")[0] == "support"
    assert lines[1].split()[1:4] == [load_spec(agents / "support.yaml").version, "openai:gpt-4o-mini",
                                     "lookup_order,"]
    assert "lookup_order, lookup_policy, issue_refund  Answers questions about orders" in lines[1]
    assert lines[2].split()[2:5] == ["anthropic:claude-sonnet-4-5", "-", "Sorts"]
    write(agents, "broken.yaml", BAD)
    monkeypatch.setenv("NEON_AGENTS_PATH", str(agents))  # the default folder
    code, out, err = run(capsys, "agent", "list")
    assert code == 1
    assert len(out.splitlines()) == 3
    assert "broken.yaml:8:5: tools[0].timeout: unknown key" in err
    code, _, err = run(capsys, "agent", "list", "--path", str(agents / "missing"))
    assert code == 2
    assert "the agents folder does not exist" in err


def test_show_prints_the_normalised_spec(capsys: pytest.CaptureFixture[str], agents: Path) -> None:
    spec = load_spec(agents / "support.yaml")
    code, out, _ = run(capsys, "agent", "show", "support", "--path", str(agents))
    assert code == 0
    assert out.splitlines()[0] == (f"# support · version {spec.version} · {agents / 'support.yaml'} "
                                   "(normalised: every default filled in)")
    assert "  timeout: 172800.0\n" in out
    assert "system_prompt: |\n  You are the support assistant" in out
    assert parse_spec(out).version == spec.version  # what show prints is the same agent
    code, out, _ = run(capsys, "agent", "show", str(agents / "triage.yml"), "--json")
    shown = json.loads(out)
    assert shown["name"] == "triage"
    assert shown["version"] == load_spec(agents / "triage.yml").version
    jsonschema.validate(shown["spec"], agent_schema())
    code, _, err = run(capsys, "agent", "show", "nobody", "--path", str(agents))
    assert code == 2
    assert err.startswith("neon: no agent 'nobody' in ")
    assert "(agents there: support, triage)" in err


def test_diff_prints_the_changed_fields(capsys: pytest.CaptureFixture[str], agents: Path) -> None:
    changed = (agents / "support.yaml").read_text().replace("max_steps: 20", "max_steps: 30")
    candidate = write(agents.parent, "candidate.yaml", changed.replace("timeout: 2d", "timeout: 3d"))
    old, new = load_spec(agents / "support.yaml"), load_spec(candidate)
    code, out, _ = run(capsys, "agent", "diff", "support", str(candidate), "--path", str(agents))
    assert code == 0
    assert out.splitlines() == [
        f"support {old.version} ({agents / 'support.yaml'}) → support {new.version} ({candidate}): 2 changes",
        "~ budgets.max_steps: 20 → 30",
        "~ approval.timeout: 172800.0 → 259200.0",
    ]
    code, out, _ = run(capsys, "agent", "diff", str(candidate), str(candidate))
    assert code == 0
    assert out.endswith(": 0 changes\n")


def test_schema_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "agent", "schema")
    assert code == 0
    assert json.loads(out) == agent_schema()
    code, out, _ = run(capsys, "agent")
    assert code == 0
    assert "validate" in out
    assert "diff" in out
