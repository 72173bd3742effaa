"""Scorer specs: a built-in scorer and its arguments as plain JSON, so scorers can travel in API requests, be
stored in online evaluation rules and be typed on a command line.

    {"scorer": "contains", "args": {"needles": ["refund", "credit"], "mode": "any"}}
    {"scorer": "llm_judge", "args": {"rubric": "Polite and on topic", "threshold": 0.7}}
    {"scorer": "json_valid"}

`args` are the keyword arguments of the scorer's Python constructor (docs/scorers.md), limited to JSON values:
arguments that only make sense in code (a `normalize` function, a provider object) are not offered. Every
problem raises `SpecError` with a message naming the scorer and the argument, so an API can answer 4xx with it.

Judges take their provider from `args.provider` ("openai:gpt-4o-mini") or from the environment
(`NEON_LLM_PROVIDER`, `NEON_LLM_MODEL`, `OPENAI_BASE_URL`… — `neon.llm.config`), resolved when the spec is
built, so a missing provider is reported when a rule is saved rather than on every trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neon.evaluate import scorers as S
from neon.evaluate.types import Scorer
from neon.llm.base import LLMConfigError
from neon.llm.config import get_provider


class SpecError(ValueError):
    """A scorer spec that cannot be built; the message says which scorer and argument, and why."""


@dataclass(frozen=True)
class Kind:
    """What JSON an argument accepts (`check`), and how it becomes the constructor's value (`convert`)."""

    description: str
    check: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda value: value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)


def _is_prices(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _is_pair(v) for k, v in value.items())


def _choice(*allowed: str) -> Kind:
    return Kind(" or ".join(repr(a) for a in allowed), lambda value: value in allowed)


def _nullable(kind: Kind) -> Kind:
    return Kind(f"{kind.description} or null", lambda value: value is None or kind.check(value),
                lambda value: None if value is None else kind.convert(value))


STRING = Kind("a string", lambda value: isinstance(value, str))
BOOL = Kind("true or false", lambda value: isinstance(value, bool))
NUMBER = Kind("a number", _is_number)
COUNT = Kind("a whole number", lambda value: isinstance(value, int) and not isinstance(value, bool))
STRINGS = Kind("a list of strings", _is_strings)
TEXT_OR_STRINGS = Kind("a string or a list of strings", lambda value: isinstance(value, str) or _is_strings(value))
OBJECT = Kind("an object", lambda value: isinstance(value, dict))
ANY = Kind("any JSON value", lambda value: True)
PAIR = Kind("a list of two numbers [low, high]", _is_pair, tuple)
PRICES = Kind('an object of model → [input, output] USD per million tokens', _is_prices,
              lambda value: {k: (float(v[0]), float(v[1])) for k, v in value.items()})

OUTPUT_RULE = {"field": STRING, "name": STRING, "threshold": NUMBER}
JUDGE = {"name": STRING, "provider": STRING, "prompt": STRING, "system": STRING, "scale": PAIR,
         "threshold": _nullable(NUMBER), "temperature": NUMBER, "max_tokens": COUNT, "requires": STRINGS,
         "data_type": _choice("numeric", "boolean", "categorical"), "max_chars": COUNT}


@dataclass(frozen=True)
class Builtin:
    """A built-in scorer as specs name it: its factory, its arguments' kinds, and which are required."""

    factory: Callable[..., Scorer]
    args: Mapping[str, Kind]
    required: tuple[str, ...] = ()
    judge: bool = False
    summary: str = ""


