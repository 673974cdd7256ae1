"""The outcome of a run: phases, KPIs and problems, as written to --report-json (pure)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import Problem, SnapshotInfo
from om_runbook.migrations.signoff import SignOff
from om_runbook.migrations.throttle import PaceEvent

PROBLEM_LIST_LIMIT = 1000


class PhaseReport(BaseModel):
    duration_seconds: float
    details: dict[str, Any] = Field(default_factory=dict)


class Kpis(BaseModel):
    """Fields are counted per stored value; rates are shares of the values the run had to handle."""

    keys_scanned: int = 0
    keys_migrated: int = 0
    fields_converted: int = 0
    fields_already_converted: int = 0
    fields_failed: int = 0
    conflicts: int = 0
    fields_missing: int = 0
    error_rate: float = 0.0
    success_rate: float = 1.0
    duration_seconds: float = 0.0


class LatencySummary(BaseModel):
    """Round-trip times of PING (or of the application's read) against the migrated Redis, in milliseconds."""

    samples: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


class AppRead(BaseModel):
    """One of the application's own model keys, read the way redis-om reads it, timed for the latency the
    application sees (before, during and after the run)."""

    key: str = Field(description="the key's bytes as latin-1 (any byte string, JSON-safe, reversible)")
    command: Literal["HGETALL", "JSON.GET"]

    @property
    def key_bytes(self) -> bytes:
        return self.key.encode("latin-1")

    def describe(self) -> str:
        return f"{self.command} {self.key_bytes.decode('utf-8', errors='replace')}"


class SystemMetrics(BaseModel):
    """What the checklist's system KPIs need, measured by the run (None: not measured)."""

    downtime_seconds: float | None = None
    baseline_latency: LatencySummary | None = None
    migration_latency: LatencySummary | None = None
    app_read: AppRead | None = None  # the application's read timed beside PING (None: no model key found)
    baseline_app_latency: LatencySummary | None = None
    migration_app_latency: LatencySummary | None = None
    memory_peak_share: float | None = None
    cpu_peak_share: float | None = None
    latency_limit_ms: float | None = None  # the throttle's p99 limit (None: no throttle)
    pace_events: list[PaceEvent] = Field(default_factory=list)  # throttle steps and `om-runbook tune` changes
    pace_started_at: float | None = None  # epoch seconds of the pace events' at_seconds = 0
    throttled_seconds: float = 0.0


class KpiCheck(BaseModel):
    name: str
    value: str
    target: str
    met: bool | None  # None: not measured in this run


class RunReport(BaseModel):
    status: str
    redis: str
    phases: dict[str, PhaseReport] = Field(default_factory=dict)
    kpis: Kpis = Field(default_factory=Kpis)
    problem_counts: dict[str, int] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    flow_run_id: str | None = None
    system: SystemMetrics = Field(default_factory=SystemMetrics)
    kpi_checks: list[KpiCheck] = Field(default_factory=list)
    signoffs: list[SignOff] = Field(default_factory=list)


def compute_kpis(
    *,
    keys_scanned: int,
    keys_migrated: int,
    converted: int,
    already_converted: int,
    failed: int,
    conflicts: int,
    missing: int,
    duration_seconds: float,
) -> Kpis:
    """Error rate = failed / handled and success rate = converted / handled, where handled counts every
    legacy or unreadable value the run met (converted + failed + conflicts + missing)."""
    handled = converted + failed + conflicts + missing
    return Kpis(
        keys_scanned=keys_scanned,
        keys_migrated=keys_migrated,
        fields_converted=converted,
        fields_already_converted=already_converted,
        fields_failed=failed,
        conflicts=conflicts,
        fields_missing=missing,
        error_rate=failed / handled if handled else 0.0,
        success_rate=converted / handled if handled else 1.0,
        duration_seconds=duration_seconds,
    )


def merge_problems(groups: list[list[Problem]], counts: list[dict[str, int]]) -> tuple[list[Problem], dict]:
    """Concatenate problem lists (capped) and add up their per-kind counts."""
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    merged = [problem for group in groups for problem in group][:PROBLEM_LIST_LIMIT]
    return merged, dict(total)


def migration_kpis(
    *,
    keys_scanned: int,
    keys_migrated: int,
    already_converted: int,
    unreadable: int,
    chunk_counts: list[dict[str, int]],
    duration_seconds: float,
) -> Kpis:
    """KPIs of a migration (or a rollback) from the backup's counts and the chunks' compare-and-set outcomes.

    A field counts as converted when it now holds what this direction writes, written by this run or a resumed one.
    """
    totals: Counter[str] = Counter()
    for counts in chunk_counts:
        totals.update(counts)
    return compute_kpis(
        keys_scanned=keys_scanned,
        keys_migrated=keys_migrated,
        converted=totals["written"] + totals["already"],
        already_converted=already_converted,
        failed=unreadable + totals["errors"],
        conflicts=totals["conflict"],
        missing=totals["missing"],
        duration_seconds=duration_seconds,
    )


class PhaseClock:
    """Times checklist phases into a report: `with clock.phase("backup") as details: details[...] = ...`."""

    def __init__(self, report: RunReport) -> None:
        self.report = report

    @contextmanager
    def phase(self, name: str) -> Iterator[dict[str, Any]]:
        started = time.perf_counter()
        details: dict[str, Any] = {}
        try:
            yield details
        finally:
            self.report.phases[name] = PhaseReport(duration_seconds=time.perf_counter() - started, details=details)


def recorded_snapshot(report: RunReport) -> SnapshotInfo | None:
    """The RDB snapshot the run's backup phase recorded (None before that phase ran, or when it recorded none)."""
    backup = report.phases.get("backup")
    snapshot = backup.details.get("snapshot") if backup is not None else None
    return SnapshotInfo.model_validate(snapshot) if snapshot else None
