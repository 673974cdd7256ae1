"""Sign-off gates as Prefect pauses with typed input: the flow waits until every required role answered."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from migrations.config import RunSettings
from migrations.signoff import (
    AUTOMATIC_APPROVER,
    Decision,
    Gate,
    GateOutcome,
    Role,
    SignOff,
    gate_outcome,
    missing_roles,
)


class SignOffInput(RunInput):
    """The form a person fills in to answer a gate (in the Prefect UI or with `om-runbook approve`)."""

    name: str = Field(description="your name", min_length=1)
    role: Role = Field(description="the checklist role you sign for")
    decision: Decision = Field(description="approve, or reject (after the migration, reject rolls back exactly)")
    comment: str = Field("", description="anything the record should say")
    issues_encountered: str = Field("", description="final sign-off: issues encountered")
    lessons_learned: str = Field("", description="final sign-off: lessons learned")
    recommendations: str = Field("", description="final sign-off: recommendations for future migrations")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    while (outcome := gate_outcome(required, signoffs, gate)) is None:
        waiting = missing_roles(required, signoffs, gate)
        logger.info(
            "sign-off %s waiting for %s: answer in the Prefect UI or with "
            "`om-runbook approve %s --role '%s' --name NAME [--reject]`",
            gate,
            ", ".join(waiting),
            flow_run.id,
            waiting[0],
        )
        form = SignOffInput.with_initial_data(
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
        signoff = SignOff(gate=gate, at=_now(), **answer.model_dump(include=set(SignOffInput.model_fields)))
        signoffs.append(signoff)
        if signoff.role not in waiting:
            logger.warning(
                "sign-off %s: %s answered for %s, which this gate does not wait for", gate, signoff.name, signoff.role
            )
        else:
            logger.info("sign-off %s: %s (%s) answered %s", gate, signoff.name, signoff.role, signoff.decision)
    return outcome, signoffs
