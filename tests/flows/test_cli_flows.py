"""`om-runbook` end to end: rehearse as a new user runs it, approve from a terminal, refusals before writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.cli import main
from migrations.signoff import GateRoles
from tests.flows.helpers import keyspace, seed
from tests.flows.test_checklist_flow import FlowInThread, _gated

pytestmark = pytest.mark.usefixtures("prefect_harness")
OM_RUNBOOK = Path(sys.executable).with_name("om-runbook")


def _rehearsal_servers() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "om-runbook-rehearsal-"], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "redis-server" in line]


def test_rehearse_end_to_end_proves_byte_identity_and_leaves_no_process(tmp_path):
    report_path = tmp_path / "rehearsal.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    completed = subprocess.run(
        [str(OM_RUNBOOK), "rehearse", "--count", "3000", "--report-json", str(report_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "REHEARSAL PASSED" in completed.stdout
    assert "error rate" in completed.stdout and "0 changed, 0 missing, 0 added" in completed.stdout
    report = json.loads(report_path.read_text())
    assert report["status"] == "succeeded"
    assert {"assess", "backup", "migrate", "verify", "rollback"} <= set(report["phases"])
    assert report["rehearsal"]["passed"] is True
    assert report["rehearsal"]["rollback_diff"]["keys_before"] == 3000
    assert all(report["rehearsal"]["criteria"].values())
    assert [s["name"] for s in report["signoffs"]] == ["automatic (rehearsal)"] * len(report["signoffs"])
    assert _rehearsal_servers() == []


def test_run_with_gates_and_no_reachable_prefect_server_refuses_before_any_write(
    redis_server, tmp_path, monkeypatch, capsys
):
    client = redis_server.client()
    seed(client, 20)
    before = keyspace(client)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    code = main(
        ["run", "--redis-url", redis_server.url, "--models", "migrations.sample_models", "--backup-dir", str(tmp_path)]
    )
    assert code == 2
    assert "sign-off gates need a Prefect server people can reach" in capsys.readouterr().err
    assert keyspace(client) == before


def test_approve_from_a_terminal_resumes_the_paused_run(redis_server, tmp_path, monkeypatch, capsys):
    client = redis_server.client()
    seed(client, 50)
    before = keyspace(client)
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b", signoff_roles=GateRoles(go_no_go=["Technical Lead"])))
    run_id = flow.wait_paused()
    args = ["approve", str(run_id), "--role", "Technical Lead", "--name", "Grace", "--reject", "--comment", "not today"]
    assert main(args) == 0
    assert f"rejected flow run {run_id} as Technical Lead (Grace)" in capsys.readouterr().out
    report = flow.join()
    assert report.status == "not_approved"
    assert [(s.name, s.decision, s.comment) for s in report.signoffs] == [("Grace", "reject", "not today")]
    assert keyspace(client) == before


def test_approve_explains_a_bad_run_id_and_a_missing_server(monkeypatch, capsys):
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    assert main(["approve", "not-a-uuid", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "'not-a-uuid' is not a flow run ID" in capsys.readouterr().err
    assert main(["approve", "00000000-0000-0000-0000-000000000000", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "was not resumed" in capsys.readouterr().err
    monkeypatch.delenv("PREFECT_API_URL")
    assert main(["approve", "00000000-0000-0000-0000-000000000000", "--role", "Technical Lead", "--name", "x"]) == 2
    assert "export PREFECT_API_URL" in capsys.readouterr().err
