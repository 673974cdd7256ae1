"""deployments/prefect.yaml against a real `prefect server start`, a process work pool and a worker: the staging
rehearsal deployment is triggered through the API and completes; schedule and concurrency limit are there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.local_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

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
    artifacts = [a.key for a in client.read_artifacts() if a.flow_run_id == run.id]
print(json.dumps({
    "state": run.state.type.value,
    "message": run.state.message,
    "crons": [s.schedule.cron for s in deployment.schedules],
    "enforce": deployment.enforce_parameter_schema,
    "limit": deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None,
    "strategy": str(deployment.concurrency_options.collision_strategy) if deployment.concurrency_options else None,
    "production_required": sorted(production.parameter_openapi_schema.get("required", [])),
    "artifacts": artifacts,
}))
"""


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("prefect server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One `prefect server start` for this module, with the work pool and every deployment of prefect.yaml."""
    tmp_path = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "OM_RUNBOOK_HOME": str(ROOT),
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(env["PREFECT_API_URL"], server)
        _prefect(env, "work-pool", "create", "om-runbook", "--type", "process")
        _prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        yield env
    finally:
        _stop(server)
        log.close()


def _prefect(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed.stdout


def _run_script(script: str, request: dict, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A Prefect client in its own process (the real server's API in `env`), given `request` on stdin."""
    return subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(request),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _start_worker(env: dict[str, str], log, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "om-runbook", *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


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
    assert outcome["crons"] == ["0 3 * * 1"]
    assert outcome["enforce"] is True
    assert outcome["limit"] == 1 and "CANCEL_NEW" in outcome["strategy"]
    assert outcome["production_required"] == ["backup_dir", "models", "redis_url_secret"]
    assert "production-estimate" in outcome["artifacts"]
    client = redis_server.client()
    assert client.dbsize() == 501  # seeded, migrated, rolled back: the legacy data is back, with the staging marker
    assert client.exists("om-runbook:staging-rehearsal")  # so the next weekly rehearsal may empty it again


FAN_OUT_SCRIPT = r"""
import json, sys
from pathlib import Path
from prefect.blocks.system import Secret
from pydantic import SecretStr
from flows.migration_flow import migration_flow
from migrations.config import build_settings

request = json.loads(sys.stdin.read())
Secret(value=request["redis_url"]).save("om-runbook-fan-out-redis-url", overwrite=True)
settings = build_settings(
    redis_url=SecretStr(request["redis_url"]), models="migrations.sample_models",
    backup_dir=Path(request["backup_dir"]), chunks=4, parallel=4, auto_approve=True, rdb_snapshot=False,
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
    from flows.migration_flow import migration_flow
    from tests.flows.helpers import keyspace, seed, settings_for

    fanned, single = redis_server_factory(), redis_server_factory()
    for server in (fanned, single):
        seed(server.client(), 4000, dirty_share=0.01)
    logs = [open(tmp_path / f"worker-{i}.log", "w") for i in range(2)]  # noqa: SIM115 - closed below
    workers = [_start_worker(prefect_server, log, "--limit", "2") for log in logs]  # each takes 2 of the 4 chunks
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
    assert len(outcome["chunks"]) == 4 and len(ran_by) == 4  # four flow-run processes
    assert all("key-range-" in log for log in worker_logs)  # both workers ran chunks

    report = migration_flow(settings_for(single.url, tmp_path / "single", chunks=4, rdb_snapshot=False))
    assert report.status == "succeeded", (report.messages, report.problem_counts, report.problems[-3:])
    assert report.kpis.fields_converted == outcome["converted"]
    assert keyspace(fanned.client()) == keyspace(single.client())
