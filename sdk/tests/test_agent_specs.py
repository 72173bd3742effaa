"""Agent spec files: loading, canonical form and versions, every error placed on its file line and field, the
published JSON Schema agreeing with the dataclasses, prompt rendering and diffs."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from neon.execute import (
    AgentSpec,
    ApprovalPolicy,
    Budgets,
    Guardrails,
    LlmRule,
    MaxLengthRule,
    ModelParameters,
    ModelSpec,
    PiiRule,
    PythonImplementation,
    RetryPolicy,
    SpecError,
    TemplateError,
    ToolSpec,
    agent_schema,
    diff_specs,
    format_changes,
    load_spec,
    parse_duration,
    parse_spec,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agents" / "support.yaml"

MINIMAL = {"name": "helper", "model": {"provider": "openai", "name": "gpt-4o-mini"}, "system_prompt": "Help."}


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [str(issue) for issue in caught.value.errors]


# ------------------------------------------------------------------ good specs
def test_example_spec_loads_and_round_trips() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.name == "support"
    assert [t.name for t in spec.tools] == ["lookup_order", "lookup_policy", "issue_refund"]
    assert spec.tool("issue_refund").requires_approval is True
    lookup = PythonImplementation(function="examples.agents.tools:lookup_order")
    assert spec.tool("lookup_order").implementation == lookup
    assert spec.tool("lookup_order").retry == RetryPolicy(max_attempts=3, non_retryable_errors=("OrderNotFound",))
    assert spec.approval.timeout_seconds == 2 * 86400
    assert spec.llm_retry == RetryPolicy(max_attempts=10, initial_interval_seconds=1, backoff_coefficient=2,
                                         max_interval_seconds=60)
    again = AgentSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.version == spec.version
    assert json.loads(spec.canonical_json()) == spec.to_dict()
    jsonschema.validate(spec.to_dict(), agent_schema())  # the canonical form is itself a valid file


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = AgentSpec.from_dict(MINIMAL)
    assert spec.description == ""
    assert spec.tools == ()
    assert spec.evaluation is None
    assert spec.budgets == Budgets(max_steps=50)
    assert spec.approval.timeout_seconds == 7 * 86400
    assert spec.approval.on_timeout == "reject"
    assert spec.llm_retry.max_attempts == 10
    assert spec.llm_retry.max_interval_seconds == 60
    partial = AgentSpec.from_dict({**MINIMAL, "llm_retry": {"initial_interval_seconds": 2}})
    assert partial.llm_retry == RetryPolicy(max_attempts=10, initial_interval_seconds=2)  # LLM defaults kept


def test_schema_defaults_are_the_dataclass_defaults() -> None:
    """Writing out every default the schema documents gives the same spec (and version) as leaving them out."""
    defs = agent_schema()["$defs"]
    explicit = {**MINIMAL, **{key: copy.deepcopy(prop["default"]) for key, prop in agent_schema()["properties"].items()
                              if "default" in prop}}
    explicit["model"] = {**MINIMAL["model"], **{k: p["default"] for k, p in defs["model"]["properties"].items()
                                                 if "default" in p}}
    tool = {"name": "t", "description": "d", "implementation": "m:f"}
    explicit["tools"] = [{**tool, **{k: copy.deepcopy(p["default"]) for k, p in defs["tool"]["properties"].items()
                                     if "default" in p}}]
    explicit["guardrails"] = {"input": [{"type": "pii", **{k: p.get("default") for k, p in
                                                          defs["pii_rule"]["properties"].items() if "default" in p}}]}
    implicit = {**MINIMAL, "tools": [tool], "guardrails": {"input": [{"type": "pii"}]}}
    assert AgentSpec.from_dict(explicit).to_dict() == AgentSpec.from_dict(implicit).to_dict()
    assert AgentSpec.from_dict(explicit).version == AgentSpec.from_dict(implicit).version


def test_version_ignores_formatting_and_changes_with_meaning(tmp_path: Path) -> None:
    base = load_spec(EXAMPLE)
    reformatted = write(tmp_path, """
        # the same agent, written differently: flow style, other key order, defaults spelled out, 48h for 2d
        approval: {on_timeout: reject, timeout: 48h}
        name: support
        model: {name: gpt-4o-mini, provider: openai, parameters: {max_tokens: 800, temperature: 0.20}, base_url: null}
    """)
    original = EXAMPLE.read_text()
    body = original.split("system_prompt:", 1)[1].split("\napproval:", 1)[0]
    evaluation = original.split("\nevaluation:", 1)[1]
    reformatted.write_text(reformatted.read_text() + "description: Answers questions about orders, shipping and "
                           "refunds for the Acme shop\nsystem_prompt:" + body + "\nevaluation:" + evaluation)
    assert load_spec(reformatted).version == base.version

    hotter = EXAMPLE.read_text().replace("temperature: 0.2", "temperature: 0.3")
    assert parse_spec(hotter).version != base.version
    unapproved = EXAMPLE.read_text().replace("requires_approval: true", "requires_approval: false")
    assert parse_spec(unapproved).version != base.version
    assert len(base.version) == 12
    assert int(base.version, 16) >= 0


def test_python_built_spec_equals_the_file_and_validates() -> None:
    built = AgentSpec(
        name="helper", model=ModelSpec(provider="openai", name="gpt-4o-mini", parameters=ModelParameters(top_p=1)),
        system_prompt="Help {{ who }}.", variables={"who": "everyone"},
        tools=(ToolSpec(name="echo", description="Echo", implementation=PythonImplementation(function="m:f"),
                        timeout_seconds=5),),
        guardrails=Guardrails(input=(PiiRule(action="redact"),), output=(MaxLengthRule(chars=10),)),
        approval=ApprovalPolicy(timeout="1d"))
    parsed = parse_spec("""
        name: helper
        model: {provider: openai, name: gpt-4o-mini, parameters: {top_p: 1.0}}
        system_prompt: "Help {{ who }}."
        variables: {who: everyone}
        tools: [{name: echo, description: Echo, implementation: "m:f", timeout_seconds: 5}]
        guardrails: {input: [{type: pii, action: redact}], output: [{type: max_length, chars: 10}]}
        approval: {timeout: 86400}
    """.replace("\n        ", "\n"))
    assert built.version == parsed.version
    with pytest.raises(SpecError) as caught:
        AgentSpec(name="Helper Bot", model=ModelSpec(provider="openai", name="m"), system_prompt="x",
                  tools=(ToolSpec(name="t", description="d", implementation=PythonImplementation(function="m:f"),
                                  retry=RetryPolicy(initial_interval_seconds=5, max_interval_seconds=1)),))
    assert [(e.field, e.line) for e in caught.value.errors] == [("name", None),
                                                                ("tools[0].retry.max_interval_seconds", None)]


def test_judge_model_spellings_mean_the_same() -> None:
    rule = {"type": "llm", "prompt": "Is it polite?"}
    slash = AgentSpec.from_dict({**MINIMAL, "guardrails": {"output": [{**rule, "model": "openai/gpt-4o"}]}})
    colon = AgentSpec.from_dict({**MINIMAL, "guardrails": {"output": [{**rule, "model": "openai:gpt-4o"}]}})
    assert slash.guardrails.output == (LlmRule(prompt="Is it polite?", model="openai:gpt-4o"),)
    assert slash.version == colon.version


# ------------------------------------------------------------------ errors, placed on their lines
BROKEN = """
    name: support
    model:
      provider: openia
      name: gpt-4o-mini
    system_prompt: Help.
    tools:
      - name: lookup_order
        description: Find an order
        implementation: examples.agents.tools:lookup_order
        timout_seconds: 5
      - name: search
        description: Search
        implementation: {python: "search:run"}
        parameters:
          type: array
          items: {type: strng}
      - description: no name here
        implementation: {http: {url: "https://example.test/x"}}
    approval:
      timeout: 7 days
