"""What the approvers are told when a sign-off gate waits for them (pure): the gate, the roles still missing, a
one-paragraph summary, the run's UI link and the exact `om-runbook approve` command. Never a secret."""

from __future__ import annotations

import re
import shlex

from om_runbook.migrations.redaction import redact_text

_EMPHASIS = re.compile(r"\*\*|__|`")


def is_http_url(url: str) -> bool:
    """What a webhook must be (the only schemes a webhook POST goes to)."""
    return url.startswith(("http://", "https://"))


def approve_command(flow_run_id: str, role: str) -> str:
    """The terminal answer for one role (append `--reject` to reject)."""
    return f"om-runbook approve {flow_run_id} --role {shlex.quote(role)} --name NAME"


def summary_paragraph(summary_markdown: str) -> str:
    """A gate's markdown summary as one paragraph: headings dropped, bullets joined with '; '."""
    lines = [_EMPHASIS.sub("", line).strip() for line in summary_markdown.splitlines()]
    kept = [line.removeprefix("- ").strip() for line in lines if line and not line.startswith("#")]
    return "; ".join(kept)


def gate_notice(
    gate: str,
    waiting: list[str],
    summary_markdown: str,
    ui_url: str | None,
    flow_run_id: str,
    secrets: tuple[str, ...] = (),
    contacts: str = "",
) -> str:
    """The message for a webhook (Slack reads `text`); every Redis URL in it is redacted, and `secrets` too.
    `contacts` is the escalation contacts' line."""
    lines = [
        f"om-runbook: sign-off {gate} is waiting for {', '.join(waiting)}.",
        summary_paragraph(summary_markdown),
        f"Answer in the Prefect UI: {ui_url}" if ui_url else "Answer in the Prefect UI (Flow Runs, Paused, Resume).",
        f"Or from a terminal: {approve_command(flow_run_id, waiting[0])} (add --reject to reject).",
        contacts,
    ]
    return redact_text("\n".join(line for line in lines if line), secrets)