BUILTINS: dict[str, Builtin] = {
    "contains": Builtin(S.contains, {"needles": TEXT_OR_STRINGS, "mode": _choice("any", "all"),
                                     "case_sensitive": BOOL, **OUTPUT_RULE},
                        summary="the output contains the needles (or case.expected)"),
    "regex": Builtin(S.regex, {"pattern": STRING, "ignore_case": BOOL, "full_match": BOOL, **OUTPUT_RULE},
                     required=("pattern",), summary="the output matches a regular expression"),
    "exact_match": Builtin(S.exact_match, {"expected": ANY, "case_sensitive": BOOL, "strip": BOOL,
                                           "collapse_whitespace": BOOL, "ignore_punctuation": BOOL, **OUTPUT_RULE},
                           summary="the output equals `expected` (or case.expected)"),
    "json_valid": Builtin(S.json_valid, {"strip_code_fence": BOOL, **OUTPUT_RULE},
                          summary="the output is valid JSON"),
    "json_schema": Builtin(S.json_schema, {"schema": OBJECT, "strip_code_fence": BOOL, **OUTPUT_RULE},
                           required=("schema",), summary="the output is valid against a JSON Schema"),
    "numeric_close": Builtin(S.numeric_close, {"expected": NUMBER, "abs_tol": NUMBER, "rel_tol": NUMBER,
                                               "extract": _choice("first", "last", "only"), **OUTPUT_RULE},
                             summary="the output is a number close to `expected` (or case.expected)"),
    "tool_selection": Builtin(S.tool_selection, {"expected": STRINGS, "ordered": BOOL, "name": STRING,
                                                 "threshold": NUMBER},
                              summary="the tools called against the expected tools"),
    "termination": Builtin(S.termination, {"max_steps": COUNT, "max_identical_calls": COUNT,
                                           "require_output": BOOL, "require_expected_tools": BOOL, "name": STRING},
                           summary="no loops, no step-limit overrun, no premature stop"),
    "efficiency": Builtin(S.efficiency, {"max_steps": COUNT, "max_tokens": COUNT, "max_duration_ms": NUMBER,
                                         "name": STRING, "threshold": NUMBER},
                          summary="steps, tokens and time against budgets"),
    "latency_budget": Builtin(S.latency_budget, {"max_ms": NUMBER, "name": STRING}, required=("max_ms",),
                              summary="the trace's duration within max_ms"),
    "cost_budget": Builtin(S.cost_budget, {"max_usd": NUMBER, "prices": PRICES, "name": STRING},
                           required=("max_usd",), summary="the trace's cost within max_usd"),
    "llm_judge": Builtin(S.llm_judge, {"rubric": STRING, **JUDGE}, required=("rubric",), judge=True,
                         summary="an LLM grades the output against your rubric"),
    "reasoning_quality": Builtin(S.reasoning_quality, JUDGE, judge=True, summary="an LLM grades the agent's steps"),
    "grounding": Builtin(S.grounding, JUDGE, judge=True, summary="the output's claims supported by tool outputs"),
    "factuality": Builtin(S.factuality, JUDGE, judge=True, summary="agreement with case.expected on the facts"),
    "relevance": Builtin(S.relevance, JUDGE, judge=True, summary="the output addresses the input"),
    "safety": Builtin(S.safety, JUDGE, judge=True, summary="the output is safe to show (pass/fail)"),
}


@dataclass(frozen=True)
class ScorerSpec:
    """A built-in scorer's name and its arguments, as JSON."""

    scorer: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "args": dict(self.args)}


