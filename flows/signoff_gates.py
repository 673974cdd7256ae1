"""Sign-off gates as Prefect pauses with typed input: the flow waits until every required role answered."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from enum import Enum

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field, create_model

from om_runbook.flows.gate_notifications import label_waiting_gate
from om_runbook.flows.run_lookup import flow_run_ui_url
from om_runbook.migrations.communication import contacts_text
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.gate_notice import approve_command, gate_notice
from om_runbook.migrations.run_status import GateWait
from om_runbook.migrations.signoff import (
    AUTOMATIC_APPROVER,
    CONFIRMATIONS,
    Decision,
    Gate,
    GateOutcome,
    Role,
    SignOff,
    confirmations_ticked,
    gate_outcome,
    missing_roles,
)
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.webhook import post_text, webhook_host


class SignOffInput(RunInput):
    """The form a person fills in to answer a gate (in the Prefect UI or with `om-runbook approve`)."""

    name: str = Field(description="your name", min_length=1)
    role: Role = Field(description="the checklist role you sign for")
    decision: Decision = Field(description="approve, or reject (after the migration, reject rolls back exactly)")
    comment: str = Field("", description="anything the record should say")


class FinalSignOffInput(SignOffInput):
    """The final gate also records what the team learned (the checklist's final sign-off)."""

    issues_encountered: str = Field("", description="issues encountered")
    lessons_learned: str = Field("", description="lessons learned")
    recommendations: str = Field("", description="recommendations for future migrations")


def signoff_form(gate: Gate, waiting: list[Role]) -> type[SignOffInput]:
    """The gate's form: its role field offers only the roles still waiting (an answer for another is refused)."""
    base = FinalSignOffInput if gate == "final" else SignOffInput
    # An Enum, not a Literal: the schema of a one-value Literal is a `const`, which the UI shows as an empty box
    waiting_roles = Enum("WaitingRole", {role: role for role in waiting}, type=str)  # type: ignore[misc]
    boxes = {key: (bool, Field(False, description=f"confirm: {text}")) for key, text in CONFIRMATIONS[gate]}
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{base.__name__}For{gate.title().replace('-', '')}",
        __base__=base,
        role=(waiting_roles, Field(description="the checklist role you sign for (still waiting)")),
        **boxes,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _notify(settings: RunSettings, gate: Gate, waiting: list[Role], summary_markdown: str) -> None:
    """The notice goes on the run's labels (the Paused automation sends it) and to --notify-webhook if given."""
    logger = get_run_logger()
    url = settings.notify_webhook.get_secret_value() if settings.notify_webhook else ""
    contacts = contacts_text(settings.contacts)
    text = gate_notice(
        gate, list(waiting), summary_markdown, flow_run_ui_url(), str(flow_run.id), settings.notice_secrets(), contacts
    )
    try:
        label_waiting_gate(str(flow_run.id), gate, list(waiting), text)
    except Exception as exc:  # noqa: BLE001 - a label is a convenience; the gate must wait regardless
        logger.warning("sign-off %s: the run's notice labels were not set (%s)", gate, type(exc).__name__)
    if not url:
        return
    failure = post_text(url, text)
    if failure is None:
        logger.info("sign-off %s: approvers notified through %s", gate, webhook_host(url))
    else:
        logger.warning("sign-off %s: notification not delivered (%s); the gate waits all the same", gate, failure)


def ask_for_signoffs(gate: Gate, summary_markdown: str, settings: RunSettings) -> tuple[GateOutcome, list[SignOff]]:
    """Pause until the gate is approved by every required role, rejected by one, or out of time."""
    required = settings.signoff_roles.for_gate(gate)
    if settings.auto_approve:
        return "approved", [
            SignOff(gate=gate, role=role, name=AUTOMATIC_APPROVER, decision="approve", at=_now()) for role in required
        ]
    logger = get_run_logger()
    signoffs: list[SignOff] = []
    deadline = time.monotonic() + settings.gate_timeout_seconds
    since = time.time()
    METER.enter(f"sign-off {gate}")
    try:
        while (outcome := gate_outcome(required, signoffs, gate)) is None:
            waiting = missing_roles(required, signoffs, gate)
            command = approve_command(str(flow_run.id), waiting[0])
            METER.gate = GateWait(gate=gate, waiting_for=list(waiting), since=since, approve_command=command)
            logger.info(
                "sign-off %s waiting for %s: answer in the Prefect UI or with `%s [--reject]`",
                gate,
                ", ".join(waiting),
                command,
            )
            _notify(settings, gate, waiting, summary_markdown)
            form = signoff_form(gate, waiting).with_initial_data(
                description=f"## Sign-off: {gate}\n\nWaiting for: **{', '.join(waiting)}**\n\n{summary_markdown}"
            )
            remaining = int(deadline - time.monotonic())
            if remaining < 1:
                return "timed_out", signoffs
            try:
                answer = pause_flow_run(
                    wait_for_input=form,
                    timeout=remaining,
                    poll_interval=settings.gate_poll_seconds,
                    key=f"{gate}-{len(signoffs)}",
                )
            except FlowPauseTimeout:
                return "timed_out", signoffs
            given = answer.model_dump(mode="json")
            signoff = SignOff(
                gate=gate,
                at=_now(),
                confirmed=confirmations_ticked(gate, given),
                **{name: value for name, value in given.items() if name in SignOff.model_fields},
            )
            signoffs.append(signoff)
            logger.info("sign-off %s: %s (%s) answered %s", gate, signoff.name, signoff.role, signoff.decision)
        return outcome, signoffs
    finally:
        METER.gate = None
