"""The attribute names the SDK writes: the ones Neon's ingestion maps (docs/ingest.md)."""

from __future__ import annotations

SPAN_TYPE = "neon.span_type"
COMPONENT_TYPE = "neon.component_type"
INPUT = "neon.input"
OUTPUT = "neon.output"
SESSION_ID = "neon.session_id"
USER_ID = "neon.user_id"
AGENT_ID = "neon.agent_id"
AGENT_VERSION = "neon.agent_version"
ENVIRONMENT = "neon.environment"
TAGS = "neon.tags"
METADATA_PREFIX = "neon.metadata."
TOOL_NAME = "neon.tool.name"
TIME_TO_FIRST_TOKEN_MS = "neon.time_to_first_token_ms"  # noqa: S105 - an attribute name
TRUNCATED = "neon.sdk.truncated"

# GenAI semantic conventions for LLM calls, so any OTel backend understands them too.
MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER = "gen_ai.provider.name"
OPERATION = "gen_ai.operation.name"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOTAL_TOKENS = "gen_ai.usage.total_tokens"
CACHED_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"

# Skill selection: why this tool / route / skill was chosen.
SELECTION_CATEGORY = "neon.selection.category"
SELECTION_CONFIDENCE = "neon.selection.confidence"
SELECTION_REASON = "neon.selection.reason"
SELECTION_ALTERNATIVES = "neon.selection.alternatives"
