"""The migration's resource probe is started ahead of the chunks (its start-up overlaps the run's other work), and
its first live reading, which the chunks wait for, comes after a few PINGs instead of a whole status interval."""

from __future__ import annotations

import json
import threading
import time

from om_runbook.tasks.guards import probe_process
from om_runbook.tasks.guards.latency_probe import ResourceProbe, start_probe_process, stop_unused_probe_process


def test_a_probe_started_ahead_measures_the_server_it_is_given_later(any_redis_server, tmp_path):
    process = start_probe_process()
    time.sleep(0.5)  # the run's own work meanwhile: the process is past its imports, waiting for its server
    assert process.poll() is None
    status = tmp_path / "probe.json"
    with ResourceProbe(any_redis_server.url, status=status, process=process) as probe:
        assert status.exists()  # the first reading came before the chunks would start
        time.sleep(0.2)
    assert probe.error is None and probe.latency().samples >= probe_process.FIRST_STATUS_PINGS
    assert probe.memory_peak is not None and process.returncode == 0


def test_a_probe_started_ahead_and_never_used_ends_quietly():
    process = start_probe_process()
    output, errors = process.communicate(timeout=30)  # stdin closed unused, as a run that never migrated does
    assert (process.returncode, output, errors) == (0, "", "")
    process = start_probe_process()
    stop_unused_probe_process(process)
    assert process.returncode == 0


def test_a_probe_started_ahead_that_died_is_replaced(any_redis_server, tmp_path):
    process = start_probe_process()
    process.kill()
    process.wait()
    with ResourceProbe(any_redis_server.url, status=tmp_path / "probe.json", process=process) as probe:
        time.sleep(0.1)
    assert probe.error is None and probe.latency().samples > 0


def test_the_first_live_reading_comes_after_a_few_pings_not_a_whole_interval(any_redis_server, tmp_path, monkeypatch):
    monkeypatch.setattr(probe_process, "STATUS_INTERVAL", 3600.0)  # only the first-reading rule can write it
    status, stop = tmp_path / "probe.json", threading.Event()
    prober = threading.Thread(target=probe_process.probe, args=(any_redis_server.url, stop, 0.001, 1.0, status))
    prober.start()
    try:
        deadline = time.monotonic() + 10
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        reading = json.loads(status.read_text())
        assert reading["samples"] == probe_process.FIRST_STATUS_PINGS and reading["p99_ms"] > 0
        written = status.stat().st_mtime_ns
        time.sleep(0.2)
        assert status.stat().st_mtime_ns == written  # then every STATUS_INTERVAL again, not after every PING
    finally:
        stop.set()
        prober.join()
