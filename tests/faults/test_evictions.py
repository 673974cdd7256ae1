"""A Redis that may evict keys: refused before the scan unless --allow-eviction; with it, any eviction during the run
stops it, fails it, withholds the automatic rollback, and names the snapshot as the only copy of what was lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

import om_runbook.flows.migrate_phase as migrate_phase
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.errors import KeysEvicted, MigrationAborted
from om_runbook.migrations.headroom import eviction_refusal
from om_runbook.tasks.guards.eviction import EvictionGuard
from om_runbook.tasks.io.redis_nodes import open_nodes
from tests.flows.helpers import keyspace, seed, settings_for
from tests.redis_stack import stack_binary

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.parametrize(
    ("policy", "maxmemory", "refused"),
    [("noeviction", 10**9, False), ("allkeys-lru", 0, False), ("allkeys-lru", 10**9, True),
     ("volatile-ttl", 10**9, True), ("allkeys-random", 10**9, True)],
)  # fmt: skip
def test_the_policies_that_may_evict_are_refused_with_the_headroom_needed(policy, maxmemory, refused):
    refusal = eviction_refusal(policy=policy, maxmemory=maxmemory, used_memory=200 * 10**6)
    assert (refusal is not None) is refused
    if refusal:
        assert f"maxmemory-policy is {policy}" in refusal and "at least 400.0 MB" in refusal
        assert "--allow-eviction" in refusal and "Nothing was written" in refusal


def _limit_memory(client, share: float, policy: str) -> None:
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", policy)
    client.config_set("maxmemory", str(int(used * share)))


def test_an_evicting_policy_is_refused_before_the_scan(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 2_000)
    _limit_memory(client, 3.0, "allkeys-lru")
    before = keyspace(client)
    with pytest.raises(MigrationAborted, match="maxmemory-policy is allkeys-lru .* Nothing was written"):
        migration_flow(settings_for(any_redis_server.url, tmp_path / "b", rdb_snapshot=False))
    assert keyspace(client) == before
    assert not (tmp_path / "b").exists()


def test_keys_evicted_during_the_chunks_fail_the_run_without_a_rollback(any_redis_server, tmp_path, monkeypatch):
    client = any_redis_server.client()
    seed(client, 3_000)
    _limit_memory(client, 3.0, "allkeys-random")
    tools = Path(stack_binary()).parent  # a redis-server that reads either server's snapshot
    settings = settings_for(
        any_redis_server.url, tmp_path / "b", allow_eviction=True, batch_size=50, rdb_tools_dir=tools
    )
    real_key_ranges = migrate_phase.migrate_key_ranges

    def memory_shrinks_as_the_chunks_start(*args, **kwargs):
        client.config_set("maxmemory", str(int(int(client.info("memory")["used_memory"]) * 0.8)))
        client.set("om-runbook-test:pressure", "x" * 1000)  # a write makes Redis evict down to the new limit
        return real_key_ranges(*args, **kwargs)

    before = keyspace(client)
    monkeypatch.setattr(migrate_phase, "migrate_key_ranges", memory_shrinks_as_the_chunks_start)
    report = migration_flow(settings)
    assert client.info("stats")["evicted_keys"] > 0
    assert report.status == "failed"
    # the chunks counted evictions from the run's start, not their own: they stopped before their first write (a key
    # the scan below lists may be evicted before it is read: Redis evicts before any command while over maxmemory)
    after = {key: content for key, content in keyspace(client).items() if content[0] != b"none"}
    assert [(key, before[key], after[key]) for key in after if key in before and after[key] != before[key]][:2] == []
    message = report.messages[-1]
    assert "Redis evicted" in message and "the run stopped" in message
    assert "the RDB snapshot" in message and "only copy" in message and "No automatic rollback" in message
    assert "rollback" not in report.phases
    assert any("--allow-eviction" in line for line in report.messages)


def test_the_chunk_guard_stops_at_the_next_batch_after_an_eviction(redis_server):
    client = redis_server.client()
    seed(client, 3_000)
    guard = EvictionGuard(open_nodes(redis_server.url), "the RDB snapshot /b/rdb/dump.rdb", every_seconds=0.0)
    guard()  # nothing evicted yet
    _limit_memory(client, 0.9, "allkeys-lru")
    client.set("om-runbook-test:pressure", "x")
    with pytest.raises(KeysEvicted, match=r"Redis evicted [\d,]+ key\(s\) .*allkeys-lru.*/b/rdb/dump.rdb"):
        guard()


def test_a_guard_given_the_runs_baseline_checks_it_before_the_first_batch(redis_server):
    client = redis_server.client()
    seed(client, 3_000)
    nodes = open_nodes(redis_server.url)
    baseline = int(client.info("stats")["evicted_keys"])
    _limit_memory(client, 0.9, "allkeys-lru")
    client.set("om-runbook-test:pressure", "x")  # keys evicted after the run's baseline, before the chunk starts
    EvictionGuard(nodes, "no snapshot", every_seconds=3600)()  # its own baseline: nothing since, no check yet
    with pytest.raises(KeysEvicted, match=r"Redis evicted [\d,]+ key\(s\)"):
        EvictionGuard(nodes, "no snapshot", baseline, every_seconds=3600)()


def test_an_evicted_lease_key_is_reported_as_the_eviction_it_is(any_redis_server, tmp_path, monkeypatch):
    """With a volatile-* policy the run's lease (the only key with a TTL) is the first key Redis evicts. Evicted
    before the chunks start, it was once reported as a lease lost to another run: the eviction is what stops the run."""
    client = any_redis_server.client()
    seed(client, 1_000)
    _limit_memory(client, 3.0, "volatile-random")
    settings = settings_for(any_redis_server.url, tmp_path / "b", allow_eviction=True, rdb_snapshot=False)
    real_key_ranges = migrate_phase.migrate_key_ranges

    def the_lease_is_evicted_as_the_chunks_start(*args, **kwargs):
        client.config_set("maxmemory", str(int(int(client.info("memory")["used_memory"]) * 0.8)))
        with pytest.raises(redis.exceptions.OutOfMemoryError):  # nothing but the lease could be evicted
            client.set("om-runbook-test:pressure", "x")
        client.config_set("maxmemory", str(10**9))  # room again: only the lease was lost
        return real_key_ranges(*args, **kwargs)

    monkeypatch.setattr(migrate_phase, "migrate_key_ranges", the_lease_is_evicted_as_the_chunks_start)
    report = migration_flow(settings)
    assert client.info("stats")["evicted_keys"] == 1
    assert report.status == "failed"
    assert "Redis evicted 1 key(s)" in report.messages[-1] and "volatile-random" in report.messages[-1]
    assert "No automatic rollback" in report.messages[-1] and "rollback" not in report.phases