"""


def test_every_error_of_a_file_is_reported_with_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN, "support.yaml")
    assert errors_of(path) == [
        f"{path}:3:13: model.provider: expected one of 'openai', 'anthropic', got 'openia'",
        f"{path}:10:5: tools[0].timout_seconds: unknown key 'timout_seconds' (did you mean 'timeout_seconds'?)",
        f"{path}:15:13: tools[1].parameters.type: expected 'object', got 'array'",
        f"{path}:16:21: tools[1].parameters.items.type: expected one of 'array', 'boolean', 'integer', 'null', "
        "'number', 'object', 'string', got 'strng'",
        f"{path}:17:5: tools[2].name: missing required field",
        f"{path}:20:12: approval.timeout: expected a duration such as '7d', '12h', '30m', '45s' or a number of "
        "seconds; got '7 days'",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("model: {provider: openai, name: m}\nsystem_prompt: x\n", "1:1: name: missing required field"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\nbudget: {max_steps: 3}\n",
     "4:1: budget: unknown key 'budget' (did you mean 'budgets'?)"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\napproval: {timeout: 0d}\n",
     "4:21: approval.timeout: must be longer than zero"),
    ("name: a\nmodel: {provider: mistral, name: m}\nsystem_prompt: x\n",
     "2:19: model.provider: expected one of 'openai', 'anthropic', got 'mistral'"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: 'Hi {{ user }}'\n",
     "3:16: system_prompt: uses {{ user }} but variables does not declare 'user' (add `user: null` under "
     "variables, or a default)"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\nguardrails:\n  input:\n"
     "    - {type: regex, pattern: '(open'}\n",
     "6:30: guardrails.input[0].pattern: not a valid regular expression: missing ), unterminated subpattern at "
     "position 0"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\nguardrails:\n  input:\n"
     "    - {type: json_schema, schema: {}}\n",
     "6:14: guardrails.input[0].type: an input rule's type is regex, deny_list, pii, max_length or llm "
     "(json_schema checks output only); got 'json_schema'"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\nname: b\n",
     "4:1: name: this key is given twice (the last one would silently win)"),
    ("name: a\nmodel: {provider: openai, name: m}\nsystem_prompt: x\nvariables:\n  on: x\n",
     "5:3: variables.on: this key reads as bool True, not as text: quote it"),
    ("name: a\nmodel: {provider: openai, name: m, parameters: {temperature: .nan}}\nsystem_prompt: x\n",
     "2:62: model.parameters.temperature: expected a finite number, got nan"),
    ("name: a\nmodel: {provider: openai, name: m\n", "3:1: name: not valid YAML"),
    ("", "1:1: the file is empty: an agent spec is a mapping with name, model and system_prompt"),
    ("- just\n- a list\n", "1:1: expected object, got array [\"just\", \"a list\"]"),
])
def test_each_kind_of_error_names_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    found = errors_of(path)
    if "not valid YAML" in expected:
        assert found[0].startswith(f"{path}:3:1: not valid YAML"), found
    else:
        assert f"{path}:{expected}" in found, found


def test_spec_error_lists_structured_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, BROKEN))
    first = caught.value.errors[0]
    assert (first.file, first.line, first.column, first.field) == (str(tmp_path / "agent.yaml"), 3, 13,
                                                                     "model.provider")
    assert first.to_dict()["message"].startswith("expected one of")
    with pytest.raises(SpecError) as missing:
        load_spec(tmp_path / "nope.yaml")
    assert "cannot read the file" in str(missing.value)


def test_from_dict_errors_name_fields_without_lines() -> None:
    with pytest.raises(SpecError) as caught:
        AgentSpec.from_dict({**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "m:f",
                                                    "parameters": {"type": "object", "required": "x"}}]})
    assert [str(e) for e in caught.value.errors] == [
        'tools[0].parameters.required: expected array, got string \'x\'']


# ------------------------------------------------------------------ the JSON Schema agrees with the dataclasses
GOOD = [
    MINIMAL,
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": {"http": {"url": "https://x.test"}}}]},
    {**MINIMAL, "guardrails": {"output": [{"type": "json_schema", "schema": {"type": "object"}},
                                          {"type": "deny_list", "words": ["darn"]}, {"type": "llm", "prompt": "ok?"}]}},
    {**MINIMAL, "budgets": {"max_steps": None, "max_cost_usd": 0.5}, "approval": {"timeout": 3600,
                                                                                 "on_timeout": "escalate",
                                                                                 "escalate_to": "ops"}},
    {**MINIMAL, "evaluation": {"suite": "s", "thresholds": {"correct": 0.9}}, "variables": {"x": None}},
]
BAD = [
    {k: v for k, v in MINIMAL.items() if k != "model"},
    {**MINIMAL, "extra": 1},
    {**MINIMAL, "name": "Has Spaces"},
    {**MINIMAL, "model": {"provider": "openai"}},
    {**MINIMAL, "model": {"provider": "openai", "name": "m", "temperature": 1}},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "not-a-path"}]},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": {"python": "m:f", "http": {}}}]},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "m:f",
                           "parameters": {"type": "array"}}]},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "m:f", "retry": {"max_attempts": 0}}]},
    {**MINIMAL, "guardrails": {"input": [{"type": "max_length"}]}},
    {**MINIMAL, "guardrails": {"input": [{"type": "pii", "detect": ["dna"]}]}},
    {**MINIMAL, "guardrails": {"output": [{"type": "regex", "pattern": "x", "action": "mask"}]}},
    {**MINIMAL, "approval": {"timeout": "soon"}},
    {**MINIMAL, "approval": {"on_timeout": "ignore"}},
    {**MINIMAL, "evaluation": {"thresholds": {"x": 0.5}}},
    {**MINIMAL, "variables": {"x": 3}},
]
BEYOND_SCHEMA = [  # the schema cannot say these; the dataclasses refuse them
    {**MINIMAL, "system_prompt": "Hi {{ undeclared }}"},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "m:f",
                           "parameters": {"type": "object", "properties": {"a": {"type": "strng"}}}}]},
    {**MINIMAL, "tools": [{"name": "t", "description": "d", "implementation": "m:f"}] * 2},
    {**MINIMAL, "llm_retry": {"initial_interval_seconds": 10, "max_interval_seconds": 5}},
    {**MINIMAL, "guardrails": {"output": [{"type": "regex", "pattern": "("}]}},
    {**MINIMAL, "approval": {"timeout": "0s"}},
]


def _accepted_by_schema(data: Any) -> bool:
    return not list(jsonschema.Draft202012Validator(agent_schema()).iter_errors(data))


def _accepted_by_dataclasses(data: Any) -> bool:
    try:
        AgentSpec.from_dict(data)
    except SpecError:
        return False
    return True


@pytest.mark.parametrize("data", GOOD + BAD, ids=[f"good{i}" for i in range(len(GOOD))] +
                         [f"bad{i}" for i in range(len(BAD))])
def test_schema_and_dataclasses_accept_the_same_specs(data: dict[str, Any]) -> None:
    expected = data in GOOD
    assert _accepted_by_schema(data) is expected
    assert _accepted_by_dataclasses(data) is expected
    if expected:
        assert _accepted_by_schema(AgentSpec.from_dict(data).to_dict())


@pytest.mark.parametrize("data", BEYOND_SCHEMA)
def test_checks_beyond_the_schema_are_refused_by_the_dataclasses(data: dict[str, Any]) -> None:
    assert _accepted_by_schema(data)
    assert not _accepted_by_dataclasses(data)


# ------------------------------------------------------------------ prompts, durations, diffs
def test_render_system_prompt_names_missing_and_unknown_variables() -> None:
    spec = AgentSpec.from_dict({**MINIMAL, "system_prompt": "{{company}} helps {{ customer }}.",
                                "variables": {"company": "Acme", "customer": None}})
    assert spec.render_system_prompt({"customer": "Ada"}) == "Acme helps Ada."
    assert spec.render_system_prompt({"customer": "Ada", "company": "Initech"}) == "Initech helps Ada."
    with pytest.raises(TemplateError) as missing:
        spec.render_system_prompt()
    assert missing.value.missing == ["customer"]
    assert "no value for customer" in str(missing.value)
    with pytest.raises(TemplateError) as unknown:
        spec.render_system_prompt({"customer": "Ada", "custmer": "x"})
    assert unknown.value.unknown == ["custmer"]


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("12h", 43200), ("30m", 1800), ("45s", 45),
                                               ("1h30m", 5400), ("90", 90), (2.5, 2.5), ("1w", 604800)])
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7 days", "d", "", "-5", "1h-30m", True, -1])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_diff_names_each_changed_field() -> None:
    old = load_spec(EXAMPLE)
    text = (EXAMPLE.read_text().replace("temperature: 0.2", "temperature: 0.5")
            .replace("requires_approval: true", "requires_approval: false")
            .replace("Answer briefly and politely", "Answer briefly")
            .replace("  output:\n    - {type: max_length", "  output:\n    - {type: deny_list, words: [guarantee]}\n"
                                                           "    - {type: max_length"))
    new = parse_spec(text)
    changes = diff_specs(old, new)
    assert [(c.path, c.kind) for c in changes] == [
        ("model.parameters.temperature", "changed"),
        ("system_prompt", "changed"),
        ("tools[issue_refund].requires_approval", "changed"),
        ("guardrails.output[0]", "added"),
    ]
    assert changes[0].old == 0.2
    assert changes[0].new == 0.5
    shown = format_changes(changes)
    assert "~ model.parameters.temperature: 0.2 → 0.5" in shown
    assert "~ tools[issue_refund].requires_approval: true → false" in shown
    assert '+ guardrails.output[0]: {"type": "deny_list"' in shown
    assert "-You are the support assistant of {{ company }}. Answer briefly and politely" in shown
    assert diff_specs(old, old) == []
    assert format_changes([]) == "no changes"
    assert diff_specs(old.to_dict(), new.to_dict()) == changes
