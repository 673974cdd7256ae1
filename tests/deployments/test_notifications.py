"""The communication plan on a real Prefect server: start, progress, gate, completion and performance summary reach
the `--notify-webhook` receiver in the order they were sent, and the `setup-notifications` automation's receiver
too; every notice carries the run's UI link and the escalation contacts, and no secret."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.deployments.prefect_processes import ROOT
from tests.deployments.test_prefect_ui import OM_RUNBOOK, _om_runbook, _wait_for_gate
from tests.flows.helpers import seed
from tests.webhook_server import Webhook

pytestmark = pytest.mark.xdist_group("prefect-server")

KINDS = {
    "om-runbook: migration started": "start",
    "om-runbook: migration progress": "progress",
    "om-runbook: sign-off go-no-go is waiting": "gate",
    "om-runbook: migration finished: succeeded": "completion",
    "om-runbook: performance summary": "summary",
}
ADA = "Technical Lead: Ada Lovelace, +44 20 7946 0000"
CODD = "Database Administrator: Edgar Codd, codd@example.com"


def _kind(text: str) -> str:
    return next((kind for start, kind in KINDS.items() if text.startswith(start)), f"other: {text[:60]}")


def _of_run(hook: Webhook, flow_run_id: str) -> list[str]:
    return [body["text"] for body in hook.bodies if flow_run_id in body["text"]]


def test_start_progress_gate_completion_and_summary_reach_both_ways_in_order_with_no_secret(
    prefect_server, redis_server_factory, tmp_path
):
    env = dict(prefect_server)
    by_automation, direct = Webhook(), Webhook()
    try:
        set_up = _om_runbook(env, "setup-notifications", "--webhook-url", by_automation.url)
        assert set_up.returncode == 0, set_up.stderr
        server = redis_server_factory(password="pw-s3cret")
        seed(server.client(), 20_000)
        backup_dir = tmp_path / "backup"
        env |= {"REDIS_OM_URL": server.url, "OM_RUNBOOK_NOTIFY_WEBHOOK": direct.url}
        command = [
            str(OM_RUNBOOK), "run", "--models", "om_runbook.migrations.sample_models", "--backup-dir", str(backup_dir),
            "--roles", "go-no-go=Technical Lead", "--roles", "acceptance=", "--roles", "final=", "--gate-poll", "1",
            "--progress-every", "0.005", "--batch-size", "20", "--no-rdb-snapshot",
            "--contact", "Technical Lead=Ada Lovelace,+44 20 7946 0000",
            "--contact", "Database Administrator=Edgar Codd,codd@example.com",
        ]  # fmt: skip
        log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
        run = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            status = _wait_for_gate(backup_dir, ["Technical Lead"], run)
            shown = _om_runbook(env, "status", "--backup-dir", str(backup_dir)).stdout
            assert f"escalation contacts: {ADA}; {CODD}" in shown, shown
            answer = _om_runbook(env, "approve", status.flow_run_id, "--role", "Technical Lead", "--name", "Ada")
            assert answer.returncode == 0, answer.stderr
            assert run.wait(timeout=180) == 0, (tmp_path / "run.log").read_text()[-3000:]
        finally:
            if run.poll() is None:
                run.kill()
            log.close()
        run_id = status.flow_run_id
        sent = _of_run(direct, run_id)
        kinds = [_kind(text) for text in sent]
        assert kinds[0] == "start" and kinds[-2:] == ["completion", "summary"], kinds
        assert kinds.count("gate") == 1 and "progress" in kinds and all(not k.startswith("other") for k in kinds)
        for text in sent:
            assert f"/runs/flow-run/{run_id}" in text, text
            assert f"Escalation contacts: {ADA}; {CODD}" in text, text
            assert "s3cret" not in text and "secret-token" not in text, text
        assert "redis://:***@127.0.0.1" in sent[0]
        progress = [text for text, kind in zip(sent, kinds, strict=True) if kind == "progress"]
        assert any(" keys/s, ETA " in text and " of 20,000 keys" in text for text in progress), progress
        completion = sent[kinds.index("completion")]
        assert "error rate: " in completion and "(target < 1%, met)" in completion, completion
        assert "Duration: " in sent[-1] and "migrate " in sent[-1], sent[-1]

        # the automation posts the same notices from the events it sees (its own order: asynchronous delivery)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = {_kind(text) for text in _of_run(by_automation, run_id)}
            if {"start", "gate", "completion", "summary", "progress"} <= seen:
                break
            time.sleep(0.5)
        assert {"start", "gate", "completion", "summary", "progress"} <= seen, _of_run(by_automation, run_id)
        assert not any("s3cret" in text or "secret-token" in text for text in _of_run(by_automation, run_id))
    finally:
        by_automation.close()
        direct.close()
    checklist = (backup_dir / "archive" / "checklist.md").read_text()
    assert "- [x] Migration start notification sent: sent 20" in checklist
    assert "- [x] Progress updates provided (every --progress-every minutes while keys move): " in checklist
    assert "- [x] Completion notification sent: sent " in checklist and "Prefect event, http://127.0.0.1)" in checklist
    assert "- [x] Technical Lead: Ada Lovelace, +44 20 7946 0000" in checklist
    assert "- [ ] Operations Manager: not given (--contact 'Operations Manager=NAME,CONTACT')" in checklist
