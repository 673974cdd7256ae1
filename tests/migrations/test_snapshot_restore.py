"""restore-snapshot's pure rules: comparing two copies of a key, the dry run's counts, and the refusals."""

from __future__ import annotations

import pytest

from om_runbook.migrations.permissions import restore_commands
from om_runbook.migrations.snapshot_restore import (
    KeyContent,
    KeyState,
    RestoreDiff,
    SnapshotRestoreReport,
    checksum_refusal,
    compare_key,
    dump_version_refusal,
    key_selection,
    normalize_value,
    rdb_version_refusal,
    read_command,
)

pytestmark = pytest.mark.pure


def test_hashes_and_sets_compare_whatever_order_the_server_returns():
    assert normalize_value("hash", {b"b": b"2", b"a": b"1"}) == normalize_value("hash", {b"a": b"1", b"b": b"2"})
    assert normalize_value("hash", [b"b", b"2", b"a", b"1"]) == normalize_value("hash", {b"a": b"1", b"b": b"2"})
    assert normalize_value("set", {b"y", b"x"}) == normalize_value("set", [b"x", b"y"])


def test_lists_and_streams_keep_their_order():
    assert normalize_value("list", [b"a", b"b"]) != normalize_value("list", [b"b", b"a"])
    stream = [(b"1-0", {b"f": b"v"}), (b"2-0", {b"g": b"w"})]
    assert normalize_value("stream", stream) == ((b"1-0", ((b"f", b"v"),)), (b"2-0", ((b"g", b"w"),)))
    assert normalize_value("stream", stream) != normalize_value("stream", stream[::-1])


def test_each_type_is_read_by_its_own_command_and_unknown_types_by_dump():
    assert read_command("hash") == ("HGETALL",)
    assert read_command("ReJSON-RL") == ("JSON.GET",)
    assert read_command("MBbloom--") == ("DUMP",)


@pytest.mark.parametrize(
    ("snapshot", "target", "state"),
    [
        (KeyContent("hash", ((b"a", b"1"),), -1), KeyContent("hash", ((b"a", b"1"),), -1), KeyState.EQUAL),
        (KeyContent("hash", ((b"a", b"1"),), -1), KeyContent("hash", ((b"a", b"2"),), -1), KeyState.DIFFERS),
        (KeyContent("string", b"1", -1), KeyContent("hash", ((b"a", b"1"),), -1), KeyState.DIFFERS),
        (KeyContent("string", b"1", 1_900_000_000_000), KeyContent("string", b"1", -1), KeyState.DIFFERS),
        (
            KeyContent("string", b"1", 1_900_000_000_000),
            KeyContent("string", b"1", 1_900_000_000_001),
            KeyState.DIFFERS,
        ),
        (KeyContent("string", b"1", -1), None, KeyState.MISSING),
        (None, KeyContent("string", b"1", -1), KeyState.EXTRA),
        (None, None, None),
    ],
)
def test_a_key_is_equal_only_with_the_same_type_value_and_expiry(snapshot, target, state):
    assert compare_key(snapshot, target) is state


def test_the_diff_counts_every_state_and_shows_a_few_keys_of_each():
    diff = RestoreDiff()
    for n in range(30):
        diff.add(KeyState.DIFFERS, b"k:%d" % n)
    diff.add(KeyState.EQUAL, b"same")
    diff.add(KeyState.EXTRA, b"\xff\xfe")
    assert diff.count(KeyState.DIFFERS) == 30 and diff.to_write == 30
    assert len(diff.samples["differs"]) == 20 and not diff.samples.get("equal")
    lines = diff.lines(shown_keys=2)
    assert "30 keys differ from the snapshot (type, value or TTL)" in lines
    assert "    k:0, k:1 and 28 more" in lines
    assert "    \\xff\\xfe" in lines  # binary keys escaped, never a decode error
    assert not diff.matches(extra_allowed=True)


def test_a_diff_matches_when_nothing_is_left_to_write_and_extras_only_where_allowed():
    diff = RestoreDiff()
    diff.add(KeyState.EQUAL, b"a")
    diff.add(KeyState.EXTRA, b"b")
    assert diff.matches(extra_allowed=True) and not diff.matches(extra_allowed=False)
    report = SnapshotRestoreReport(redis="r", backup_dir="d", after=diff)
    assert report.verdict(delete_extra=False) == "restored"
    assert report.verdict(delete_extra=True) == "restore_incomplete"
    assert SnapshotRestoreReport(redis="r", backup_dir="d").verdict(False) == "restore_incomplete"


def test_the_selection_is_the_model_prefixes_without_overlaps_or_every_key():
    assert key_selection([":app.B:", ":app.A:", ":app.A:", ":app.A:x:"], all_keys=False) == [":app.A:", ":app.B:"]
    assert key_selection([":app.A:"], all_keys=True) == [""]


def test_a_snapshot_newer_than_the_target_reads_is_refused():
    refusal = rdb_version_refusal(12, (7, 0, 15), "/b/rdb/dump.rdb")
    assert refusal and "RDB version 12" in refusal and "Redis 7.0.15" in refusal and "up to 10" in refusal
    assert rdb_version_refusal(10, (7, 0, 15), "x") is None
    assert rdb_version_refusal(10, (8, 2, 3), "x") is None


def test_a_loader_newer_than_the_target_is_refused_before_its_payloads_are_restored():
    refusal = dump_version_refusal((8, 2, 3), (7, 0, 15), "/opt/redis-server")
    assert refusal and "RDB version 12" in refusal and "--rdb-tools-dir" in refusal
    assert dump_version_refusal((7, 0, 15), (8, 2, 3), "x") is None
    assert dump_version_refusal((7, 0, 15), (7, 0, 11), "x") is None


def test_a_snapshot_that_is_missing_unrecorded_or_changed_is_refused():
    assert "missing" in (checksum_refusal("f", "abc", None) or "")
    assert "records no sha256" in (checksum_refusal("f", None, "abc") or "")
    changed = checksum_refusal("f", "a" * 64, "b" * 64) or ""
    assert "does not match the sha256" in changed and "nothing was written" in changed
    assert checksum_refusal("f", "a" * 64, "a" * 64) is None


def test_the_restore_asks_for_restore_and_only_with_delete_extra_for_del():
    labels = {command.label for command in restore_commands([":a:"], [], [], delete_extra=False)}
    assert {"SCAN", "TYPE", "PEXPIRETIME", "HGETALL", "RESTORE"} <= labels and "DEL" not in labels
    with_del = restore_commands([":a:"], [":j:"], ["idx"], delete_extra=True)
    assert {"DEL", "JSON.GET", "FT.INFO", "FT.DROPINDEX", "FT.CREATE", "FT.ALIASDEL"} <= {c.label for c in with_del}
    assert {c.key_pattern for c in with_del if c.label == "RESTORE"} == {":a:*"}