def parse_spec(data: Any, *, where: str = "scorer") -> ScorerSpec:
    """A ScorerSpec from its JSON (`{"scorer": NAME, "args": {...}}`) or a bare scorer name; checks the scorer
    exists and every argument is known and of the right kind (building it may still find more: `build_scorer`)."""
    if isinstance(data, str):
        data = {"scorer": data}
    if not isinstance(data, Mapping):
        raise SpecError(f'{where} must be an object like {{"scorer": "contains", "args": {{...}}}} or a scorer name')
    unknown_keys = sorted(set(data) - {"scorer", "args"})
    if unknown_keys:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown_keys)}; a spec has 'scorer' and 'args'")
    name = data.get("scorer")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}.scorer must be the name of a built-in scorer: {', '.join(BUILTINS)}")
    builtin = BUILTINS.get(name)
    if builtin is None:
        raise SpecError(f"{where}.scorer: unknown scorer {name!r}; known: {', '.join(BUILTINS)}")
    args = data.get("args")
    args = {} if args is None else args
    if not isinstance(args, Mapping):
        raise SpecError(f"{where}.args must be an object of {name}'s arguments")
    unknown = sorted(set(args) - set(builtin.args))
    if unknown:
        raise SpecError(f"{where}: {name} has no argument(s) {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(builtin.args)}")
    missing = [arg for arg in builtin.required if arg not in args]
    if missing:
        raise SpecError(f"{where}: {name} needs {', '.join(map(repr, missing))}")
    for arg, value in args.items():
        kind = builtin.args[arg]
        if not kind.check(value):
            raise SpecError(f"{where}.args.{arg} must be {kind.description}, got {json.dumps(value, default=str)}")
    return ScorerSpec(name, dict(args))


def spec_from_text(text: str) -> ScorerSpec:
    """A spec as typed on a command line: `json_valid`, `contains:{"needles": "refund"}` or the whole JSON."""
    text = text.strip()
    try:
        if text.startswith("{"):
            return parse_spec(json.loads(text))
        name, sep, rest = text.partition(":")
        return parse_spec({"scorer": name, "args": json.loads(rest) if sep else {}})
    except json.JSONDecodeError as exc:
        raise SpecError(f"scorer {text!r}: the arguments are not valid JSON ({exc.msg} at column {exc.colno}); "
                        'write NAME or NAME:{"arg": value}') from None


def build_scorer(spec: ScorerSpec, *, env: Mapping[str, str] | None = None, where: str = "scorer") -> Scorer:
    """The scorer a (parsed) spec describes. Judges get their provider from `args.provider` or `env` (default:
    the process environment). Raises SpecError when the scorer refuses its arguments."""
    builtin = BUILTINS[spec.scorer]
    kwargs = {arg: builtin.args[arg].convert(value) for arg, value in spec.args.items()}
    try:
        if builtin.judge:
            kwargs["provider"] = get_provider(kwargs.get("provider"), env=env)
        return builtin.factory(**kwargs)
    except LLMConfigError as exc:
        raise SpecError(f"{where}: {spec.scorer} needs an LLM provider: {exc}") from None
    except (ValueError, TypeError, KeyError, ImportError, re.error) as exc:
        raise SpecError(f"{where}: {spec.scorer} refused its arguments: {exc}") from None
    except Exception as exc:  # e.g. jsonschema's SchemaError: a bad argument, whatever the library calls it
        raise SpecError(f"{where}: {spec.scorer} refused its arguments: {type(exc).__name__}: {exc}") from None


def build_scorers(specs: Sequence[ScorerSpec], *, env: Mapping[str, str] | None = None,
                  where: str = "scorers") -> list[Scorer]:
    """Every spec built; their score names must differ, since a trace keeps one score per name and origin."""
    if not specs:
        raise SpecError(f"{where}: give at least one scorer")
    built = [build_scorer(spec, env=env, where=f"{where}[{i}]") for i, spec in enumerate(specs)]
    seen: dict[str, int] = {}
    for i, scorer in enumerate(built):
        if scorer.name in seen:
            raise SpecError(f"{where}[{seen[scorer.name]}] and {where}[{i}] would both write the score "
                            f"{scorer.name!r}: give one a different args.name")
        seen[scorer.name] = i
    return built


def parse_specs(data: Any, *, where: str = "scorers") -> list[ScorerSpec]:
    """A list of specs from JSON, each checked; errors name the position (`scorers[1].args.mode …`)."""
    if not isinstance(data, list) or not data:
        raise SpecError(f"{where} must be a non-empty list of scorer specs")
    return [parse_spec(item, where=f"{where}[{i}]") for i, item in enumerate(data)]
