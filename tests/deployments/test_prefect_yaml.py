"""deployments/prefect.yaml against a real `prefect server start`, a process work pool and a worker: the staging
rehearsal deployment is triggered through the API and completes; schedule and concurrency limit are there."""

from __future__ import annotations

import json

import pytest

from tests.deployments.prefect_processes import heartbeat_times
from tests.deployments.prefect_processes import run_script as _run_script
from tests.deployments.prefect_processes import start_worker as _start_worker
from tests.deployments.prefect_processes import stop as _stop

# one worker holds the package's Prefect server (xdist: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("prefect-server")

CLIENT_SCRIPT = r"""
import json, sys
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

request = json.loads(sys.stdin.read())
Secret(value=request["redis_url"]).save("om-runbook-staging-redis-url", overwrite=True)
run = run_deployment("om-staging-rehearsal/staging-rehearsal", parameters=request["parameters"], timeout=240)
with get_client(sync_client=True) as client:
    deployment = client.read_deployment_by_name("om-staging-rehearsal/staging-rehearsal")
    production = client.read_deployment_by_name("om-production-migration/production-migration")
    restore = client.read_deployment_by_name("om-restore/production-restore-snapshot")
    found = [a for a in client.read_artifacts() if a.flow_run_id == run.id]
    artifacts = [a.key for a in found]
    estimate = next((a.data for a in found if a.key == "production-estimate"), "")
print(json.dumps({
    "run_id": str(run.id),
    "state": run.state.type.value,
    "message": run.state.message,
    "crons": [s.schedule.cron for s in deployment.schedules],
    "enforce": deployment.enforce_parameter_schema,
    "limit": deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None,
    "strategy": str(deployment.concurrency_options.collision_strategy) if deployment.concurrency_options else None,
    "production_required": sorted(production.parameter_openapi_schema.get("required", [])),
    "artifacts": artifacts,
    "restore_confirmation": restore.parameter_openapi_schema["properties"]["confirmation"],
    "estimate": estimate,
}))
"""


def test_staging_rehearsal_deployment_runs_on_a_worker(prefect_server, redis_server, tmp_path):
    env = prefect_server
    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = _start_worker(env, worker_log)
    try:
        request = {
            "redis_url": redis_server.url,
            "parameters": {"work_dir": str(tmp_path / "staging"), "seed_count": 500},
        }
        completed = _run_script(CLIENT_SCRIPT, request, env)
    finally:
        _stop(worker)
        worker_log.close()
    assert completed.returncode == 0, completed.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "COMPLETED", (outcome, (tmp_path / "worker.log").read_text()[-3000:])
    assert heartbeat_times(env, outcome["run_id"])  # a worker's flow run keeps Prefect's own heartbeat
    assert outcome["crons"] == ["0 3 * * 1"]
    assert outcome["enforce"] is True
    assert outcome["limit"] == 1 and "CANCEL_NEW" in outcome["strategy"]
    assert outcome["production_required"] == ["backup_dir", "models", "redis_url_secret"]
    assert "production-estimate" in outcome["artifacts"]
    assert "- measured rollback: " in outcome["estimate"] and "- measured snapshot restore: " in outcome["estimate"]
    assert "- every key byte-identical after the snapshot restore: yes" in outcome["estimate"]
    confirmation = outcome["restore_confirmation"]  # the restore's dry run is the default; writing is typed
    assert confirmation["default"] == "" and confirmation["pattern"] == "^(|RESTORE)$", confirmation
    client = redis_server.client()
    assert client.dbsize() == 501  # seeded, migrated, rolled back: the legacy data is back, with the staging marker
    assert client.exists("om-runbook:staging-rehearsal")  # so the next weekly rehearsal may empty it again


FAN_OUT_SCRIPT = r"""
import json, sys
from pathlib import Path
from prefect.blocks.system import Secret
from pydantic import SecretStr
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.config import build_settings

request = json.loads(sys.stdin.read())
Secret(value=request["redis_url"]).save("om-runbook-fan-out-redis-url", overwrite=True)
settings = build_settings(
    redis_url=SecretStr(request["redis_url"]), models="om_runbook.migrations.sample_models",
    backup_dir=Path(request["backup_dir"]), chunks=2, parallel=2, auto_approve=True, rdb_snapshot=False,
    chunk_deployment="om-migrate-key-range/key-range", redis_url_secret="om-runbook-fan-out-redis-url",
)
report = migration_flow(settings)
print(json.dumps({
    "status": report.status, "messages": report.messages, "converted": report.kpis.fields_converted,
    "chunks": report.phases["migrate"].details["chunks"],
}))
"""


def test_chunks_fan_out_over_two_workers_and_the_result_equals_a_single_process_run(
    prefect_server, redis_server_factory, tmp_path, prefect_harness
):
    from om_runbook.flows.migration_flow import migration_flow
    from tests.flows.helpers import keyspace, seed, settings_for

    fanned, single = redis_server_factory(), redis_server_factory()
    for server in (fanned, single):
        seed(server.client(), 4000, dirty_share=0.01)
    logs = [open(tmp_path / f"worker-{i}.log", "w") for i in range(2)]  # noqa: SIM115 - closed below
    workers = [_start_worker(prefect_server, log, "--limit", "1") for log in logs]  # one chunk at a time each
    try:
        request = {"redis_url": fanned.url, "backup_dir": str(tmp_path / "fanned")}
        completed = _run_script(FAN_OUT_SCRIPT, request, prefect_server)
    finally:
        for worker in workers:
            _stop(worker)
        for log in logs:
            log.close()
    worker_logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    assert completed.returncode == 0, completed.stderr[-3000:] + worker_logs[0][-2000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded", (outcome["messages"], worker_logs[0][-2000:], worker_logs[1][-2000:])
    ran_by = {chunk["ran_by"] for chunk in outcome["chunks"]}
    assert len(outcome["chunks"]) == 2 and len(ran_by) == 2  # two flow-run processes
    assert all("key-range-" in log for log in worker_logs)  # both workers ran chunks

    report = migration_flow(settings_for(single.url, tmp_path / "single", chunks=2, rdb_snapshot=False))
    assert report.status == "succeeded", (report.messages, report.problem_counts, report.problems[-3:])
    assert report.kpis.fields_converted == outcome["converted"]
    assert keyspace(fanned.client()) == keyspace(single.client())
