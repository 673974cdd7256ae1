"""Checklist item "Application started and tested with migrated data": the application's own smoke test
(`--app-check CMD`) run against the migrated Redis, in the application's directory, with `REDIS_OM_URL` set to the
run's Redis (how redis-om applications find their Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.app_check import AppCheckResult, output_tail
from om_runbook.migrations.redaction import redact_text, url_secrets


@task(name="application-check", cache_policy=NONE)
def app_check_task(command: str, redis_url: SecretStr, app_dir: Path, timeout_seconds: float) -> AppCheckResult:
    """Run `command` with a shell; its exit code, duration and the tail of its output (never retried: it is the
    application's test, and its verdict is the run's rollback criterion)."""
    url = redis_url.get_secret_value()
    secrets = url_secrets(url)
    shown = redact_text(command, secrets)
    environment = {**os.environ, "REDIS_OM_URL": url}
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            command,
            shell=True,
            cwd=app_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a timeout ends the whole group: the shell and what it started
        )
    except OSError as exc:
        error = f"could not be started in {app_dir}: {exc}"
        return AppCheckResult(command=shown, exit_code=None, seconds=0.0, output_tail=[], error=error)
    try:
        output, _ = process.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return AppCheckResult(
            command=shown,
            exit_code=None,
            seconds=time.perf_counter() - started,
            output_tail=output_tail(output, secrets),
            error=f"did not end within {timeout_seconds:g} s (stopped)",
        )
    return AppCheckResult(
        command=shown,
        exit_code=process.returncode,
        seconds=time.perf_counter() - started,
        output_tail=output_tail(output, secrets),
    )
