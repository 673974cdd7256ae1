"""What `om-runbook status` answers: the state a running flow keeps in `status.json`, and the verdict on it (pure)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from om_runbook.migrations.progress_figures import PhaseFigures, human_duration
from om_runbook.migrations.timeline import Timeline, recent, sparkline

RunKind = Literal["migration", "rollback", "rehearsal"]
HEARTBEAT_STALE_SECONDS = 30.0  # the flow rewrites status.json every second; this long without it = gone
EXIT_HEALTHY, EXIT_FAILED, EXIT_NEEDS_PERSON = 0, 1, 3
GOOD_OUTCOMES: dict[str, set[str]] = {
    "migration": {"succeeded"},
    "rollback": {"rolled_back"},
    "rehearsal": {"passed"},
}
NEEDS_PERSON_OUTCOMES = {"not_approved", "not_signed_off", "rollback_needed"}
SPARKLINE_SECONDS = 300.0


class PhaseProgress(BaseModel):
    name: str
    done: int = 0
    total: int = 0
    unit: str = "keys"
    seconds: float = 0.0
    start: int = Field(0, description="units done before this process took the phase up (a resumed run)")
    ended_at: float | None = Field(None, description="epoch seconds the phase ended (a finished phase only)")

    def figures(self) -> PhaseFigures:
        return PhaseFigures(self.done, self.total, self.seconds, self.unit, self.start)


class ChunkProgressState(BaseModel):
    index: int
    done: int
    total: int
    finished: bool = False


class GateWait(BaseModel):
    gate: str
    waiting_for: list[str]
    since: float = Field(description="epoch seconds the pause began")
    approve_command: str = ""


class LeaseState(BaseModel):
    holder: str
    since: float


class ThrottleState(BaseModel):
    p99_ms: float | None = None
    limit_ms: float | None = None
    delay_seconds: float = 0.0
    throttled_seconds: float = 0.0


class RunStatus(BaseModel):
    """Rewritten by the running flow every second; never holds a secret (the URL is redacted)."""

    kind: RunKind
    redis: str
    backup_dir: str
    flow_run_id: str | None = None
    ui_url: str | None = None
    host: str
    pid: int
    started_at: float
    updated_at: float
    phase: str = "starting"
    progress: PhaseProgress | None = None
    chunks: list[ChunkProgressState] = Field(default_factory=list)
    gate: GateWait | None = None
    lease: LeaseState | None = None
    throttle: ThrottleState | None = None
    last_error: str | None = None
    outcome: str | None = None  # the report's status once the run ended
    resume_command: str = ""
    contacts: list[str] = Field(default_factory=list)  # the escalation contacts, "ROLE: NAME, CONTACT"


def default_resume_command(kind: RunKind, backup_dir: str) -> str:
    """What to run again when the run was not started from a terminal (a deployment run)."""
    if kind == "rollback":
        return f"om-runbook rollback --backup-dir {backup_dir} --redis-url URL"
    return (
        f"run the same deployment again with the same parameters (backup_dir {backup_dir}), or "
        f"om-runbook run --backup-dir {backup_dir} --models MODULE --redis-url URL with the flags of the first run"
    )


class StatusVerdict(BaseModel):
    state: Literal["running", "waiting_for_signoff", "finished", "needs_attention", "failed", "crashed"]
    exit_code: int
    headline: str


def judge_status(status: RunStatus, now: float, this_host: str, process_alive: bool) -> StatusVerdict:
    """Healthy (0) while running or finished well; 3 when a person must act; 1 when the run failed or died."""
    if status.outcome is not None:
        if status.outcome in GOOD_OUTCOMES[status.kind]:
            return StatusVerdict(state="finished", exit_code=EXIT_HEALTHY, headline=f"finished: {status.outcome}")
        if status.outcome in NEEDS_PERSON_OUTCOMES:
            return StatusVerdict(
                state="needs_attention", exit_code=EXIT_NEEDS_PERSON, headline=f"ended {status.outcome}"
            )
        return StatusVerdict(state="failed", exit_code=EXIT_FAILED, headline=f"ended {status.outcome}")
    silent = now - status.updated_at
    dead = (status.host == this_host and not process_alive) or silent > HEARTBEAT_STALE_SECONDS
    if dead:
        return StatusVerdict(
            state="crashed",
            exit_code=EXIT_FAILED,
            headline=f"CRASHED in phase {status.phase}: process {status.host}:{status.pid} gone, last heartbeat "
            f"{human_duration(silent)} ago",
        )
    if status.gate is not None:
        return StatusVerdict(
            state="waiting_for_signoff",
            exit_code=EXIT_NEEDS_PERSON,
            headline=f"waiting for sign-off {status.gate.gate} from {', '.join(status.gate.waiting_for)}",
        )
    return StatusVerdict(state="running", exit_code=EXIT_HEALTHY, headline=f"running: {status.phase}")


def timeline_lines(timeline: Timeline, unit: str) -> list[str]:
    """Over the last minutes with a measured rate: one sparkline per phase of its rate (each on its own scale), and
    one of PING p99 over the phases that measured it. The minutes end at the last measured point, so a finished or
    crashed run shows its own."""
    measured = [point for point in timeline.points if point.per_second is not None]
    if not measured:
        return []
    window = recent(timeline.points, measured[-1].at, SPARKLINE_SECONDS)
    lines = []
    for phase in dict.fromkeys(point.phase for point in window if point.per_second is not None):
        rates = [point.per_second for point in window if point.phase == phase]
        last = next(rate for rate in reversed(rates) if rate is not None)
        lines.append(f"  {phase}, {unit}/s: {sparkline(rates)}  last {last:,.0f}/s")
    probed = {point.phase for point in window if point.p99_ms is not None}
    p99s = [point.p99_ms for point in window if point.phase in probed]
    if probed:
        last = next(p99 for p99 in reversed(p99s) if p99 is not None)
        worst = max(p99 for p99 in p99s if p99 is not None)
        lines.append(f"  PING p99: {sparkline(p99s)}  last {last:.2f} ms, worst {worst:.2f} ms")
    return lines


def status_lines(status: RunStatus, verdict: StatusVerdict, now: float, timeline: Timeline | None = None) -> list[str]:
    """The one-screen answer."""
    lines = [
        f"om-runbook {status.kind}: {verdict.headline}",
        f"  redis {status.redis}, backup dir {status.backup_dir}",
        f"  process {status.host}:{status.pid}, started {human_duration(now - status.started_at)} ago, "
        f"heartbeat {human_duration(now - status.updated_at)} ago",
    ]
    if status.flow_run_id:
        lines.append(f"  flow run {status.flow_run_id}" + (f"  {status.ui_url}" if status.ui_url else ""))
    if status.progress is not None:
        lines.append(f"  phase {status.phase}: {status.progress.figures().text()}")
    else:
        lines.append(f"  phase {status.phase}")
    if timeline is not None:
        lines += timeline_lines(timeline, status.progress.unit if status.progress else "keys")
    if status.chunks:
        finished = sum(1 for c in status.chunks if c.finished)
        running = [c for c in status.chunks if not c.finished and c.done]
        lines.append(
            f"  chunks: {finished} of {len(status.chunks)} done, {len(running)} running"
            + "".join(f"; {c.index:04d} at {c.done:,}/{c.total:,}" for c in running[:8])
        )
    if status.throttle is not None:
        throttle = status.throttle
        p99 = f"{throttle.p99_ms:.2f} ms" if throttle.p99_ms is not None else "not measured"
        limit = f"{throttle.limit_ms:g} ms" if throttle.limit_ms else "off"
        lines.append(
            f"  throttle: p99 {p99} against limit {limit}, delay per batch {throttle.delay_seconds:g} s, "
            f"throttled {throttle.throttled_seconds:.1f} s so far"
        )
    if status.lease is not None:
        lines.append(f"  lease held by {status.lease.holder} for {human_duration(now - status.lease.since)}")
    if status.gate is not None:
        lines.append(
            f"  gate {status.gate.gate}: waiting {human_duration(now - status.gate.since)} for "
            f"{', '.join(status.gate.waiting_for)}"
        )
        if status.gate.approve_command:
            lines.append(f"  answer: {status.gate.approve_command}")
    if status.last_error:
        lines.append(f"  last error: {status.last_error}")
    if verdict.state == "crashed" and status.resume_command:
        lines.append(f"  resume with: {status.resume_command}")
    if status.contacts:
        lines.append("  escalation contacts: " + "; ".join(status.contacts))
    return lines
