"""Prefect server, worker and client processes for the deployment and UI tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
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


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def prefect_cli(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed.stdout


def run_script(script: str, request: dict, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
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


def start_worker(env: dict[str, str], log, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "om-runbook", *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def heartbeat_times(env: dict[str, str], flow_run_id: str, timeout: float = 30) -> list[float]:
    """When the server recorded a `prefect.flow-run.heartbeat` of this flow run (epoch seconds, in order), waiting
    for the first: the server stores events a moment after they arrive."""
    query = {
        "filter": {
            "event": {"name": ["prefect.flow-run.heartbeat"]},
            "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(
            f"{env['PREFECT_API_URL']}/events/filter", json.dumps(query).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            events = json.load(response)["events"]
        if events or time.monotonic() > deadline:
            return sorted(datetime.fromisoformat(event["occurred"]).timestamp() for event in events)
        time.sleep(0.5)
