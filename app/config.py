"""Settings: built once by the CLI (or a test) and passed down. Nothing here runs at import time.

Precedence: CLI flags > environment > `.env` file > defaults. The environment variable names of the
original MCP-OpenStack-Ops server are kept (``MCP_LOG_LEVEL``, ``FASTMCP_TYPE``, ``FASTMCP_HOST``,
``FASTMCP_PORT``, ``REMOTE_AUTH_ENABLE``, ``REMOTE_SECRET_KEY``, ``ALLOW_MODIFY_OPERATIONS``); ours
are prefixed ``OPS_``. OpenStack credentials are *not* settings: they come from ``clouds.yaml`` +
``OS_CLOUD`` or the ``OS_*`` variables and are read by openstacksdk itself.
"""

from __future__ import annotations

from pathlib import Path
import json
import re
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "mcp-openstack-ops"
CLOUD_LABEL = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a snapshot row's `cloud` column


def default_database_url() -> str:
    """A SQLite file in the user's data directory (created on first use)."""
    data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return f"sqlite+aiosqlite:///{data_dir / 'snapshot.db'}"


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of the server. See `.env.example` for the documented list."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # --- the original server's names -------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=_alias("MCP_LOG_LEVEL")
    )
    transport: Literal["stdio", "streamable-http"] = Field(
        "stdio", validation_alias=_alias("FASTMCP_TYPE")
    )
    host: str = Field("127.0.0.1", validation_alias=_alias("FASTMCP_HOST"))
    port: int = Field(8080, ge=0, le=65535, validation_alias=_alias("FASTMCP_PORT"))
    auth_enable: bool = Field(False, validation_alias=_alias("REMOTE_AUTH_ENABLE"))
    secret_key: SecretStr | None = Field(None, validation_alias=_alias("REMOTE_SECRET_KEY"))
    allow_modify_operations: bool = Field(
        False, validation_alias=_alias("ALLOW_MODIFY_OPERATIONS")
    )

    # --- ours ---------------------------------------------------------------------------------
    allow_unauthenticated_remote: bool = Field(
        False, validation_alias=_alias("OPS_ALLOW_UNAUTHENTICATED_REMOTE")
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host[:port] values accepted in the Host header when serving HTTP on a non-loopback address.",
        validation_alias=_alias("OPS_ALLOWED_HOSTS"),
    )
    database_url: str = Field(
        default_factory=default_database_url, validation_alias=_alias("OPS_DATABASE_URL")
    )
    cloud_name: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]*$",
        description="Label stored in every snapshot row's `cloud` column (several clouds may share a database). "
                    "Empty: derived from the cloud (the OS_CLOUD entry, else Keystone host, region and project), "
                    "and claimed for that cloud in the database (app/cloud/identity.py).",
        validation_alias=_alias("OPS_CLOUD_LABEL"),
    )
    os_cloud: str | None = Field(None, validation_alias=_alias("OS_CLOUD"))
    clouds: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Serve several clouds from this process and database: clouds.yaml entry names, comma-separated, "
                    "or `all` (every entry of clouds.yaml). Each cloud's label is its entry name; one poller (and "
                    "lease) per cloud; every tool takes `cloud`. Empty: one cloud (OS_CLOUD or the OS_* variables).",
        validation_alias=_alias("OPS_CLOUDS"),
    )
    poller_enabled: bool = Field(True, validation_alias=_alias("OPS_POLLER_ENABLED"))
    default_poll_interval: float = Field(
        60.0, gt=0, validation_alias=_alias("OPS_POLL_INTERVAL")
    )
    poll_intervals: dict[str, float] = Field(
        default_factory=dict,
        description="Per-kind overrides, e.g. OPS_POLL_INTERVALS='{\"servers\": 30, \"flavors\": 600}'.",
        validation_alias=_alias("OPS_POLL_INTERVALS"),
    )
    full_reconcile_interval: float = Field(
        900.0, gt=0, validation_alias=_alias("OPS_FULL_RECONCILE_INTERVAL")
    )
    lease_ttl: float = Field(30.0, gt=0, validation_alias=_alias("OPS_LEASE_TTL"))
    lease_renew_interval: float = Field(
        10.0, gt=0, validation_alias=_alias("OPS_LEASE_RENEW_INTERVAL")
    )
    sdk_concurrency: int = Field(4, ge=1, le=64, validation_alias=_alias("OPS_SDK_CONCURRENCY"))
    api_timeout: float = Field(60.0, gt=0, validation_alias=_alias("OPS_API_TIMEOUT"))
    page_size: int = Field(1000, ge=1, le=10000, validation_alias=_alias("OPS_PAGE_SIZE"))
    cold_start_wait: float = Field(
        10.0, ge=0, validation_alias=_alias("OPS_COLD_START_WAIT")
    )
    answer_cache_entries: int = Field(
        256, ge=0, le=100_000, validation_alias=_alias("OPS_ANSWER_CACHE_ENTRIES"),
        description="Read-tool answers kept per cloud while their data and sync state are unchanged "
                    "(app/services/answer_cache.py); 0 computes every answer.",
    )
    answer_rewarm: int = Field(
        32, ge=0, le=10_000, validation_alias=_alias("OPS_ANSWER_REWARM"),
        description="After each sync, kept answers asked for in the last 15 minutes whose data moved are computed "
                    "again in the background, at most this many, most recently asked first (0: never; a request "
                    "then computes its answer after each sync, or is served the previous one marked superseded).",
    )
    tombstone_retention_days: float = Field(
        7.0, gt=0, validation_alias=_alias("OPS_TOMBSTONE_RETENTION_DAYS")
    )
    sync_run_retention_days: float = Field(
        7.0, gt=0, validation_alias=_alias("OPS_SYNC_RUN_RETENTION_DAYS")
    )
    change_retention_days: float = Field(
        7.0, gt=0, description="How long the change log (snapshot_changes) keeps a change.",
        validation_alias=_alias("OPS_CHANGE_RETENTION_DAYS"),
    )
    sql_tool_enabled: bool = Field(
        False, description="Offer query_snapshot: read-only SQL over the snapshot (app/services/sql_tool.py).",
        validation_alias=_alias("OPS_SQL_TOOL_ENABLED"),
    )
    sql_tool_timeout: float = Field(
        2.0, gt=0, le=60, description="Seconds one query_snapshot query may run before it is stopped.",
        validation_alias=_alias("OPS_SQL_TOOL_TIMEOUT"),
    )
    confirmation_ttl: float = Field(
        300.0, gt=0, validation_alias=_alias("OPS_CONFIRMATION_TTL")
    )
    image_upload_dirs: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("OPS_IMAGE_UPLOAD_DIRS")
    )
    image_upload_max_bytes: int = Field(
        10 * 1024**3, ge=1, validation_alias=_alias("OPS_IMAGE_UPLOAD_MAX_BYTES")
    )
    stack_template_dirs: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("OPS_STACK_TEMPLATE_DIRS")
    )

    # --- tool exposure (applied when tools are registered: hidden tools are absent from tools/list) ------
    enabled_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Only these tools (comma-separated names); empty: every tool. manage_* tools also need "
                    "ALLOW_MODIFY_OPERATIONS.",
        validation_alias=_alias("OPS_ENABLED_TOOLS"),
    )
    disabled_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Never these tools (comma-separated names).",
        validation_alias=_alias("OPS_DISABLED_TOOLS"),
    )
    read_only: bool = Field(
        False, description="Only tools annotated read-only (readOnlyHint), whatever else is enabled.",
        validation_alias=_alias("OPS_READ_ONLY"),
    )
    disable_destructive: bool = Field(
        False, description="No tool annotated destructive (destructiveHint).",
        validation_alias=_alias("OPS_DISABLE_DESTRUCTIVE"),
    )

    # --- metrics ------------------------------------------------------------------------------------
    metrics_port: int | None = Field(
        None, ge=1, le=65535,
        description="Serve /metrics on this separate port, without authentication (for Prometheus); unset: "
                    "/metrics is on the MCP port behind the same authentication as /mcp.",
        validation_alias=_alias("OPS_METRICS_PORT"),
    )
    metrics_host: str | None = Field(
        None, description="Bind address of the metrics port (default: FASTMCP_HOST).",
        validation_alias=_alias("OPS_METRICS_HOST"),
    )

    # --- OAuth 2.1 resource server (per-caller identity over HTTP; app/auth/) ---------------------------
    oauth_issuer: str | None = Field(
        None, description="Issuer URL of the authorization server whose JWT access tokens are accepted, e.g. "
                          "https://keycloak.example.com/realms/ops. Set: OAuth mode (instead of the static token).",
        validation_alias=_alias("OPS_OAUTH_ISSUER"),
    )
    oauth_resource_url: str | None = Field(
        None, description="This server's public MCP URL (e.g. https://mcp.example.com/mcp): the protected "
                          "resource advertised at /.well-known/oauth-protected-resource. Required in OAuth mode.",
        validation_alias=_alias("OPS_OAUTH_RESOURCE_URL"),
    )
    oauth_audience: str | None = Field(
        None, description="Audience (aud) a token must carry; default: OPS_OAUTH_RESOURCE_URL.",
        validation_alias=_alias("OPS_OAUTH_AUDIENCE"),
    )
    oauth_jwks_url: str | None = Field(
        None, description="JWKS URL; default: jwks_uri from the issuer's /.well-known/openid-configuration.",
        validation_alias=_alias("OPS_OAUTH_JWKS_URL"),
    )
    oauth_jwks_cache_seconds: float = Field(
        300.0, gt=0, description="How long fetched signing keys are reused before the JWKS is fetched again "
                                 "(an unknown key id refetches at most every 30 s).",
        validation_alias=_alias("OPS_OAUTH_JWKS_CACHE_SECONDS"),
    )
    oauth_http_timeout: float = Field(
        5.0, gt=0, le=60, description="Timeout (seconds) of one JWKS or discovery request.",
        validation_alias=_alias("OPS_OAUTH_HTTP_TIMEOUT"),
    )
    oauth_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
        description="Accepted JWT signature algorithms (asymmetric only).",
        validation_alias=_alias("OPS_OAUTH_ALGORITHMS"),
    )
    oauth_leeway: float = Field(
        30.0, ge=0, le=300, description="Clock skew (seconds) allowed on exp/nbf/iat.",
        validation_alias=_alias("OPS_OAUTH_LEEWAY"),
    )
    oauth_read_scope: str = Field(
        "openstack:read", min_length=1, description="Scope needed for any MCP request (the read tools).",
        validation_alias=_alias("OPS_OAUTH_READ_SCOPE"),
    )
    oauth_write_scope: str = Field(
        "openstack:write", min_length=1, description="Scope needed, besides the read scope, for manage_* tools.",
        validation_alias=_alias("OPS_OAUTH_WRITE_SCOPE"),
    )
    oauth_projects_claim: str | None = Field(
        None, description="Claim listing the OpenStack projects a caller is restricted to. Project-scoped "
                          "reads are not implemented yet: a caller whose token carries this claim is refused "
                          "every tool (fail closed); callers without it are unrestricted.",
        validation_alias=_alias("OPS_OAUTH_PROJECTS_CLAIM"),
    )

    @field_validator("allowed_hosts", "clouds", "image_upload_dirs", "stack_template_dirs", "enabled_tools",
                     "disabled_tools", "oauth_algorithms", mode="before")
    @classmethod
    def _csv_or_json_list(cls, v: Any) -> Any:
        """Accept a JSON list (``["a", "b"]``) or a comma-separated string (``a,b``)."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return v

    @field_validator("clouds")
    @classmethod
    def _cloud_labels(cls, v: list[str]) -> list[str]:
        """Each entry name becomes a label as OPS_CLOUD_LABEL's are: at most 64 of ``A-Za-z0-9._:-``."""
        if "all" in v and len(v) > 1:
            raise ValueError("OPS_CLOUDS is either `all` or a list of clouds.yaml entry names, not both")
        for name in v:
            if not CLOUD_LABEL.fullmatch(name):
                raise ValueError(f"OPS_CLOUDS entry {name[:80]!r} cannot be a cloud label: at most 64 characters "
                                 "of A-Z a-z 0-9 . _ : - (rename the clouds.yaml entry)")
        if len(set(v)) != len(v):
            raise ValueError("OPS_CLOUDS names a cloud twice")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    def poll_interval(self, kind: str, default: float | None = None) -> float:
        """The poll interval for one resource kind: per-kind override, else the kind's default, else global."""
        if kind in self.poll_intervals:
            return float(self.poll_intervals[kind])
        return float(default if default is not None else self.default_poll_interval)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from env/.env with explicit overrides (CLI flags) given by field name; None
    overrides are ignored. Only the documented environment names are read from the environment
    (a generic ``HOST``, ``PORT`` or ``SECRET_KEY`` of another program never configures us)."""
    kwargs: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        field = Settings.model_fields.get(key)
        alias = field.validation_alias if field is not None else None
        if isinstance(alias, AliasChoices):
            key = str(alias.choices[0])
        kwargs[key] = value
    return Settings(**kwargs)
