"""Execute: agents declared as versioned spec files, and what runs them.

Needs the `agents` extra (`pip install 'neon[agents]'`).

    from neon.execute import load_spec, load_agents, resolve_tool, validate_arguments, check

    spec = load_spec("agents/support.yaml")      # SpecError: every problem as file:line:col: field: message
    spec.version                                 # content hash: changes with meaning, not with formatting
    prompt = spec.render_system_prompt({"customer": "Ada"})

    tool = spec.tool("lookup_order")
    validate_arguments(tool, {"order_id": "A1001"})      # ToolArgumentsError names every bad field
    result = await resolve_tool(tool)({"order_id": "A1001"})

    results = await check(spec.guardrails.input, user_text, stage="input", judge=judge)

    found = load_agents("agents")                # {name: spec} and the errors of the files that failed

The file format is documented in docs/agents.md and published as a JSON Schema (`neon agent schema`).
"""

from neon.execute.diff import MISSING, SpecChange, diff_specs, format_changes
from neon.execute.errors import SpecError, SpecIssue, TemplateError
from neon.execute.folder import AgentFolder, agents_path, load_agents
from neon.execute.guardrails import GuardrailResult, Judge, blocked, check, check_rule, check_sync, final_text
from neon.execute.schema import agent_schema, schema_text
from neon.execute.spec import (
    PII_KINDS,
    AgentSpec,
    ApprovalPolicy,
    Budgets,
    DenyListRule,
    Evaluation,
    Guardrails,
    HttpImplementation,
    InputRule,
    JsonSchemaRule,
    LlmRule,
    MaxLengthRule,
    ModelParameters,
    ModelSpec,
    OutputRule,
    PiiRule,
    PythonImplementation,
    RegexRule,
    RetryPolicy,
    Rule,
    SpecFile,
    ToolSpec,
    load_spec,
    load_spec_file,
    parse_duration,
    parse_spec,
)
from neon.execute.tools import (
    ToolArgumentsError,
    ToolError,
    ToolFunction,
    ToolHTTPError,
    ToolResolutionError,
    resolve_tool,
    validate_arguments,
)

__all__ = [
    "MISSING",
    "PII_KINDS",
    "AgentFolder",
    "AgentSpec",
    "ApprovalPolicy",
    "Budgets",
    "DenyListRule",
    "Evaluation",
    "GuardrailResult",
    "Guardrails",
    "HttpImplementation",
    "InputRule",
    "JsonSchemaRule",
    "Judge",
    "LlmRule",
    "MaxLengthRule",
    "ModelParameters",
    "ModelSpec",
    "OutputRule",
    "PiiRule",
    "PythonImplementation",
    "RegexRule",
    "RetryPolicy",
    "Rule",
    "SpecChange",
    "SpecError",
    "SpecFile",
    "SpecIssue",
    "TemplateError",
    "ToolArgumentsError",
    "ToolError",
    "ToolFunction",
    "ToolHTTPError",
    "ToolResolutionError",
    "ToolSpec",
    "agent_schema",
    "agents_path",
    "blocked",
    "check",
    "check_rule",
    "check_sync",
    "diff_specs",
    "final_text",
    "format_changes",
    "load_agents",
    "load_spec",
    "load_spec_file",
    "parse_duration",
    "parse_spec",
    "resolve_tool",
    "schema_text",
    "validate_arguments",
]
