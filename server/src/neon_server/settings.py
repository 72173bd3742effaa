"""Typed settings for the server, from (highest precedence first):

1. explicit values (the `neon up` flags, or keyword arguments in code and tests),
2. environment variables `NEON_<NAME>` (e.g. `NEON_PORT=8080`),
3. a TOML config file: `NEON_CONFIG` if set, else `$NEON_HOME/neon.toml` when it exists,
4. the defaults below.

Invalid values stop the server at start with a message naming the setting (see `describe_errors`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "NEON_"
ANALYTICS_SCHEMES = ("chdb", "clickhouse", "clickhouses")
MIN_SECRET_KEY_LENGTH = 32
SECRET_SETTINGS = frozenset({"secret_key"})  # their values never appear in messages
METADATA_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")


class SettingsError(ValueError):
    """Settings that cannot run: the message names each bad setting and what was wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    home: Path = Field(default_factory=lambda: Path("~/.neon").expanduser(),
                       description="Folder for embedded data (chDB, SQLite) and saved credentials.")
    config: Path | None = Field(default=None, description="TOML config file (default $NEON_HOME/neon.toml).")
    host: str = Field(default="127.0.0.1", min_length=1, description="Interface the server listens on.")
    port: int = Field(default=3000, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    public_url: str | None = Field(default=None, description="URL clients should use (default http://host:port).")
    analytics_url: str = Field(default="", description="chdb://PATH, clickhouse://… or clickhouses://….")
    metadata_url: str = Field(default="", description="sqlite:///PATH or postgresql+psycopg://….")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=300,
                                      description="How long a verified API key is trusted before re-checking.")
    shutdown_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    secret_key: SecretStr | None = Field(default=None, description="Signs run tokens (unset: a random secret kept in "
                                         "$NEON_HOME/secret). Set the same value on every API process.")

    # Ingestion
    ingest_max_body_bytes: int = Field(default=32 * 2**20, ge=16 * 2**20, le=2**31,
                                       description="Largest request body accepted, as sent (at least 16 MiB).")
    ingest_max_decompressed_bytes: int = Field(default=128 * 2**20, ge=16 * 2**20, le=2**32,
                                               description="Largest body after gzip decompression.")
    ingest_max_attribute_bytes: int = Field(default=64 * 2**10, ge=256, le=16 * 2**20,
                                            description="Longer attribute values are truncated and flagged.")
    ingest_max_payload_bytes: int = Field(default=2**20, ge=1024, le=64 * 2**20,
                                          description="Longer inputs/outputs are truncated and flagged.")
    ingest_batch_rows: int = Field(default=5_000, ge=1, le=1_000_000,
                                   description="Spans per write batch (group commit by size …)")
    ingest_batch_rows_behind: int = Field(default=10_000, ge=1, le=1_000_000,
                                          description="… and while the writer is behind (more than two batches "
                                          "unwritten): fewer, larger inserts.")
    ingest_batch_delay_ms: float = Field(default=50, ge=0, le=10_000,
                                         description="… or by time: the longest a span waits for its batch.")
    ingest_buffer_rows: int = Field(default=200_000, ge=1, le=10_000_000,
                                    description="Spans waiting to be written before requests get 429.")
    ingest_lag_rows: int = Field(default=20_000, ge=1, le=10_000_000,
                                 description="Spans answered but not yet written before new requests wait for "
                                 "the writer (keeps answered spans queryable within about a second).")
    ingest_pace_ms: float = Field(default=5_000, ge=0, le=60_000,
                                  description="… for at most this long; then they are taken anyway (0: never wait).")
    ingest_dedupe_window_seconds: int = Field(default=600, ge=0, le=86_400,
                                              description="How long a written request is recognised if retried.")
    ingest_decoder: Literal["native", "python", "engine"] = Field(
        default="native", description="Who reads logged OTLP protobuf: this process with Neon's C walker "
        "(native; the neon-native package: the whole decode ~1.7× faster; python when it is not "
        "installed), this process through protobuf's Python objects (python), or the analytics engine in one "
        "statement per batch (engine: slower on chDB, see docs/ingest.md). The mapping is the same.")
    ingest_decode_processes: int = Field(
        default_factory=lambda: min(4, max(0, (os.cpu_count() or 2) - 2)), ge=0, le=64,
        description="Worker processes that decode logged OTLP protobuf (default: cores − 2, 0–4; 0: the batch "
                    "writer's thread decodes, holding the interpreter lock).")
    ingest_log: bool = Field(default=True, description="Answer OTLP protobuf exports once synced to the ingest log "
                             "($NEON_HOME/ingest-log) and write them in bulk; off: answer after the insert.")

    # Neptune's clients (docs/track-neptune.md)
    neptune_token_seconds: int = Field(default=3600, ge=60, le=7 * 86_400,
                                       description="Life of the access tokens Neptune's clients get.")
    neptune_refresh_seconds: int = Field(default=30 * 86_400, ge=60, le=365 * 86_400,
                                         description="Life of their refresh tokens.")
    neptune_file_part_bytes: int = Field(default=64 * 2**20, ge=2**10, le=2**31,
                                         description="Files larger than this are uploaded in parts of this size.")

    # Evaluation
    evals_path: Path | None = Field(default=None, description="Folder of eval_*.py files that "
                                    "POST /api/eval-runs/start runs suites from (unset: starting runs is off).")
    eval_run_timeout_seconds: float = Field(default=3600, gt=0, le=7 * 86_400,
                                            description="A run started through the API is stopped after this.")

    # Scoring production traffic (docs/online-evaluation.md); judges use NEON_LLM_PROVIDER / NEON_LLM_MODEL …
    online_scoring: bool = Field(default=True, description="Run the online rules over new traces.")
    online_settle_seconds: float = Field(default=5.0, ge=0, le=3600,
                                         description="A trace is scored once no span of it arrived for this long.")
    online_queue_size: int = Field(default=1000, ge=1, le=1_000_000,
                                   description="Settled traces waiting for scorers; beyond it they are dropped.")
    online_max_settling: int = Field(default=10_000, ge=1, le=10_000_000,
                                     description="Traces waiting to settle; beyond it new ones are dropped.")
    score_job_workers: int = Field(default=2, ge=1, le=64, description="Score jobs run at once.")

    # Durable agent runs: what workers send (docs/agents.md)
    agent_blob_max_bytes: int = Field(default=8 * 2**20, ge=2**10, le=2**30,
                                      description="Largest agent blob (a message or tool result), as canonical JSON.")
    agent_blob_max_batch_bytes: int = Field(default=32 * 2**20, ge=2**10, le=2**31,
                                            description="Largest request (or answer) carrying several blobs.")
    run_stream_max_body_bytes: int = Field(default=2**20, ge=2**10, le=64 * 2**20,
                                           description="Largest batch of run stream events in one request.")
    run_stream_queue_size: int = Field(default=1000, ge=1, le=1_000_000,
                                       description="Run stream events waiting for a slow subscriber; "
                                       "beyond it they are dropped for that subscriber.")
    # Durable execution on Temporal (docs/agents.md). `temporal_address` comes first: the TLS and API key
    # validators check it (a field validator sees the fields declared before it).
    temporal_address: str = Field(default="", description="host:port of a Temporal cluster; empty runs the "
                                  "embedded dev server.")
    temporal_namespace: str = Field(default="default", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$",
                                    description="Temporal namespace agent runs live in.")
    temporal_tls: bool = Field(default=False, description="Connect to the cluster over TLS.")
    temporal_tls_cert: Path | None = Field(default=None, description="Client certificate (PEM) for mTLS.")
    temporal_tls_key: Path | None = Field(default=None, validate_default=True,
                                          description="Client private key (PEM) for mTLS.")
    temporal_tls_ca: Path | None = Field(default=None, description="CA (PEM) to verify the server with.")
    temporal_api_key: str | None = Field(default=None, min_length=1,
                                         description="API key sent as a bearer token (turns TLS on).")
    temporal_dev_port: int = Field(default=0, ge=0, le=65535,
                                   description="gRPC port of the embedded dev server; 0 picks a free one.")
    agents_path: Path = Field(default=Path("agents"), description="Folder of agent spec files the in-process worker "
                              "serves (default $NEON_HOME/agents).")
    agent_task_queue: str = Field(default="neon-agents", min_length=1, max_length=255,
                                  description="Task queue agent runs are started on and workers poll.")
    agent_worker: bool = Field(default=True, description="Run an agent worker inside `neon up`.")
    agent_worker_factory: str = Field(default="neon.execute.worker:create_worker",
                                      description="module:function that builds the agent worker.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlFileSource(settings_cls)

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters "
                             "(e.g. the output of `openssl rand -hex 32`)")
        return value

    @field_validator("analytics_url")
    @classmethod
    def _check_analytics_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ANALYTICS_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in ANALYTICS_SCHEMES)}")
        return value

    @field_validator("metadata_url")
    @classmethod
    def _check_metadata_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in METADATA_SCHEMES:
            raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB")
        return value

    @field_validator("temporal_address", mode="after")
    @classmethod
    def _check_temporal_address(cls, value: str) -> str:
        value = value.strip()
        if value:
            host, _, port = value.rpartition(":")
            if "://" in value or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port (e.g. temporal.internal:7233), without a scheme")
        return value

    @field_validator("temporal_tls", "temporal_api_key", mode="after")
    @classmethod
    def _cluster_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("temporal_address") == "":
            raise ValueError("is for a Temporal cluster, but temporal_address is empty (the embedded dev server): "
                             "set temporal_address to the cluster's host:port")
        return value

    @field_validator("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca", mode="after")
    @classmethod
    def _check_tls_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
        if info.data.get("temporal_tls") is False:
            raise ValueError("is set but temporal_tls is false: set temporal_tls = true to use it")
        return value

    @field_validator("temporal_tls_key", mode="after")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "temporal_tls_cert" in info.data and (value is None) != (info.data["temporal_tls_cert"] is None):
            raise ValueError("temporal_tls_cert and temporal_tls_key go together: set both or neither")
        return value

    @field_validator("agent_worker_factory", mode="after")
    @classmethod
    def _check_factory(cls, value: str) -> str:
        module, _, function = value.partition(":")
        if not (module and function and all(p.isidentifier() for p in (*module.split("."), function))):
            raise ValueError("must be module:function (e.g. mypkg.workers:create_worker)")
        return value

    @model_validator(mode="after")
    def _batch_holds_a_blob(self) -> Settings:
        if self.agent_blob_max_batch_bytes < self.agent_blob_max_bytes:
            raise ValueError("agent_blob_max_batch_bytes must be at least agent_blob_max_bytes")
        return self

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        # Frozen model: fill the URL defaults that depend on `home` once, here.
        if not self.analytics_url:
            object.__setattr__(self, "analytics_url", f"chdb://{self.home / 'chdb'}")
        if not self.metadata_url:
            object.__setattr__(self, "metadata_url", f"sqlite:///{self.home / 'neon.db'}")
        if "agents_path" not in self.model_fields_set:
            object.__setattr__(self, "agents_path", self.home / "agents")
        object.__setattr__(self, "agents_path", self.agents_path.expanduser())
        return self

    def url_for_clients(self, bound_port: int | None = None) -> str:
        """The base URL to print and save for clients."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104 - a comparison
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{bound_port if bound_port is not None else self.port}"

    @property
    def temporal_embedded(self) -> bool:
        """True when `neon up` runs the Temporal dev server itself (no cluster address set)."""
        return not self.temporal_address

    @property
    def temporal_dir(self) -> Path:
        """Where the embedded dev server keeps its database, log and address file."""
        return self.home / "temporal"


class TomlFileSource(PydanticBaseSettingsSource):
    """The lowest-precedence source: a TOML file of `name = value` pairs (names as in Settings)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = self._path()
        if path is None:
            return {}
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise SettingsError(f"config file {path} (NEON_CONFIG) does not exist") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {path} cannot be read: {exc}") from None
        section = data.get("neon", data)
        if not isinstance(section, dict):
            raise SettingsError(f"config file {path}: [neon] must be a table")
        return section

    def _path(self) -> Path | None:
        state = self.current_state
        explicit = state.get("config")
        if explicit:
            return Path(explicit).expanduser()
        home = Path(state.get("home") or os.environ.get("NEON_HOME") or "~/.neon").expanduser()
        default = home / "neon.toml"
        return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the sources above; raises SettingsError naming every bad setting."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, explicit=set(clean))) from None


def describe_errors(exc: ValidationError, explicit: frozenset[str] | set[str] = frozenset()) -> str:
    """One line per bad setting, naming where its value came from (flag, env var or config file)."""
    lines = ["invalid settings:"]
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "settings"
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if name in explicit:
            where = f"--{name.replace('_', '-')}"
        elif env_name in os.environ:
            where = env_name
        else:
            where = f"config file key '{name}'"
        given = err.get("input")
        hidden = isinstance(given, dict) or given is None or name in SECRET_SETTINGS
        shown = "" if hidden else f" (got {given!r})"
        lines.append(f"  {name} [{where}]: {err['msg']}{shown}")
    return "\n".join(lines)
