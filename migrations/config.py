"""The run's configuration: validated once, frozen, passed down (progress lives elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from migrations.errors import ConfigurationError

FailureMode = Literal["fail", "skip", "log_and_skip"]


class RunSettings(BaseModel):
    """Everything a migration run needs to know; the Redis URL is a secret (never logged or stored)."""

    model_config = ConfigDict(frozen=True)

    redis_url: SecretStr = Field(description="Redis URL, with password if any (kept secret)")
    models: str = Field(description="importable module of the application's redis-om 1.x models")
    naive_timezone: str = Field("UTC", description="IANA zone in which naive legacy datetimes are read")
    backup_dir: Path = Field(Path("runbook-backups"), description="directory for the RDB and logical backups")
    chunks: int = Field(8, ge=1, le=16384, description="key-range chunks (hash-slot ranges)")
    parallel: int = Field(2, ge=1, le=64, description="chunks migrated at the same time")
    batch_size: int = Field(1000, ge=1, le=100_000, description="keys per pipelined batch")
    failure_mode: FailureMode = Field("log_and_skip", description="fail | skip | log_and_skip")
    max_errors: int | None = Field(None, ge=0, description="stop when more values than this fail")
    rdb_snapshot: bool = Field(True, description="take and restore-test a full RDB snapshot first")
    report_json: Path | None = Field(None, description="where to write the run's report as JSON")

    @field_validator("naive_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.naive_timezone)


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
