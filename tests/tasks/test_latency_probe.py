"""The latency the application sees: one of its own model keys, found by SCAN under a model's prefix, read as
redis-om reads it (HGETALL, or JSON.GET for a JsonModel) beside each PING, before and during the run."""

from __future__ import annotations

import time

from om_runbook.migrations.report import AppRead
from om_runbook.migrations.targets import discover_targets
from om_runbook.tasks.guards.latency_probe import ResourceProbe, find_app_read, probe_latency
from tests.flows.helpers import seed


def test_a_hash_models_record_is_read_with_hgetall_and_redis_oms_own_keys_are_not_records(redis_server):
    client = redis_server.client()
    targets = discover_targets("om_runbook.migrations.sample_models")
    for target in targets:  # redis-om's index bookkeeping under the model's prefix, a hash like a record
        client.hset(f"{target.key_prefix}index:hash", "x", "1")
    assert find_app_read(redis_server.url, targets) is None
    seed(client, 5)
    found = find_app_read(redis_server.url, targets)
    assert found is not None and found.command == "HGETALL"
    assert any(found.key_bytes.startswith(t.key_prefix.encode()) for t in targets)
    assert client.type(found.key_bytes) == b"hash" and not found.key_bytes.endswith(b"index:hash")


def test_a_json_models_record_is_read_with_json_get_before_and_during_the_run(redis_stack_server, tmp_path):
    client = redis_stack_server.client()
    targets = discover_targets("tests.flows.account_models")
    key = f"{targets[0].key_prefix}01ACCOUNT"
    client.json().set(key, "$", {"pk": "01ACCOUNT", "name": "Ada", "created_at": "2021-03-04T05:06:07"})
    found = find_app_read(redis_stack_server.url, targets)
    assert found == AppRead(key=key, command="JSON.GET")
    ping, app = probe_latency(redis_stack_server.url, pings=20, interval=0.001, app_read=found)
    assert ping.samples == 20 and app is not None and app.samples == 20 and app.p50_ms > 0
    ping, app = probe_latency(redis_stack_server.url, pings=5, interval=0.001, app_read=found, ping=False)
    assert ping.samples == 0 and app is not None and app.samples == 5  # the read alone: its PINGs were taken before
    with ResourceProbe(redis_stack_server.url, status=tmp_path / "probe.json", app_read=found) as probe:
        time.sleep(0.3)
    app_during = probe.app_latency()
    assert app_during is not None and app_during.samples >= 5 and probe.latency().samples >= 5


def test_a_read_the_server_refuses_stops_only_the_reads_never_the_pings(redis_server, tmp_path):
    client = redis_server.client()
    client.set(b"not-a-hash", b"x")
    refused = AppRead(key="not-a-hash", command="HGETALL")  # WRONGTYPE
    ping, app = probe_latency(redis_server.url, pings=10, interval=0.001, app_read=refused)
    assert ping.samples == 10 and app is None
    with ResourceProbe(redis_server.url, status=tmp_path / "probe.json", app_read=refused) as probe:
        time.sleep(0.3)
    assert probe.app_latency() is None and probe.latency().samples >= 5 and probe.error is None
