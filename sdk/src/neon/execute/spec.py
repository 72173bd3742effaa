"""Agent specs: an agent declared as a YAML file (or built in Python) — model, system prompt, tools, guardrails,
budgets, approvals, evaluation — validated with every error placed on its file line, and versioned by content.

    spec = load_spec("agents/support.yaml")        # SpecError lists every problem as file:line:col: field: message
    spec.version                                   # '3f2a9c1b7d0e': sha256 of the canonical JSON, first 12 hex
    spec.render_system_prompt({"customer": "Ada"})
    AgentSpec.from_dict(spec.to_dict()) == spec

The format is published as a JSON Schema (`agent.schema.json`, `neon agent schema`); files are checked against it
and against what the schema cannot say (`checks.py`). Building an `AgentSpec` in Python runs the same checks on its
canonical form, so both ways accept exactly the same specs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from neon.execute import _codec
from neon.execute.checks import DURATION_UNITS, parse_duration, placeholders, spec_problems
from neon.execute.errors import SpecError, SpecIssue, TemplateError, format_path
from neon.execute.schema import Problem
from neon.execute.yaml_source import YamlDocument, YamlSyntaxError, read_yaml

__all__ = [
    "DURATION_UNITS", "PII_KINDS", "AgentSpec", "ApprovalPolicy", "Budgets", "DenyListRule", "Evaluation",
    "Guardrails", "HttpImplementation", "InputRule", "JsonSchemaRule", "LlmRule", "MaxLengthRule", "ModelParameters",
    "ModelSpec", "OutputRule", "PiiRule", "PythonImplementation", "RegexRule", "RetryPolicy", "Rule", "SpecFile",
    "ToolSpec", "load_spec", "load_spec_file", "parse_duration", "parse_spec",
]

Provider = Literal["openai", "anthropic"]
Action = Literal["block", "redact"]
PiiKind = Literal["email", "phone", "credit_card", "ssn", "iban", "ip_address"]
OnTimeout = Literal["reject", "approve", "escalate"]
HttpMethod = Literal["POST", "PUT", "PATCH", "GET"]
PII_KINDS: tuple[PiiKind, ...] = ("email", "phone", "credit_card", "ssn", "iban", "ip_address")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


# ------------------------------------------------------------------ model and tools
@dataclass(frozen=True, kw_only=True)
class ModelParameters:
    """Sampling parameters sent with every LLM call (None: the provider's default)."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Which model answers: `provider` is `openai` (or any OpenAI-compatible server at `base_url`) or `anthropic`."""

    provider: Provider
    name: str
    base_url: str | None = None
    parameters: ModelParameters = ModelParameters()

    @property
    def ref(self) -> str:
        """`provider:name`, as `neon.llm.get_provider` takes it."""
        return f"{self.provider}:{self.name}"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retries with exponential backoff (Temporal's retry policy); exception types in `non_retryable_errors`
    fail at once."""

    max_attempts: int = 3
    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval_seconds: float = 60.0
    non_retryable_errors: tuple[str, ...] = ()


LLM_RETRY = RetryPolicy(max_attempts=10, initial_interval_seconds=1.0, backoff_coefficient=2.0,
                        max_interval_seconds=60.0)


@dataclass(frozen=True, kw_only=True)
class PythonImplementation:
    """A Python function, `package.module:function` (an attribute path after the colon works too)."""

    wrapped_as: ClassVar[str] = "python"
    function: str


@dataclass(frozen=True, kw_only=True)
class HttpImplementation:
    """An HTTP endpoint called with the arguments as JSON (query parameters for GET); `${VAR}` in header values
    is read from the environment at call time, so secrets stay out of spec files."""

    wrapped_as: ClassVar[str] = "http"
    url: str
    method: HttpMethod = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | None = None


Implementation = PythonImplementation | HttpImplementation


def _empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A tool the model may call: its arguments' JSON Schema (of type object), how it runs, how long one attempt
    may take, how it is retried, and whether a person approves each call first."""

    name: str
    description: str
    implementation: Implementation
    parameters: Mapping[str, Any] = field(default_factory=_empty_object_schema)
    timeout_seconds: float = 60.0
    retry: RetryPolicy = RetryPolicy()
    requires_approval: bool = False


# ------------------------------------------------------------------ guardrails
@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every guardrail rule has: a `name` for results and spans (default: its type) and the `message` told
    to the user when it blocks (default: the reason)."""

    type: ClassVar[str] = ""
    name: str = ""
    message: str = ""

    @property
    def label(self) -> str:
        return self.name or self.type


@dataclass(frozen=True, kw_only=True)
class RegexRule(Rule):
    """Text matching `pattern` (Python `re`, searched anywhere) is blocked, or the matches redacted."""

    type: ClassVar[str] = "regex"
    pattern: str
    action: Action = "block"


@dataclass(frozen=True, kw_only=True)
class DenyListRule(Rule):
    """Any of `words` (whole words or phrases) blocks the text."""

    type: ClassVar[str] = "deny_list"
    words: tuple[str, ...]
    case_sensitive: bool = False


@dataclass(frozen=True, kw_only=True)
class PiiRule(Rule):
    """Personal data (`detect`: email, phone, credit_card (Luhn), ssn, iban (mod 97), ip_address) is blocked or
    redacted."""

    type: ClassVar[str] = "pii"
    detect: tuple[PiiKind, ...] = PII_KINDS
    action: Action = "block"


@dataclass(frozen=True, kw_only=True)
class MaxLengthRule(Rule):
    """Text longer than `chars` characters is blocked."""

    type: ClassVar[str] = "max_length"
    chars: int


@dataclass(frozen=True, kw_only=True)
class JsonSchemaRule(Rule):
    """(Output only.) The answer must be JSON valid against `schema`."""

    type: ClassVar[str] = "json_schema"
    schema: Mapping[str, Any]


def _model_ref(value: str) -> str:
    """`openai/gpt-4o` and `openai:gpt-4o` mean the same judge: the canonical form is `openai:gpt-4o`."""
    match = re.fullmatch(r"(openai|anthropic)[:/](.+)", value, flags=re.DOTALL)
    if match is None:
        raise ValueError(f"not provider:model: {value!r}")
    return f"{match.group(1)}:{match.group(2)}"


@dataclass(frozen=True, kw_only=True)
class LlmRule(Rule):
    """A judge model checks the text against `prompt`; `model` is `provider:model` (default: the agent's)."""

    type: ClassVar[str] = "llm"
    prompt: str
    model: str | None = field(default=None, metadata={"canonical": _model_ref})


InputRule = RegexRule | DenyListRule | PiiRule | MaxLengthRule | LlmRule
OutputRule = RegexRule | DenyListRule | PiiRule | MaxLengthRule | JsonSchemaRule | LlmRule
RULE_TYPES: dict[str, type[Rule]] = {cls.type: cls for cls in (RegexRule, DenyListRule, PiiRule, MaxLengthRule,
                                                               JsonSchemaRule, LlmRule)}


@dataclass(frozen=True, kw_only=True)
class Guardrails:
    """Rules checked on the user's input before the model sees it, and on the answer before the user does."""

    input: tuple[InputRule, ...] = ()
    output: tuple[OutputRule, ...] = ()


# ------------------------------------------------------------------ budgets, approval, evaluation
@dataclass(frozen=True, kw_only=True)
class Budgets:
    """Limits of one run (None: no limit). Steps count LLM and tool calls."""

    max_steps: int | None = 50
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalPolicy:
    """How long a call that needs approval waits (`timeout`: seconds or '7d', '12h', '30m'), and what happens then."""

    timeout: float | str = field(default="7d", metadata={"canonical": parse_duration})
    on_timeout: OnTimeout = "reject"
    escalate_to: str | None = None

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """The eval suite that gates this agent and the minimum mean score (0–1) per scorer."""

    suite: str
    thresholds: Mapping[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ the agent
@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """An agent, validated when built: a SpecError lists every problem with its field path."""

    name: str
    description: str = ""
    model: ModelSpec
    system_prompt: str
    variables: Mapping[str, str | None] = field(default_factory=dict)
    tools: tuple[ToolSpec, ...] = ()
    guardrails: Guardrails = Guardrails()
    budgets: Budgets = Budgets()
    approval: ApprovalPolicy = ApprovalPolicy()
    evaluation: Evaluation | None = None
    llm_retry: RetryPolicy = LLM_RETRY

    def __post_init__(self) -> None:
        problems = spec_problems(self.to_dict())
        if problems:
            raise SpecError([SpecIssue(format_path(p.path), p.message) for p in problems])

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: every field with defaults filled in, durations in seconds, JSON types only."""
        data: dict[str, Any] = _codec.dump(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentSpec:
        """A spec from plain data (a file's content or `to_dict()`); SpecError lists every problem."""
        problems = spec_problems(data)
        if problems:
            raise SpecError([SpecIssue(format_path(p.path), p.message) for p in problems])
        spec: AgentSpec = _codec.load(cls, data)
        return spec

    def canonical_json(self) -> str:
        """`to_dict()` as compact JSON with sorted keys: what the version hashes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)

    @functools.cached_property
    def version(self) -> str:
        """First 12 hex digits of the sha256 of the canonical JSON: formatting and comments do not change it,
        any change of meaning does."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    def tool(self, name: str) -> ToolSpec:
        """The tool called `name`; KeyError if there is none."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(f"agent {self.name!r} has no tool {name!r}")

    def render_system_prompt(self, variables: Mapping[str, Any] | None = None) -> str:
        """The system prompt with its `{{ name }}` placeholders filled from `variables` over the declared defaults.
        TemplateError names every variable that has no value, and every given one that is not declared."""
        given = dict(variables or {})
        unknown = sorted(set(given) - set(self.variables))
        values = {k: v for k, v in self.variables.items() if v is not None} | given
        missing = sorted(set(placeholders(self.system_prompt)) - set(values))
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"no value for {', '.join(missing)} (give it, or declare a default under variables)")
            if unknown:
                parts.append(f"not declared in variables: {', '.join(unknown)}")
            raise TemplateError(f"agent {self.name!r}: cannot render the system prompt: {'; '.join(parts)}",
                                missing=missing, unknown=unknown)
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.system_prompt)


# ------------------------------------------------------------------ files
@dataclass(frozen=True)
class SpecFile:
    """A spec read from a file, with where each field is written (for errors found later, e.g. a tool that
    does not import)."""

    spec: AgentSpec
    source: str
    document: YamlDocument = field(repr=False, compare=False)

    def issue(self, path: tuple[str | int, ...], message: str, *, at_key: bool = False) -> SpecIssue:
        """A SpecIssue about `path` in this file, placed on its line."""
        return _issue(self.source, self.document, Problem(path, message, at_key))


def parse_spec(text: str, *, source: str = "<string>") -> AgentSpec:
    """A spec from YAML text; SpecError lists every problem as `source:line:col: field: message`."""
    return _parse(text, source).spec


def load_spec(path: str | Path) -> AgentSpec:
    """A spec from a YAML file; SpecError lists every problem as `path:line:col: field: message`."""
    return load_spec_file(path).spec


def load_spec_file(path: str | Path) -> SpecFile:
    """A spec from a YAML file, with the places of its fields."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecIssue("", f"cannot read the file: {exc}", file=source)], source=source) from None
    return _parse(text, source)


def _parse(text: str, source: str) -> SpecFile:
    try:
        document = read_yaml(text)
    except YamlSyntaxError as exc:
        mark = exc.mark
        raise SpecError([SpecIssue("", f"not valid YAML: {exc.message}", source, mark.line if mark else None,
                                   mark.column if mark else None)], source=source) from None
    if document.data is None:
        raise SpecError([SpecIssue("", "the file is empty: an agent spec is a mapping with name, model and "
                                       "system_prompt", source, 1, 1)], source=source)
    problems = [Problem(path, "this key is given twice (the last one would silently win)", at_key=True)
                for path in document.duplicates]
    problems += [Problem(path, f"this key reads as {type(read).__name__} {read!r}, not as text: quote it",
                         at_key=True) for path, read in document.odd_keys]
    problems += spec_problems(document.data)
    if problems:
        issues = sorted((_issue(source, document, p) for p in problems),
                        key=lambda i: (i.line or 0, i.column or 0, i.field))
        raise SpecError(issues, source=source)
    try:
        spec: AgentSpec = _codec.load(AgentSpec, document.data)
    except SpecError as exc:  # the canonical form failed a check the file passed: still say where
        raise SpecError([SpecIssue(e.field, e.message, source) for e in exc.errors], source=source) from None
    return SpecFile(spec, source, document)


def _issue(source: str, document: YamlDocument, problem: Problem) -> SpecIssue:
    mark = document.place(problem.path, at_key=problem.at_key)
    return SpecIssue(format_path(problem.path), problem.message, source, mark.line if mark else None,
                     mark.column if mark else None)
