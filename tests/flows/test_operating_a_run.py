"""Watching and answering a run: `om-runbook status` from the durable state, gate notifications to a webhook."""

from __future__ import annotations

import subprocess
import time

import pytest

from om_runbook.flows.cli import main
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.signoff import GateRoles
from om_runbook.tasks.backup_store.run_status import read_status, status_path, write_status
from tests.flows.helpers import keyspace, seed
from tests.flows.test_checklist_flow import FlowInThread, _answer, _gated, _wait_until_not_paused
from tests.webhook_server import Webhook

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def _wait_for_status_gate(backup_dir, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if read_status(backup_dir).gate is not None:
                return
        except ConfigurationError:
            pass
        time.sleep(0.2)
    raise AssertionError("status.json never showed the waiting gate")


def test_a_waiting_gate_notifies_the_webhook_and_status_says_who_must_answer(
    redis_server_factory, tmp_path, webhook, capsys
):
    server = redis_server_factory(password="hunter2-secret")
    client = server.client()
    seed(client, 60)
    backup_dir = tmp_path / "b"
    roles = GateRoles(go_no_go=["Technical Lead", "Database Administrator"], acceptance=[], final=[])
    flow = FlowInThread(_gated(server.url, backup_dir, signoff_roles=roles, notify_webhook=webhook.url))
    run_id = flow.wait_paused()

    assert [body["text"].splitlines()[0] for body in webhook.bodies] == [
        "om-runbook: migration started",
        "om-runbook: sign-off go-no-go is waiting for Technical Lead, Database Administrator.",
    ]
    text = webhook.bodies[1]["text"]
    assert "sign-off go-no-go is waiting for Technical Lead, Database Administrator." in text
    assert f"/runs/flow-run/{run_id}" in text  # the run's page in the Prefect UI
    assert f"om-runbook approve {run_id} --role 'Technical Lead' --name NAME" in text
    assert "keys scanned: 60" in text and "estimated duration: under a second" in text
    assert "hunter2-secret" not in text and "secret-token" not in text

    _wait_for_status_gate(backup_dir)  # status.json is rewritten once a second
    assert main(["status", "--backup-dir", str(backup_dir)]) == 3  # a person must act
    shown = capsys.readouterr().out
    assert "waiting for sign-off go-no-go from Technical Lead, Database Administrator" in shown
    assert f"answer: om-runbook approve {run_id} --role 'Technical Lead' --name NAME" in shown
    assert "Prefect: flow run Paused (go-no-go-0)" in shown
    assert "hunter2-secret" not in shown

    _answer(run_id, "Technical Lead")
    _wait_until_not_paused(run_id)
    run_id = flow.wait_paused()  # again, for the role still missing, and the webhook is told so
    assert "is waiting for Database Administrator." in webhook.bodies[2]["text"]
    _answer(run_id, "Database Administrator")
    report = flow.join()
    assert report.status == "succeeded", report.messages
    assert [body["text"].splitlines()[0] for body in webhook.bodies[3:]] == [
        "om-runbook: migration finished: succeeded",
        "om-runbook: performance summary",
    ]
    assert main(["status", "--backup-dir", str(backup_dir)]) == 0
    assert "finished: succeeded" in capsys.readouterr().out


def test_a_webhook_that_fails_is_logged_and_the_gate_waits_all_the_same(redis_server, tmp_path, caplog):
    hook = Webhook(status=500)
    try:
        client = redis_server.client()
        seed(client, 20)
        before = keyspace(client)
        roles = GateRoles(go_no_go=["Technical Lead"], acceptance=[], final=[])
        flow = FlowInThread(_gated(redis_server.url, tmp_path / "b", signoff_roles=roles, notify_webhook=hook.url))
        run_id = flow.wait_paused()
        _answer(run_id, "Technical Lead", "reject")
        report = flow.join()
    finally:
        hook.close()
    assert report.status == "not_approved"
    assert keyspace(client) == before
    assert "notification not delivered (http://127.0.0.1 answered HTTP 500)" in caplog.text
    assert "start notice not delivered (http://127.0.0.1 answered HTTP 500); the run goes on" in caplog.text
    assert "secret-token" not in caplog.text


def test_a_webhook_that_is_not_http_is_refused_before_anything_runs(redis_server, tmp_path):
    with pytest.raises(ConfigurationError, match="must be an http:// or https:// URL"):
        _gated(redis_server.url, tmp_path / "b", notify_webhook="ftp://example/hook")


def test_status_of_a_run_whose_process_died_says_crashed_where_and_how_to_resume(any_redis_server, tmp_path, capsys):
    from om_runbook.flows.migration_flow import migration_flow
    from tests.flows.helpers import settings_for

    seed(any_redis_server.client(), 30)
    backup_dir = tmp_path / "b"
    # no RDB snapshot: Debian's redis-check-rdb 7.0 cannot read Redis 8's RDB version 12 (issue 11)
    settings = settings_for(any_redis_server.url, backup_dir, resume_command="om-runbook run --x", rdb_snapshot=False)
    report = migration_flow(settings)
    assert report.status == "succeeded"
    assert report.system.baseline_latency is not None and report.system.baseline_latency.samples >= 10  # measured
    dead = subprocess.Popen(["true"])
    dead.wait()
    status = read_status(backup_dir)
    assert status.outcome == "succeeded" and status.progress is None
    status.outcome, status.pid, status.phase = None, dead.pid, "migrate: chunks"  # as a kill -9 mid-run leaves it
    write_status(backup_dir, status)
    assert main(["status", "--backup-dir", str(backup_dir)]) == 1
    shown = capsys.readouterr().out
    assert "CRASHED in phase migrate: chunks" in shown and f"{dead.pid} gone" in shown
    assert "resume with: om-runbook run --x" in shown


def test_status_without_a_status_file_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "--backup-dir", str(tmp_path)]) == 2
    assert f"no run has written {status_path(tmp_path)}" in capsys.readouterr().err


def test_setup_notifications_refuses_without_a_prefect_server_or_an_http_webhook(monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OM_RUNBOOK_NOTIFY_WEBHOOK", raising=False)
    assert main(["setup-notifications", "--webhook-url", "https://hooks.example/x"]) == 2
    assert "export PREFECT_API_URL" in capsys.readouterr().err
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached: refused before
    assert main(["setup-notifications", "--webhook-url", "ftp://hooks.example/x"]) == 2
    assert "an http:// or https:// URL" in capsys.readouterr().err
    assert main(["setup-notifications"]) == 2
    assert "give --webhook-url" in capsys.readouterr().err
