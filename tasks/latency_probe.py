"""Latency and resource probes against the migrated Redis: a baseline before, a background probe during."""

from __future__ import annotations

import threading
import time

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr

from migrations.kpi_targets import summarize_latencies
from migrations.report import LatencySummary
from tasks.redis_connection import open_client
from tasks.retry_policy import IO_TASK_OPTIONS


def measure_latency(url: str, samples: int = 200, interval_seconds: float = 0.002) -> LatencySummary:
    """PING round trips on a connection of their own, as an application client would see them."""
    client = open_client(url)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        client.ping()
        timings.append((time.perf_counter() - started) * 1000)
        time.sleep(interval_seconds)
    client.close()
    return summarize_latencies(timings)


def _memory_share(memory: dict) -> float | None:
    limit = int(memory.get("maxmemory", 0)) or int(memory.get("total_system_memory", 0))
    return int(memory.get("used_memory", 0)) / limit if limit else None


def _cpu_seconds(cpu: dict) -> float:
    return float(cpu.get("used_cpu_user", 0.0)) + float(cpu.get("used_cpu_sys", 0.0))


class ResourceProbe:
    """While the chunks run: PING latency every `ping_interval`, memory and Redis CPU every `sample_interval`.

    CPU share is the server's CPU seconds per wall second over each sample interval (1.0 = one core busy).
    """

    def __init__(self, url: str, ping_interval: float = 0.02, sample_interval: float = 1.0) -> None:
        self._client: redis.Redis = open_client(url)
        self._ping_interval, self._sample_interval = ping_interval, sample_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="om-runbook-probe", daemon=True)
        self.timings: list[float] = []
        self.memory_peak: float | None = None
        self.cpu_peak: float | None = None
        self.error: str | None = None

    def __enter__(self) -> ResourceProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def latency(self) -> LatencySummary:
        return summarize_latencies(self.timings)

    def _sample(self, last: tuple[float, float] | None) -> tuple[float, float]:
        memory, cpu = self._client.info("memory"), self._client.info("cpu")
        share = _memory_share(memory)
        if share is not None:
            self.memory_peak = max(self.memory_peak or 0.0, share)
        now = (time.perf_counter(), _cpu_seconds(cpu))
        if last is not None and now[0] > last[0]:
            self.cpu_peak = max(self.cpu_peak or 0.0, (now[1] - last[1]) / (now[0] - last[0]))
        return now

    def _run(self) -> None:
        last_sample: tuple[float, float] | None = None
        next_sample = 0.0
        try:
            while not self._stop.is_set():
                if time.perf_counter() >= next_sample:
                    last_sample = self._sample(last_sample)
                    next_sample = time.perf_counter() + self._sample_interval
                started = time.perf_counter()
                self._client.ping()
                self.timings.append((time.perf_counter() - started) * 1000)
                self._stop.wait(self._ping_interval)
            self._sample(last_sample)
        except redis.RedisError as exc:  # the probe never stops the migration; the report says it stopped
            self.error = f"resource probe stopped: {exc}"


@task(name="latency-probe", cache_policy=NONE, **IO_TASK_OPTIONS)
def latency_task(redis_url: SecretStr) -> LatencySummary:
    """Baseline (before) or after-migration PING latency, for the performance-impact KPI."""
    return measure_latency(redis_url.get_secret_value())
