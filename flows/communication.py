"""The communication plan, sent: each notice (start, progress, completion, rollback, performance summary) goes out
the two ways a gate notice does: as a Prefect event `om-runbook.notice` on the flow run, which the automation of
`om-runbook setup-notifications` posts to its Webhook block, and to `--notify-webhook` when given. A notice that
cannot be delivered is logged; it never stops the run."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect.context import FlowRunContext
from prefect.events import emit_event

from om_runbook.flows.gate_notifications import MIGRATION_FLOW, NOTICE_EVENT
from om_runbook.migrations.communication import (
    ROLLED_BACK,
    NoticeKind,
    completion_lines,
    notice,
    progress_lines,
    rollback_lines,
    start_lines,
    summary_lines,
)
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.report import RunReport
from om_runbook.tasks.io.webhook import post_text, webhook_host

HEADLINES: dict[NoticeKind, str] = {
    "start": "migration started",
    "progress": "migration progress",
    "completion": "migration finished",
    "rollback": "migration rolled back",
    "summary": "performance summary",
}


class Communication:
    """The notices one run sends, and when each went out (for the checklist's Communication Plan)."""

    def __init__(self, settings: RunSettings, ui_url: str | None, logger) -> None:  # noqa: ANN001 - a Prefect logger
        self.settings, self.ui_url, self.logger = settings, ui_url, logger
        self.webhook = settings.notify_webhook.get_secret_value() if settings.notify_webhook else ""
        self.secrets = settings.notice_secrets()
        self.sent: dict[NoticeKind, list[str]] = {}
        self.next_progress = time.monotonic() + 60 * settings.progress_every_minutes

    def start(self) -> None:
        settings = self.settings
        redis = redact_url(settings.redis_url.get_secret_value())
        self._send("start", start_lines(redis, str(settings.backup_dir), settings.models))

    def progress_due(self, phase: str, figures_text: str) -> None:
        """A progress notice when `--progress-every` minutes have passed since the start or the last one."""
        if time.monotonic() < self.next_progress:
            return
        self.next_progress = time.monotonic() + 60 * self.settings.progress_every_minutes
        self._send("progress", progress_lines(phase, figures_text), headline=f"migration progress ({phase})")

    def end(self, report: RunReport) -> None:
        """The completion or rollback notice, then the performance summary."""
        if report.status in ROLLED_BACK:
            self._send("rollback", rollback_lines(report), headline=f"migration rolled back ({report.status})")
        else:
            self._send("completion", completion_lines(report), headline=f"migration finished: {report.status}")
        self._send("summary", summary_lines(report))

    def _send(self, kind: NoticeKind, lines: list[str], headline: str | None = None) -> None:
        text = notice(headline or HEADLINES[kind], lines, self.ui_url, self.settings.contacts, self.secrets)
        ways = []
        if _emit_notice_event(kind, text):
            ways.append("Prefect event")
        if self.webhook:
            failure = post_text(self.webhook, text)
            if failure is None:
                ways.append(webhook_host(self.webhook))
            else:
                self.logger.warning("%s notice not delivered (%s); the run goes on", kind, failure)
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.sent.setdefault(kind, []).append(f"{at} ({', '.join(ways) or 'not delivered'})")
        self.logger.info("%s notice sent: %s", kind, ", ".join(ways) or "nowhere")

    def evidence(self) -> dict[str, str]:
        """The checklist's Communication Plan items this run proved."""
        found = {}
        for kind in ("start", "completion", "rollback", "summary"):
            if kind in self.sent:
                found[f"notice_{kind}"] = "sent " + "; ".join(self.sent[kind])  # type: ignore[index]
        if "rollback" not in self.sent and "completion" in self.sent:
            found["notice_rollback"] = "no rollback, none to announce"
        progress = self.sent.get("progress", [])
        every = f"every {self.settings.progress_every_minutes:g} min"
        found["notice_progress"] = (
            f"{len(progress)} sent ({every}), the last {progress[-1]}" if progress else f"none due ({every})"
        )
        return found


def _emit_notice_event(kind: NoticeKind, text: str) -> bool:
    """The notice as an event on this flow run (the setup-notifications automation posts its text)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return False
    run = context.flow_run
    try:
        event = emit_event(
            event=NOTICE_EVENT,
            resource={"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.name": run.name},
            related=[
                {
                    "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": MIGRATION_FLOW,
                }
            ],
            payload={"kind": kind, "text": text},
        )
    except Exception:  # noqa: BLE001 - a notice never stops the run; the webhook (if any) still gets it
        return False
    return event is not None
