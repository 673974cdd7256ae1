"""The cluster map (pure): masters and their slots from CLUSTER SLOTS, node URLs, and chunk cuts at masters."""

from __future__ import annotations

import pytest

from om_runbook.migrations.backup_format import SnapshotInfo, combine_snapshots
from om_runbook.migrations.cluster_map import master_slot_ranges, node_url, owner_changes, slot_owner_table
from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.server_facts import ServerFacts, combine_facts
from om_runbook.migrations.slots import SLOT_COUNT, plan_slot_ranges

# CLUSTER SLOTS as redis-py returns it: [first, last, master, replica...]; one master owns two ranges
REPLY = [
    [0, 5000, [b"10.0.0.1", 7000, b"id-a"], [b"10.0.0.4", 7000, b"id-d"]],
    [5001, 10000, [b"", 7001, b"id-b"]],
    [10001, 16383, [b"10.0.0.1", 7000, b"id-a"]],
]


def test_masters_come_with_all_their_ranges_and_an_empty_host_is_the_seed_host():
    masters = master_slot_ranges(REPLY, "seed.example")
    assert masters == {("10.0.0.1", 7000): [(0, 5000), (10001, 16383)], ("seed.example", 7001): [(5001, 10000)]}


def test_the_owner_table_maps_every_slot_and_its_changes_are_the_chunk_cuts():
    owners = slot_owner_table(list(master_slot_ranges(REPLY, "seed").values()))
    assert (owners[0], owners[5000], owners[5001], owners[10000], owners[10001], owners[16383]) == (0, 0, 1, 1, 0, 0)
    assert owner_changes(owners) == [5001, 10001]


def test_a_slot_without_a_master_is_refused_with_the_fix():
    with pytest.raises(
        RedisAccessError, match=r"serves 16383 of 16384 slots \(slot 42 has no master\).*--cluster check"
    ):
        slot_owner_table([[(0, 41), (43, 16383)]])


@pytest.mark.parametrize("chunks", [1, 2, 3, 7, 64])
def test_chunks_cut_at_masters_never_span_two_and_cover_every_slot_once(chunks):
    owners = slot_owner_table(list(master_slot_ranges(REPLY, "seed").values()))
    ranges = plan_slot_ranges(chunks, owner_changes(owners))
    assert ranges[0].first == 0 and ranges[-1].last == SLOT_COUNT - 1
    assert all(a.last + 1 == b.first for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(len({owners[s] for s in range(r.first, r.last + 1)}) == 1 for r in ranges)
    assert chunks <= len(ranges) <= chunks + 2
    assert [r.index for r in ranges] == list(range(len(ranges)))


def test_without_cuts_the_plan_is_the_even_split():
    assert [(r.first, r.last) for r in plan_slot_ranges(2)] == [(0, 8191), (8192, 16383)]
    assert plan_slot_ranges(4, [0, 8192, SLOT_COUNT]) == plan_slot_ranges(4)  # cuts on bounds add nothing


@pytest.mark.parametrize(
    ("seed", "host", "expected"),
    [
        ("redis://:s3cret@10.0.0.9:7000/0", "10.0.0.1", "redis://:s3cret@10.0.0.1:7005/0"),
        ("rediss://user:p%40ss@a:1/0?ssl_ca_certs=/ca.pem", "b", "rediss://user:p%40ss@b:7005/0?ssl_ca_certs=/ca.pem"),
        ("redis://a:1", "::1", "redis://[::1]:7005"),
    ],
)
def test_a_node_url_keeps_scheme_credentials_database_and_options(seed, host, expected):
    assert node_url(seed, host, 7005) == expected


def _facts(**values: object) -> ServerFacts:
    base = {
        "redis_version": "7.2.4",
        "role": "master",
        "cluster_enabled": True,
        "modules": ["search"],
        "used_memory": 100,
        "maxmemory": 1000,
        "rdb_enabled": True,
        "aof_enabled": True,
        "total_keys": 10,
    }
    return ServerFacts(**(base | values))


def test_a_cluster_is_as_capable_as_its_weakest_master():
    combined = combine_facts(
        [
            _facts(),
            _facts(used_memory=900, total_keys=5, redis_version="7.0.15", modules=[], aof_enabled=False),
            _facts(role="slave", rdb_enabled=None),
        ]
    )
    assert (combined.total_keys, combined.masters, combined.used_memory_all_masters) == (25, 3, 1100)
    assert (combined.used_memory, combined.maxmemory, combined.memory_used_share) == (900, 1000, 0.9)
    assert (combined.redis_version, combined.role, combined.modules) == ("7.0.15", "slave", [])
    assert (combined.rdb_enabled, combined.aof_enabled, combined.has_search) == (None, False, False)
    assert combine_facts([_facts()]) == _facts()  # a single server is itself


def test_a_cluster_snapshot_totals_its_parts_and_lists_each_digest():
    parts = [
        SnapshotInfo(taken=True, node=f"n{i}:1", size_bytes=10 * i, sha256=f"{i:064x}", check_passed=True,
                      restore_tested=True, source_keys=i, restored_keys=i, sample_keys_compared=i, sample_keys_equal=i)
        for i in (1, 2)
    ]  # fmt: skip
    combined = combine_snapshots(parts, "/b/rdb")
    assert (combined.size_bytes, combined.restored_keys, combined.sample_keys_equal) == (30, 3, 3)
    assert combined.check_passed and combined.restore_tested and combined.sha256 is None
    assert combined.digests == f"n1:1 `{1:064x}`; n2:1 `{2:064x}`"
    assert "2 masters, each restore-tested: 3 keys" in combined.note
