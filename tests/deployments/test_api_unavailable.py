"""A Prefect API that answers 503 "database is locked" (SQLite under load) when a chunk's subflow is created, for
longer than the Prefect client's own retries last: the chunk is tried again and the run succeeds, every value
converted once. Real server, real proxy, real `om-runbook run`."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import urlsplit

import pytest

from tests.deployments.api_fault_proxy import ApiFaultProxy, creates_a_subflow
from tests.deployments.prefect_processes import ROOT
from tests.deployments.test_prefect_ui import OM_RUNBOOK
from tests.flows.helpers import seed

pytestmark = pytest.mark.xdist_group("prefect-server")


def test_a_busy_prefect_api_refusing_a_chunks_subflow_is_waited_out_and_the_run_succeeds(
    prefect_server, any_redis_server, tmp_path
):
    client = any_redis_server.client()
    seed(client, 2_000)
    proxy = ApiFaultProxy(urlsplit(prefect_server["PREFECT_API_URL"]).port, creates_a_subflow, failures=1)
    try:
        env = dict(prefect_server) | {
            "PREFECT_API_URL": proxy.api_url,
            "PREFECT_CLIENT_MAX_RETRIES": "0",  # the client's own retries are spent at once: ours must carry it
        }
        command = [
            str(OM_RUNBOOK), "run", "--redis-url", any_redis_server.url,
            "--models", "om_runbook.migrations.sample_models", "--backup-dir", str(tmp_path / "backup"),
            "--auto-approve", "--report-json", str(tmp_path / "report.json"), "--no-rdb-snapshot",
        ]  # fmt: skip
        run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    finally:
        proxy.close()
    assert proxy.refused == ["POST /api/flow_runs/"], proxy.refused
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "succeeded"
    kpis = report["kpis"]
    assert kpis["keys_migrated"] > 0 and kpis["fields_converted"] > 0 and kpis["success_rate"] == 1.0
    assert (kpis["fields_failed"], kpis["fields_already_converted"], kpis["conflicts"]) == (0, 0, 0)
    assert "503 Service Unavailable" in run.stdout + run.stderr  # the first try's failure is logged, not hidden
