"""The throttle and live tuning in a real run: the chunks slow down while PING p99 is above the limit, and
`om-runbook tune` changes the limit, batch size and parallelism of the running migration."""

from __future__ import annotations

import json
import threading
import time

import pytest

from om_runbook.flows.cli import main
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.tasks.guards.throttle import pace_path
from tests.flows.helpers import keyspace, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_throttle_slows_the_chunks_and_tune_changes_the_running_migration(redis_server, tmp_path, capsys):
    client = redis_server.client()
    seed(client, 4_000)
    before = keyspace(client)
    # A limit no PING can meet: the throttle engages as soon as the probe's first reading arrives.
    settings = settings_for(redis_server.url, tmp_path / "b", chunks=2, parallel=1, batch_size=20, max_latency_ms=1e-6)
    tuned: list[int] = []

    def tune_once_throttled() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                pace = json.loads(pace_path(settings.backup_dir).read_text())
            except (OSError, ValueError):
                pace = {}
            if pace.get("delay_seconds", 0) >= 0.2:  # a few steps up: the chunks are pausing between batches
                args = ["--max-latency-ms", "0", "--batch-size", "500", "--parallel", "2"]
                tuned.append(main(["tune", "--backup-dir", str(settings.backup_dir), *args]))
                return
            time.sleep(0.05)

    tuner = threading.Thread(target=tune_once_throttled, daemon=True)
    tuner.start()
    report = migration_flow(settings)
    tuner.join(5)

    assert tuned == [0], (capsys.readouterr().err, report.system, report.messages)
    assert report.status == "succeeded", report.messages
    system = report.system
    reasons = [event.reason for event in system.pace_events]
    assert any("above the 0.0 ms limit: pause 0.05 s" in r for r in reasons), reasons
    assert any("pause 0.20 s" in r for r in reasons), reasons
    assert "max latency ms set to 0.0 by om-runbook tune" in reasons
    assert "batch size set to 500 by om-runbook tune" in reasons and "parallel set to 2 by om-runbook tune" in reasons
    tuned_at = reasons.index("max latency ms set to 0.0 by om-runbook tune")
    assert reasons[tuned_at + 1 :] == ["throttle off: full speed again"]
    assert system.throttled_seconds > 0.3
    assert any(m.startswith("throttle: PING p99 limit 0.0 ms; slowed in") for m in report.messages), report.messages

    chunks = report.phases["migrate"].details["chunks"]
    keys = sum(chunk["key_count"] for chunk in chunks)
    batches = sum(chunk["batches"] for chunk in chunks)
    assert batches < keys / 20  # after the tune, batches of 500 instead of 20
    assert report.kpis.fields_converted == report.phases["backup"].details["fields_changed"]
    assert not pace_path(settings.backup_dir).exists()  # no stale pace for a later rollback or resume
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert keyspace(client) == before


def test_tune_explains_a_wrong_directory_and_an_empty_or_invalid_change(tmp_path, capsys):
    assert main(["tune", "--backup-dir", str(tmp_path), "--batch-size", "10"]) == 2
    assert "holds no migration (no manifest.json): nothing to tune" in capsys.readouterr().err
    assert main(["tune", "--backup-dir", str(tmp_path)]) == 2
    assert "nothing to change" in capsys.readouterr().err
    assert main(["tune", "--backup-dir", str(tmp_path), "--batch-size", "0"]) == 2
    assert "invalid tuning: batch_size" in capsys.readouterr().err
