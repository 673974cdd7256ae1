"""The checklist's communication plan (pure): the escalation contacts, and the text of each notice a run sends (start,
progress, completion, rollback, performance summary). Every notice carries the run's UI link and the contacts, and
never a secret: every Redis URL in it is redacted, and the secrets given are masked."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.kpi_targets import kpi_lines
from om_runbook.migrations.progress_figures import human_duration
from om_runbook.migrations.redaction import redact_text
from om_runbook.migrations.report import RunReport
from om_runbook.migrations.signoff import ROLES, Role

NoticeKind = Literal["start", "progress", "gate", "completion", "rollback", "summary"]
ROLLED_BACK = ("rolled_back", "rollback_incomplete", "rollback_needed")  # the statuses a rollback notice announces


class Contact(BaseModel):
    """An escalation contact of the checklist: who to call for a role, and how."""

    role: Role
    name: str = Field(min_length=1)
    contact: str = Field(min_length=1, description="phone, e-mail or chat handle")


def parse_contact(spec: str) -> Contact:
    """`ROLE=NAME,CONTACT` (the contact may hold commas itself)."""
    role, separator, rest = spec.partition("=")
    name, comma, contact = rest.partition(",")
    if not separator or not comma or not name.strip() or not contact.strip():
        raise ConfigurationError(
            f"--contact {spec!r}: expected ROLE=NAME,CONTACT (e.g. 'Technical Lead=Ada,+44 20 7946')"
        )
    if role.strip() not in ROLES:
        raise ConfigurationError(f"--contact {spec!r}: unknown role {role.strip()!r}; roles are {', '.join(ROLES)}")
    return Contact(role=role.strip(), name=name.strip(), contact=contact.strip())  # type: ignore[arg-type]


def contact_line(contact: Contact) -> str:
    return f"{contact.role}: {contact.name}, {contact.contact}"


def contacts_text(contacts: list[Contact]) -> str:
    if not contacts:
        return "Escalation contacts: none given (--contact ROLE=NAME,CONTACT)"
    return "Escalation contacts: " + "; ".join(contact_line(contact) for contact in contacts)


def notice(
    headline: str, lines: list[str], ui_url: str | None, contacts: list[Contact], secrets: tuple[str, ...]
) -> str:
    """A notice for a webhook or a Prefect automation (Slack reads the text as is)."""
    link = f"Run: {ui_url}" if ui_url else "Run: see the Prefect UI (Flow Runs)"
    body = [f"om-runbook: {headline}", *[line for line in lines if line], link, contacts_text(contacts)]
    return redact_text("\n".join(body), secrets)


def start_lines(redis: str, backup_dir: str, models: str) -> list[str]:
    return [
        f"Redis: {redis}; backup directory: {backup_dir}; models: {models}",
        "First the assessment and the backups; nothing is written before the go/no-go sign-off.",
    ]


def progress_lines(phase: str, figures_text: str) -> list[str]:
    """`figures_text` is the progress meter's own: keys done of planned, keys/s and the ETA."""
    return [f"{phase}: {figures_text}"]


def completion_lines(report: RunReport) -> list[str]:
    reason = [f"Last message: {report.messages[-1]}"] if report.status != "succeeded" and report.messages else []
    return [
        f"Status: {report.status}; keys migrated: {report.kpis.keys_migrated:,}; "
        f"fields converted: {report.kpis.fields_converted:,}; failed: {report.kpis.fields_failed:,}",
        *reason,
        "KPIs against their targets:",
        *kpi_lines(report.kpi_checks),
    ]


def rollback_lines(report: RunReport) -> list[str]:
    reasons = [
        m.removeprefix("rollback criterion met: ") for m in report.messages if m.startswith("rollback criterion")
    ]
    outcome = {
        "rolled_back": "every changed field was given back exactly",
        "rollback_incomplete": "the rollback did not finish: run `om-runbook rollback` with the run's --backup-dir",
        "rollback_needed": "automatic rollback is off: run `om-runbook rollback` with the run's --backup-dir",
    }[report.status]
    return [f"Why: {'; '.join(reasons) or 'see the run'}", f"Outcome: {outcome}"]


def summary_lines(report: RunReport) -> list[str]:
    """The performance summary: each phase's duration (and rate where it counted keys), latency, resource peaks."""
    phases = []
    for name, phase in report.phases.items():
        chunks = phase.details.get("chunks") or []
        keys = phase.details.get("keys_scanned") or sum(int(chunk.get("key_count", 0)) for chunk in chunks)
        rate = f", {keys / phase.duration_seconds:,.0f} keys/s" if keys and phase.duration_seconds > 0 else ""
        phases.append(f"{name} {phase.duration_seconds:.1f} s{rate}")
    system = report.system
    latency = []
    if system.app_read is not None and system.baseline_app_latency and system.migration_app_latency:
        latency.append(
            f"application read ({system.app_read.command}) p50 before {system.baseline_app_latency.p50_ms:.2f} ms, "
            f"during {system.migration_app_latency.p50_ms:.2f} ms"
        )
    if system.baseline_latency is not None:
        latency.append(f"PING p99 before {system.baseline_latency.p99_ms:.2f} ms")
    if system.migration_latency is not None:
        latency.append(f"during {system.migration_latency.p99_ms:.2f} ms")
    peaks = [
        f"{label} peak {100 * share:.1f}%"
        for label, share in (("memory", system.memory_peak_share), ("Redis CPU", system.cpu_peak_share))
        if share is not None
    ]
    return [
        f"Duration: {human_duration(report.kpis.duration_seconds)} ({report.kpis.duration_seconds:.1f} s); phases: "
        + "; ".join(phases),
        ", ".join(latency + peaks) if latency or peaks else "",
        f"Throttled for {system.throttled_seconds:.1f} s" if system.throttled_seconds else "",
    ]
