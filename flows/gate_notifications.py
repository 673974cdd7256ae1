"""Notifications the Prefect way: before each pause the flow run carries its gate notice in labels, every other notice
of the communication plan is an `om-runbook.notice` event on the run, and one automation on both posts the notice
to a Webhook block (set up once per Prefect server)."""

from __future__ import annotations

from uuid import UUID

from prefect.automations import Automation
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.actions import CallWebhook
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

NOTICE_LABEL = "om-runbook.notice"
GATE_LABEL = "om-runbook.gate"
WAITING_LABEL = "om-runbook.waiting-for"
WEBHOOK_BLOCK = "om-runbook-gate-webhook"
AUTOMATION_NAME = "om-runbook: a sign-off gate waits"
MIGRATION_FLOW = "om-datetime-migration"
NOTICE_EVENT = "om-runbook.notice"
# Slack reads `text`; a run paused by something else than a gate still says where it is
PAYLOAD_TEMPLATE = (
    '{"text": {{ (event.payload.text if event.event == "om-runbook.notice" else '
    '(flow_run.labels["om-runbook.notice"] if "om-runbook.notice" in flow_run.labels else '
    '"om-runbook: flow run " ~ flow_run.name ~ " is paused: " ~ (flow_run|ui_url))) | tojson }}}'
)


def label_waiting_gate(flow_run_id: str, gate: str, waiting: list[str], notice: str) -> None:
    """The notice the automation sends, on the run itself (no secret in it: `gate_notice` redacts)."""
    labels = {GATE_LABEL: gate, WAITING_LABEL: ", ".join(waiting), NOTICE_LABEL: notice}
    with get_client(sync_client=True) as client:
        client.update_flow_run_labels(UUID(flow_run_id), labels)


def set_up_gate_automation(webhook_url: str) -> UUID:
    """The Webhook block and the automation (both replaced if they exist): idempotent, for the deployment set-up."""
    block_id = Webhook(
        method="POST",
        url=SecretStr(webhook_url),
        headers={"Content-Type": "application/json"},
        allow_private_urls=True,  # an internal relay or a test server on loopback
    ).save(WEBHOOK_BLOCK, overwrite=True)
    try:
        Automation.read(name=AUTOMATION_NAME).delete()
    except (ObjectNotFound, ValueError):
        pass
    automation = Automation(
        name=AUTOMATION_NAME,
        description="Tells the approvers that an om-runbook sign-off gate waits (gate, roles, summary, link, command), "
        "and the team each notice of the communication plan (start, progress, completion, rollback, summary)",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Paused", NOTICE_EVENT},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": MIGRATION_FLOW},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[CallWebhook(block_document_id=block_id, payload=PAYLOAD_TEMPLATE)],
    ).create()
    return automation.id
