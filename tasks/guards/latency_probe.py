"""Latency and resource probes against the migrated Redis: a baseline before, a background probe during."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from om_runbook.migrations.kpi_targets import summarize_latencies
from om_runbook.migrations.redaction import redact_text, url_secrets
from om_runbook.migrations.report import AppRead, LatencySummary
from om_runbook.migrations.targets import ModelTarget, Storage
from om_runbook.tasks.guards.probe_process import ping_milliseconds, time_app_read
from om_runbook.tasks.io.redis_connection import open_client
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.keyspace import prefix_pattern


def start_probe_process() -> subprocess.Popen[str]:
    """The probe's process, started ahead of the chunks: its start-up (Python, redis, the report models: about
    0.3 s) happens while the run does other work; it waits on stdin for what to probe (ResourceProbe writes it) and
    exits quietly when stdin closes unused (stop_unused_probe_process)."""
    return subprocess.Popen(
        [sys.executable, "-m", "om_runbook.tasks.guards.probe_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )


def stop_unused_probe_process(process: subprocess.Popen[str]) -> None:
    """A probe process started ahead and never given a server: its stdin closed, it ends (killed if it does not)."""
    if process.poll() is None:
        try:
            process.communicate(timeout=10)  # closes stdin: the process reads EOF and exits without output
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


class ResourceProbe:
    """While the chunks run: PING latency every `ping_interval`, memory and Redis CPU every `sample_interval`,
    measured by a separate process (tasks.probe_process) so the migration's own CPU use does not skew it.

    CPU share is the server's CPU seconds per wall second over each sample interval (1.0 = one core busy).
    """

    def __init__(
        self,
        url: str,
        ping_interval: float = 0.02,
        sample_interval: float = 1.0,
        status: Path | None = None,
        app_read: AppRead | None = None,
        process: subprocess.Popen[str] | None = None,
    ) -> None:
        self._url, self._intervals = url, f"{ping_interval} {sample_interval}"
        self._status = status  # the live p99 file the throttle reads
        self._app_read = app_read
        self._process = process  # one started ahead (start_probe_process) is already past its imports
        self.timings: list[float] = []
        self.app_timings: list[float] = []
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
        if self._process is None or self._process.poll() is not None:
            self._process = start_probe_process()
        assert self._process.stdin is not None
        app_read = self._app_read.model_dump_json() if self._app_read is not None else ""
        self._process.stdin.write(f"{self._url}\n{self._intervals}\n{self._status or ''}\n{app_read}\n")
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
        self.app_timings, self.error = result["app_timings"], result["error"]

    def latency(self) -> LatencySummary:
        return summarize_latencies(self.timings)

    def app_latency(self) -> LatencySummary | None:
        return summarize_latencies(self.app_timings) if self.app_timings else None


def probe_latency(
    url: str, pings: int = 60, interval: float = 0.002, app_read: AppRead | None = None, ping: bool = True
) -> tuple[LatencySummary, LatencySummary | None]:
    """PING latency (unless `ping` is False) and the application's read (when given) before and after the migration:
    `pings` rounds `interval` apart, each timed as the migration's probe times it. About 0.13 s: the run waits for it
    three times, and on an idle server the count of samples, not their spread in time, makes the p50 (measured: 60
    PINGs 5 ms apart took 0.31 s for a p50 of 0.043-0.048 ms; 2 ms apart, 0.13 s for 0.040-0.042 ms). In this
    process: nothing else runs in it then, so the separate process the migration's probe needs (to keep the chunks'
    CPU out of its timings) would only add its start-up to the run."""
    client = open_client(url, ping=False)
    timings: list[float] = []
    reads: list[float] = []
    try:
        client.ping()  # the connection's set-up is not a PING's latency
        for _ in range(pings):
            if ping:
                timings.append(ping_milliseconds(client))
            if app_read is not None:
                app_read = time_app_read(client, app_read, reads)
            time.sleep(interval)
    except redis.RedisError:
        pass  # as the migration's probe: a probe never stops the run; the samples so far (maybe none) are reported
    finally:
        client.close()
    return summarize_latencies(timings), summarize_latencies(reads) if reads else None


@task(name="latency-probe", cache_policy=NONE, **IO_TASK_OPTIONS)
def latency_task(
    redis_url: SecretStr, app_read: AppRead | None = None, ping: bool = True
) -> tuple[LatencySummary, LatencySummary | None]:
    """Baseline (before) or after-migration latency of PING and of the application's read, for the KPI."""
    return probe_latency(redis_url.get_secret_value(), app_read=app_read, ping=ping)


def find_app_read(url: str, targets: Sequence[ModelTarget], max_keys: int = 10_000) -> AppRead | None:
    """One record of the first model that has one on the URL's server (SCAN MATCH its prefix, at most `max_keys`
    keys looked at per model), read as redis-om reads it: HGETALL, or JSON.GET for a JsonModel. None when no
    model has a record there, or the server refuses to say."""
    client = open_client(url, ping=False)
    try:
        for target in targets:
            kind, command = (b"ReJSON-RL", "JSON.GET") if target.storage is Storage.JSON else (b"hash", "HGETALL")
            cursor, looked_at = 0, 0
            while True:  # bounded SCAN calls: a model without records must not cost a scan of the whole keyspace
                cursor, keys = client.scan(cursor, match=prefix_pattern(target.key_prefix), count=1000)
                for key in keys:
                    if key not in target.bookkeeping_keys and client.type(key) == kind:
                        return AppRead(key=key.decode("latin-1"), command=command)  # type: ignore[arg-type]
                looked_at += 1000
                if cursor == 0 or looked_at >= max_keys:
                    break
    except redis.RedisError:
        return None
    finally:
        client.close()
    return None
