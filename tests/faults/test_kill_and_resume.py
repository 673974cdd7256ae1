"""kill -9 of the migrating process (and its embedded Prefect server) during the backup, during the chunks
and at a random moment; each re-run resumes; the end state equals an independent oracle, and the rollback
gives back every byte: so no value was converted twice and none was missed."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from om_runbook.flows.cli import main
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.tasks.backup_store.run_status import read_timeline
from tests.flows.helpers import keyspace, migrate_lines_done, seed
from tests.flows.test_migration_flow import DATETIME_FIELDS, OPTIONAL_FIELDS, expected_bytes

OM_RUNBOOK = Path(sys.executable).with_name("om-runbook")
pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run_command(url: str, backup_dir: Path, report: Path) -> list[str]:
    return [
        str(OM_RUNBOOK), "run", "--redis-url", url, "--models", "om_runbook.migrations.sample_models",
        "--backup-dir", str(backup_dir), "--auto-approve", "--chunks", "4", "--batch-size", "100",
        "--report-json", str(report),
    ]  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    """The killed runs report to the session's Prefect server (as production runs report to theirs): each process
    starting its own embedded server would cost the suite seconds per kill and test nothing more."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return env | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }


def _kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 120) -> bool:
    """Start the run; SIGKILL its whole process group as soon as `ready()`; False if it finished first."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if ready():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                return True
            time.sleep(0.002)
        raise AssertionError("the run neither finished nor reached the kill point")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _manifest_status(backup_dir: Path) -> str | None:
    try:
        return json.loads((backup_dir / "manifest.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def test_kill_minus_9_at_several_points_then_resume_converts_every_value_exactly_once(
    any_redis_server, tmp_path, capsys
):
    client = any_redis_server.client()
    seed(client, 15_000, dirty_share=0.002, seed=7)
    before = keyspace(client)
    backup_dir, report = tmp_path / "backup", tmp_path / "report.json"
    command, env = _run_command(any_redis_server.url, backup_dir, report), _env(tmp_path)
    rng = random.Random(20261124)
    kill_points = {
        "during the logical backup": lambda: _manifest_status(backup_dir) == "in_progress",
        "early in the chunks": lambda: migrate_lines_done(backup_dir) > 0,
        "late in the chunks": lambda: migrate_lines_done(backup_dir) > rng.randint(4_000, 10_000),
    }
    killed = [name for name, ready in kill_points.items() if _kill_when(command, env, ready)]
    assert killed == list(kill_points), f"kill points reached: {killed}"

    resumed_at = time.time()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    outcome = json.loads(report.read_text())
    assert outcome["status"] == "succeeded"
    timeline = read_timeline(backup_dir).points  # one timeline over the killed processes and the last one
    assert timeline[0].at < resumed_at < timeline[-1].at
    assert any(point.phase == "migrate: chunks" and point.per_second for point in timeline)
    assert main(["status", "--backup-dir", str(backup_dir)]) == 0
    assert re.search(r"migrate: chunks, keys/s: [ ▁▂▃▄▅▆▇█]+ last [\d,]+/s", capsys.readouterr().out)
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert outcome["kpis"]["fields_converted"] == manifest["fields_changed"]
    # one report over every process: a chunk a kill interrupted has a bar per process that worked on it
    chunk_runs = [chunk["runs"] for chunk in outcome["phases"]["migrate"]["details"]["chunks"]]
    assert any(len({run["ran_by"] for run in runs}) >= 2 and runs[0]["started_at"] < resumed_at for runs in chunk_runs)
    html = (backup_dir / "archive" / "run-report.html").read_text()
    bars = int(re.search(r'data-chunk-bars="(\d+)"', html).group(1))
    assert bars == sum(len(runs) for runs in chunk_runs) > len(chunk_runs)
    first_point = re.search(r"first point ([\d-]+ [\d:]+) UTC", html).group(1)
    started = datetime.strptime(first_point, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    assert started < resumed_at - 1  # the report's charts begin with the first killed process

    after = keyspace(client)
    for key, (_kind, fields, _ttl) in before.items():
        model = "Customer" if b"Customer" in key else "Order"
        for name, value in fields.items():
            new = after[key][1].get(name)
            if name.decode() in DATETIME_FIELDS[model] and _convertible(value):
                assert new == expected_bytes(value), (killed, key, name, value, new)
            elif value == b"" and name in OPTIONAL_FIELDS:
                assert new is None, (killed, key, name)  # 0.2.x's None, removed as redis-om 1.x writes None
            else:
                assert new == value, (killed, key, name)

    rolled_back = rollback_flow(SecretStr(any_redis_server.url), backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    assert keyspace(client) == before


def _convertible(value: bytes) -> bool:
    try:
        expected_bytes(value)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _partial_sizes(backup_dir: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in (backup_dir / "chunks").glob("*.partial")}


def _workers_writing(backup_dir: Path) -> bool:
    return any(path.stat().st_size for path in (backup_dir / "chunks").glob("*.partial"))


def test_kill_minus_9_of_the_run_during_a_scan_in_worker_processes_ends_its_workers_and_resumes(
    any_redis_server, tmp_path
):
    client = any_redis_server.client()
    seed(client, 40_000, seed=3)
    before = keyspace(client)
    backup_dir, report = tmp_path / "backup", tmp_path / "report.json"
    command = _run_command(any_redis_server.url, backup_dir, report) + ["--workers", "2", "--no-rdb-snapshot"]
    env = _env(tmp_path)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _workers_writing(backup_dir):
            assert process.poll() is None and time.monotonic() < deadline, "the scan's workers never wrote"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)  # the run's own process only: its workers must end with it
        process.wait(timeout=10)
        time.sleep(0.5)
        sizes = _partial_sizes(backup_dir)
        time.sleep(1.5)
        assert _partial_sizes(backup_dir) == sizes, "worker processes went on writing after the run was killed"
        deadline = time.monotonic() + 5
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(process.pid), "worker processes outlived the killed run"
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    assert _manifest_status(backup_dir) == "in_progress"

    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert json.loads(report.read_text())["status"] == "succeeded"
    assert rollback_flow(SecretStr(any_redis_server.url), backup_dir).status == "rolled_back"
    assert keyspace(client) == before
