"""Latency and resource probes against the migrated Redis: a baseline before, a background probe during."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.kpi_targets import summarize_latencies
from om_runbook.migrations.redaction import redact_text, url_secrets
from om_runbook.migrations.report import LatencySummary
from om_runbook.tasks.guards.probe_process import ping_milliseconds
from om_runbook.tasks.io.redis_connection import open_client
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS


class ResourceProbe:
    """While the chunks run: PING latency every `ping_interval`, memory and Redis CPU every `sample_interval`,
    measured by a separate process (tasks.probe_process) so the migration's own CPU use does not skew it.

    CPU share is the server's CPU seconds per wall second over each sample interval (1.0 = one core busy).
    """

    def __init__(
        self, url: str, ping_interval: float = 0.02, sample_interval: float = 1.0, status: Path | None = None
    ) -> None:
        self._url, self._intervals = url, f"{ping_interval} {sample_interval}"
        self._status = status  # the live p99 file the throttle reads
        self._process: subprocess.Popen[str] | None = None
        self.timings: list[float] = []
        self.memory_peak: float | None = None
        self.cpu_peak: float | None = None
        self.error: str | None = None

    def __enter__(self) -> ResourceProbe:
        if self._status is not None:
            try:
                self._status.parent.mkdir(exist_ok=True)  # in the backup directory, never re-creating it
                self._status.unlink(missing_ok=True)  # an earlier run's reading must not pass for this one's
            except FileNotFoundError:
                self._status = None  # the backup directory is gone (the run reports it): no live reading
        self._process = subprocess.Popen(
            [sys.executable, "-m", "om_runbook.tasks.guards.probe_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self._process.stdin is not None
        self._process.stdin.write(f"{self._url}\n{self._intervals}\n{self._status or ''}\n")
        self._process.stdin.flush()
        if self._status is not None:
            self._await_first_reading()
        return self

    def _await_first_reading(self, timeout: float = 15.0) -> None:
        """The throttle guards from the first batch on: wait (bounded) for the probe's first live p99. A probe that
        cannot start is not waited for; its error is in the report and the chunks run unthrottled."""
        assert self._process is not None and self._status is not None
        deadline = time.monotonic() + timeout
        while not self._status.exists() and self._process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def __exit__(self, *_exc: object) -> None:
        assert self._process is not None
        try:
            output, errors = self._process.communicate("stop\n", timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            output, errors = self._process.communicate()
        try:
            result = json.loads(output.strip().splitlines()[-1])
        except (IndexError, ValueError):
            self.error = f"resource probe failed: {redact_text(errors.strip()[-300:], url_secrets(self._url))}"
            return
        self.timings, self.memory_peak, self.cpu_peak = result["timings"], result["memory_peak"], result["cpu_peak"]
        self.error = result["error"]

    def latency(self) -> LatencySummary:
        return summarize_latencies(self.timings)


def probe_latency(url: str, pings: int = 60, interval: float = 0.005) -> LatencySummary:
    """PING latency before and after the migration: `pings` round trips `interval` apart (about 0.3 s; the
    migration's probe takes as many in a second), each timed as that probe times it (`ping_milliseconds`).
    In this process: nothing else runs in it then, so the separate process the migration's probe needs (to keep
    the chunks' CPU out of its timings) would only add its start-up to the run."""
    client = open_client(url, ping=False)
    timings: list[float] = []
    try:
        client.ping()  # the connection's set-up is not a PING's latency
        for _ in range(pings):
            timings.append(ping_milliseconds(client))
            time.sleep(interval)
    except redis.RedisError:
        pass  # as the migration's probe: a probe never stops the run; the samples so far (maybe none) are reported
    finally:
        client.close()
    return summarize_latencies(timings)


@task(name="latency-probe", cache_policy=NONE, **IO_TASK_OPTIONS)
def latency_task(redis_url: SecretStr) -> LatencySummary:
    """Baseline (before) or after-migration PING latency, for the performance-impact KPI."""
    return probe_latency(redis_url.get_secret_value())
