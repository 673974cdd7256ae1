"""The resource probe's own process (`python -m tasks.probe_process`), so its PING timings measure Redis,
not the migrating process's GIL. Reads the Redis URL from stdin (never argv: `ps` shows argv), probes
until stdin says "stop" or closes, then prints one JSON line: PING timings (ms), the application read's timings
(when stdin names one), memory and CPU peaks."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import redis

from om_runbook.migrations.kpi_targets import summarize_latencies
from om_runbook.migrations.report import AppRead
from om_runbook.tasks.io.redis_connection import open_client


def _memory_share(memory: dict) -> float | None:
    limit = int(memory.get("maxmemory", 0)) or int(memory.get("total_system_memory", 0))
    return int(memory.get("used_memory", 0)) / limit if limit else None


def _cpu_seconds(cpu: dict) -> float:
    return float(cpu.get("used_cpu_user", 0.0)) + float(cpu.get("used_cpu_sys", 0.0))


STATUS_INTERVAL = 0.25  # seconds of PINGs behind each live p99 the throttle reads
FIRST_STATUS_PINGS = 5  # the chunks wait for the first reading: it comes after this many PINGs (or the interval)


def _write_status(path: Path, window: list[float], memory_bytes: int | None, cpu_share: float | None) -> None:
    """The last interval's PING p50/p99 (the throttle reads p99) and the latest memory and CPU sample, for the throttle
    and the run's timeline (written whole, then renamed: never read torn)."""
    summary = summarize_latencies(window)  # the report's own p99, so the limit means the same in both
    measured = summary.samples > 0
    reading = {
        "p50_ms": summary.p50_ms if measured else None,
        "p99_ms": summary.p99_ms if measured else None,
        "samples": summary.samples,
        "used_memory_bytes": memory_bytes,
        "cpu_share": cpu_share,
        "at": time.time(),
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(reading))
    os.replace(temporary, path)


def ping_milliseconds(client: redis.Redis) -> float:
    """One PING's round trip, as every latency figure of a run is timed (before, during, after)."""
    started = time.perf_counter()
    client.ping()
    return (time.perf_counter() - started) * 1000


def time_app_read(client: redis.Redis, app_read: AppRead, timings: list[float]) -> AppRead | None:
    """One read of the application's key, timed as a PING is (ms) into `timings`; the read to go on with, or None
    when the server refused it (a cluster node the key moved off, a module gone): no more reads, the PINGs go on."""
    started = time.perf_counter()
    try:
        client.execute_command(app_read.command, app_read.key_bytes)
    except redis.ResponseError:
        return None
    timings.append((time.perf_counter() - started) * 1000)
    return app_read


def probe(
    url: str,
    stop: threading.Event,
    ping_interval: float,
    sample_interval: float,
    status: Path | None = None,
    app_read: AppRead | None = None,
) -> dict:
    client = open_client(url, ping=False)
    timings: list[float] = []
    app_timings: list[float] = []
    memory_peak: float | None = None
    cpu_peak: float | None = None
    last: tuple[float, float] | None = None
    memory_bytes: int | None = None
    cpu_share: float | None = None
    next_sample = 0.0
    window_start, next_status = 0, time.perf_counter() + STATUS_INTERVAL
    error = None
    try:
        while True:
            if time.perf_counter() >= next_sample or stop.is_set():
                memory, cpu = client.info("memory"), client.info("cpu")
                share = _memory_share(memory)
                memory_bytes = int(memory.get("used_memory", 0))
                if share is not None:
                    memory_peak = max(memory_peak or 0.0, share)
                now = (time.perf_counter(), _cpu_seconds(cpu))
                if last is not None and now[0] > last[0]:
                    cpu_share = (now[1] - last[1]) / (now[0] - last[0])
                    cpu_peak = max(cpu_peak or 0.0, cpu_share)
                last, next_sample = now, now[0] + sample_interval
            first_due = window_start == 0 and len(timings) >= FIRST_STATUS_PINGS
            if status is not None and (time.perf_counter() >= next_status or first_due):
                try:
                    _write_status(status, timings[window_start:], memory_bytes, cpu_share)
                except OSError:
                    pass  # a full disk: the throttle sees no reading (none is "not throttled"); the PINGs go on
                window_start, next_status = len(timings), time.perf_counter() + STATUS_INTERVAL
            if stop.is_set():
                break
            timings.append(ping_milliseconds(client))
            if app_read is not None:
                app_read = time_app_read(client, app_read, app_timings)
            stop.wait(ping_interval)
    except redis.RedisError as exc:  # the probe never stops the migration; the report says it stopped
        error = f"resource probe stopped: {type(exc).__name__}: {exc}"
    result = {"timings": timings, "app_timings": app_timings, "memory_peak": memory_peak, "cpu_peak": cpu_peak}
    return result | {"error": error}


def main() -> None:
    url = sys.stdin.readline().strip()
    if not url:  # started ahead and closed unused (latency_probe.stop_unused_probe_process)
        return
    ping_interval, sample_interval = (float(x) for x in sys.stdin.readline().split())
    status = sys.stdin.readline().strip()  # where to write the live p99 for the throttle; empty: nowhere
    app_read_line = sys.stdin.readline().strip()  # the application's read to time beside PING; empty: none
    app_read = AppRead.model_validate_json(app_read_line) if app_read_line else None
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()  # "stop", or EOF when the parent died
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    result = probe(url, stop, ping_interval, sample_interval, Path(status) if status else None, app_read)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
