"""Breakpoints: match spans as they start and end (live) or over stored traces, and act on them."""

from neon.breakpoints.actions import (
    BreakpointContext,
    after,
    always,
    capture,
    custom,
    every,
    log_action,
    notify,
    nth,
    until,
)
from neon.breakpoints.core import (
    Breakpoint,
    BreakpointManager,
    BreakpointProcessor,
    Hit,
    add_breakpoint,
    define_breakpoint,
    evaluate_breakpoints,
    evaluate_stored_trace,
    get_manager,
    remove_breakpoint,
    reset_manager,
)
from neon.breakpoints.matchers import (
    Matcher,
    and_,
    not_,
    on_attribute,
    on_attributes,
    on_component_type,
    on_condition,
    on_error,
    on_model,
    on_span_name,
    on_span_name_glob,
    on_span_type,
    on_status,
    on_success,
    on_tool,
    or_,
)
from neon.breakpoints.spans import SpanInfo, TraceInfo

__all__ = ["Breakpoint", "BreakpointContext", "BreakpointManager", "BreakpointProcessor", "Hit", "Matcher",
           "SpanInfo", "TraceInfo", "add_breakpoint", "after", "always", "and_", "capture", "custom",
           "define_breakpoint", "evaluate_breakpoints", "evaluate_stored_trace", "every", "get_manager",
           "log_action", "not_", "notify", "nth", "on_attribute", "on_attributes", "on_component_type",
           "on_condition", "on_error", "on_model", "on_span_name", "on_span_name_glob", "on_span_type", "on_status",
           "on_success", "on_tool", "or_", "remove_breakpoint", "reset_manager", "until"]
