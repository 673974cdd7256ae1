"""The run's configuration: validated once, frozen, passed down (progress lives elsewhere)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from om_runbook.migrations.communication import Contact
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.gate_notice import is_http_url
from om_runbook.migrations.redaction import url_secrets
from om_runbook.migrations.signoff import GateRoles

FailureMode = Literal["fail", "skip", "log_and_skip"]


class RunSettings(BaseModel):
    """Everything a migration run needs to know; the Redis URL is a secret (never logged or stored)."""

    model_config = ConfigDict(frozen=True)

    redis_url: SecretStr = Field(description="Redis URL, with password if any (kept secret)")
    models: str = Field(
        description="modules or packages of the application's redis-om 1.x models, comma-separated (a package: "
        "every module in it)"
    )
    naive_timezone: str = Field("UTC", description="IANA zone in which naive legacy datetimes are read")
    backup_dir: Path = Field(Path("runbook-backups"), description="directory for the RDB and logical backups")
    chunks: int | None = Field(
        None, ge=1, le=16384, description="key-range chunks (hash-slot ranges); default: one per 250,000 keys"
    )
    parallel: int = Field(2, ge=1, le=64, description="chunks migrated at the same time")
    workers: int | None = Field(
        None, ge=1, le=64, description="processes for the scan and read-back checks (None: one per core from 200k keys)"
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="keys per pipelined batch")
    failure_mode: FailureMode = Field("log_and_skip", description="fail | skip | log_and_skip")
    max_errors: int | None = Field(None, ge=0, description="stop when more values than this fail")
    rdb_snapshot: bool = Field(True, description="take and restore-test a full RDB snapshot first")
    snapshot_reference: str | None = Field(
        None,
        description="the provider's own snapshot taken just before this run (an id or ARN): recorded in the manifest "
        "and the checklist as the full backup, in place of an RDB snapshot of ours (managed Redis without SYNC); the "
        "logical backup still guarantees the exact rollback",
    )
    snapshot_taken_at: str | None = Field(
        None, description="when the provider's snapshot was taken (ISO 8601 with its zone, e.g. 2026-12-03T09:55Z)"
    )
    rdb_tools_dir: Path | None = Field(
        None,
        description="directory with a redis-server (and redis-check-rdb) that reads the server's RDB version, searched "
        "after PATH; default $OM_RUNBOOK_RDB_TOOLS_DIR",
    )
    module_dir: Path | None = Field(
        None,
        description="directory with the server's modules (redisearch.so, rejson.so) for the snapshot's restore test, "
        "when they are not at the paths MODULE LIST reports; default $OM_RUNBOOK_MODULE_DIR",
    )
    report_json: Path | None = Field(None, description="where to write the run's report as JSON")
    auto_approve: bool = Field(False, description="sign every gate automatically (rehearsals only)")
    signoff_roles: GateRoles = Field(default_factory=GateRoles, description="roles that must approve each gate")
    gate_timeout_seconds: int = Field(4 * 3600, ge=1, description="a gate unanswered this long is not approved")
    gate_poll_seconds: int = Field(10, ge=1, le=600, description="how often a paused run checks for an answer")
    lease_seconds: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="the run's lease on the Redis outlives its last renewal this long: a crashed run's blocks the "
        "next run for it, and a write Redis does not take (CLIENT PAUSE, a slow command) is retried within it",
    )
    max_error_rate: float = Field(0.01, ge=0, le=1, description="roll back when more than this share of values fail")
    live_traffic: bool = Field(
        False,
        description="the application keeps writing during the run: catch-up rounds convert legacy values written "
        "meanwhile, and other fields changed by it are reported instead of failing verification",
    )
    auto_rollback: bool = Field(True, description="roll back exactly when a rollback criterion is met")
    other_server: bool = Field(
        False,
        description="resume although the Redis is not the one the backup directory's manifest names (moved and "
        "restarted: another address and run_id)",
    )
    allow_eviction: bool = Field(
        False,
        description="run although maxmemory-policy may evict keys (with the headroom the refusal names); any "
        "eviction during the run still stops it",
    )
    acknowledge_unfinished_run: bool = Field(
        False,
        description="go on although an unfinished run with another backup directory changed values on this Redis "
        "(their originals are only in that directory; the report lists them)",
    )
    chunk_deployment: str | None = Field(
        None,
        description="run each chunk as a flow run of this deployment (FLOW/DEPLOYMENT) on a work pool, so more "
        "workers add throughput; the workers need this backup directory (shared storage) and redis_url_secret",
    )
    redis_url_secret: str | None = Field(
        None, description="name of the Prefect Secret block the chunk workers read the Redis URL from"
    )
    schema_mode: Literal["recreate", "alias", "skip"] = Field(
        "recreate",
        description="with the search module: recreate each index as `om migrate` does, or build it under a new "
        "name and switch an alias once complete (no query downtime), or leave indexes alone",
    )
    schema_timeout_seconds: int = Field(3600, ge=1, description="alias mode: how long the new index may take")
    max_latency_ms: float | None = Field(
        None,
        ge=0,
        description="PING p99 (ms) above which the chunks slow down; default 5x the baseline p99 (at least "
        "10 ms), 0 = no throttle",
    )

    contacts: list[Contact] = Field(
        default_factory=list,
        description="escalation contacts (role, name, how to reach them): in every notice, the checklist and `status`",
    )
    progress_every_minutes: float = Field(
        60.0, gt=0, le=1440, description="minutes between progress notices while keys are migrated or rolled back"
    )
    app_check: str | None = Field(
        None,
        description="the application's own smoke test (a shell command), run after the verification and before the "
        "acceptance gate in the application's directory with REDIS_OM_URL set to this Redis; a failure is the rollback "
        "criterion 'application functionality severely impacted'",
    )
    app_check_timeout_seconds: int = Field(
        600, ge=1, le=86_400, description="the application check is stopped, and fails, after this long"
    )
    app_dir: Path | None = Field(
        None, description="the application's directory: the application check runs there (default: the current one)"
    )

    resume_command: str = Field(
        "", description="the command that resumes this run after a crash, as `om-runbook status` shows it"
    )
    notify_webhook: SecretStr | None = Field(
        None,
        description='URL that gets a JSON POST ({"text": ...}, as Slack accepts) for every notice of the communication '
        "plan: start, progress, each waiting sign-off gate, completion or rollback, performance summary",
    )

    @field_validator("naive_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @field_validator("notify_webhook")
    @classmethod
    def _http_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_http_url(value.get_secret_value()):
            raise ValueError("the notification webhook must be an http:// or https:// URL")
        return value

    @field_validator("snapshot_reference")
    @classmethod
    def _printable_reference(cls, value: str | None) -> str | None:
        return None if value is None else provider_reference(value)

    @field_validator("snapshot_taken_at")
    @classmethod
    def _aware_time(cls, value: str | None) -> str | None:
        return None if value is None else provider_snapshot_time(value)

    @model_validator(mode="after")
    def _provider_snapshot_replaces_ours(self) -> RunSettings:
        if self.snapshot_taken_at and not self.snapshot_reference:
            raise ValueError("snapshot_taken_at needs snapshot_reference: the time of which snapshot?")
        if self.snapshot_reference and self.rdb_snapshot:
            object.__setattr__(self, "rdb_snapshot", False)  # frozen: set once, while validating
        return self

    @model_validator(mode="after")
    def _fan_out_needs_the_secret(self) -> RunSettings:
        if self.chunk_deployment and not self.redis_url_secret:
            raise ValueError("chunk_deployment needs redis_url_secret: workers never receive the URL as a parameter")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.naive_timezone)

    def notice_secrets(self) -> tuple[str, ...]:
        """What no notice may show: the Redis URL's password (and user part), and the webhook URL (its path is its
        secret)."""
        webhook = self.notify_webhook.get_secret_value() if self.notify_webhook else ""
        return (*url_secrets(self.redis_url.get_secret_value()), webhook)


def provider_reference(value: str) -> str:
    """A provider snapshot's id or ARN as given, trimmed; refused when empty, multi-line or over 512 characters."""
    reference = value.strip()
    if not reference or len(reference) > 512 or not reference.isprintable():
        raise ValueError("the snapshot reference must be the provider's snapshot id or ARN: one printable line")
    return reference


def provider_snapshot_time(value: str, now: datetime | None = None) -> str:
    """An ISO 8601 time with its zone, not in the future (5 minutes of clock skew allowed), normalised to UTC."""
    try:
        taken = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"the snapshot time {value!r} is not ISO 8601 (e.g. 2026-12-03T09:55:00Z)") from None
    if taken.tzinfo is None:
        raise ValueError(f"the snapshot time {value!r} names no zone: add Z or +01:00")
    current = now or datetime.now(timezone.utc)
    if taken > current + timedelta(minutes=5):
        raise ValueError(f"the snapshot time {value!r} is in the future: a snapshot taken before this run is needed")
    return taken.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def zone_of(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or a ConfigurationError a DBA can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"unknown --naive-timezone {name!r}: use an IANA name such as UTC or Europe/Berlin"
        ) from exc


def build_settings(**values: object) -> RunSettings:
    """RunSettings from plain values, with validation errors as one readable ConfigurationError."""
    from pydantic import ValidationError

    try:
        return RunSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
