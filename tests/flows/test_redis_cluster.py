"""A real 3-master Redis Cluster on loopback: the whole run and its rollback through the command line, with the
chunk plan cut at the masters' slot ranges, one RDB snapshot per master and every write on the owning master."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from om_runbook.flows.cli import main
from om_runbook.migrations.errors import ClusterTopologyChanged
from om_runbook.migrations.sample_data import generate_legacy_records
from om_runbook.tasks.io.local_redis import RedisServer
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.resp import encode_command, run_encoded
from om_runbook.tasks.readers.fingerprint import keyspace_fingerprint
from om_runbook.tasks.writer.seed import write_legacy_records
from tests.local_cluster import local_cluster, wait_until_ok

# a group of its own: its module-scoped cluster is started once, on one worker
pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.xdist_group("redis-cluster")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as servers:
        yield servers


def _seed(nodes: RedisNodes) -> None:
    for client in nodes.clients:
        client.flushall()
    write_legacy_records(nodes, generate_legacy_records(3000, 0.0, seed=5))
    nodes.node_for(b"{tag}:plain").client.set(b"{tag}:plain", b"not a model")


def test_a_cluster_migrates_and_rolls_back_byte_identical_through_the_cli(cluster, tmp_path):
    url = f"redis://127.0.0.1:{cluster[1].port}/0"  # any node: the masters come from CLUSTER SLOTS
    nodes = open_nodes(url)
    assert nodes.is_cluster and len(nodes.nodes) == 3
    _seed(nodes)
    before = keyspace_fingerprint(nodes)
    assert all(client.dbsize() > 500 for client in nodes.clients)  # every master holds part of the data

    backup_dir, report = tmp_path / "backup", tmp_path / "report.json"
    common = ["--redis-url", url, "--backup-dir", str(backup_dir)]
    run = ["run", *common, "--models", "om_runbook.migrations.sample_models", "--auto-approve", "--chunks", "2"]
    assert main([*run, "--report-json", str(report)]) == 0

    outcome = json.loads(report.read_text())
    assert "model_load_failed" not in outcome["problem_counts"], outcome["problems"]
    assert outcome["status"] == "succeeded", outcome["messages"]
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    chunks = [(c["first_slot"], c["last_slot"], c["node"]) for c in manifest["chunks"] if c["kind"] == "slots"]
    owners = {tuple(r[:2]): f"{r[2][0].decode()}:{r[2][1]}" for r in nodes.clients[0].execute_command("CLUSTER SLOTS")}
    # 2 requested chunks, cut where the owning master changes: each chunk lies within one master's slots
    assert len(chunks) == 4 and manifest["chunks_requested"] == 2
    for first, last, node in chunks:
        assert any(a <= first and last <= b and owner == node for (a, b), owner in owners.items()), (chunks, owners)
    assert {node for _first, _last, node in chunks} == set(owners.values())
    snapshot = manifest["snapshot"]
    assert len(snapshot["parts"]) == 3 and all(p["restore_tested"] and p["check_passed"] for p in snapshot["parts"])
    assert snapshot["restored_keys"] == snapshot["source_keys"] == len(before)  # taken before the run lease
    assert sorted(p.name for p in (backup_dir / "rdb").glob("dump-*.rdb")) == sorted(
        f"dump-{owner.replace(':', '-')}.rdb" for owner in owners.values()
    )

    verify = outcome["phases"]["verify"]["details"]
    assert verify["passed"] and verify["legacy_left"] == 0 and verify["sample_equal"] == verify["sample_loaded"] > 0
    converted = outcome["kpis"]["fields_converted"]
    assert converted == manifest["fields_changed"] > 3000
    for client in nodes.clients:  # every master's hashes were converted in place
        key = next(k for k in client.scan_iter(match=b"*Customer*", count=1000))
        assert float(client.hget(key, "signed_up")) > 0

    assert main(["rollback", *common]) == 0
    assert keyspace_fingerprint(nodes) == before

    for client in nodes.clients:  # the snapshot's way back too: every model key gone from every master
        for key in list(client.scan_iter(match=b":om_runbook*", count=1000)):
            client.delete(key)
    assert main(["restore-snapshot", *common]) == 0  # the dry run
    assert len(keyspace_fingerprint(nodes)) == 1  # only the application's {tag}:plain: the dry run wrote nothing
    assert main(["restore-snapshot", *common, "--confirm"]) == 0  # one file per master, each key to its owner
    assert keyspace_fingerprint(nodes) == before


def test_a_write_to_a_master_that_does_not_own_the_slot_raises_a_retried_topology_error(cluster):
    nodes = open_nodes(f"redis://127.0.0.1:{cluster[0].port}")
    key = b"moved-probe"
    owner = nodes.node_for(key)
    stranger = next(node for node in nodes.nodes if node is not owner)
    with pytest.raises(ClusterTopologyChanged, match="MovedError"):
        run_encoded(stranger.client, encode_command([b"HGETALL", key]), 1)
    assert run_encoded(owner.client, encode_command([b"HGETALL", key]), 1) == [{}]


def test_a_cluster_with_an_unserved_slot_is_refused_before_any_write(cluster, tmp_path, capsys):
    victim = cluster[2].client()
    served = victim.execute_command("CLUSTER", "SLOTS")
    mine = next(r for r in served if r[2][1] == cluster[2].port)
    victim.execute_command("CLUSTER", "DELSLOTS", mine[0])  # one slot without a master
    try:
        code = main(
            ["run", "--redis-url", f"redis://127.0.0.1:{cluster[2].port}", "--backup-dir", str(tmp_path / "b")]
            + ["--models", "om_runbook.migrations.sample_models", "--auto-approve"]
        )
        assert code == 2
        assert "of 16384 slots" in capsys.readouterr().err
        assert not (tmp_path / "b" / "manifest.json").exists()
    finally:
        victim.execute_command("CLUSTER", "ADDSLOTS", mine[0])
        wait_until_ok(cluster, 3)
