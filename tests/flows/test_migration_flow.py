"""The data path end to end: real redis-server, real Prefect flows (session harness)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow, verification_flow
from om_runbook.migrations.errors import ConfigurationError, MigrationAborted
from om_runbook.migrations.sample_models import Customer, Order
from om_runbook.migrations.targets import key_prefix_of
from om_runbook.tasks.writer import chunk_runner
from tests.flows.helpers import back_up, keyspace, seed, settings_for
from tests.process_timezone import process_timezone

pytestmark = pytest.mark.usefixtures("prefect_harness")
DATETIME_FIELDS = {
    "Customer": ("signed_up", "birthday", "last_login"),
    "Order": ("placed_at", "shipped_on", "delivered_at"),
}
OPTIONAL_FIELDS = {b"birthday", b"last_login", b"shipped_on", b"delivered_at"}


def expected_bytes(original: bytes) -> bytes:
    """Independent oracle: CPython's own timestamp() in a UTC process, encoded as redis-py does (repr). The zone is
    set here, around the computation, so the oracle does not depend on the machine's zone or on test order."""
    text = original.decode()
    with process_timezone("UTC"):
        if len(text) == 10:
            value = date.fromisoformat(text)
            return repr(datetime(value.year, value.month, value.day).timestamp()).encode()
        return repr(datetime.fromisoformat(text).timestamp()).encode()


def test_run_converts_every_legacy_value_and_rollback_restores_every_byte(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 3000, dirty_share=0.02)
    client.set(key_prefix_of(Customer) + "not-a-hash", "a string under the model prefix")
    before = keyspace(client)
    report_path = tmp_path / "report.json"

    report = migration_flow(settings_for(redis_server.url, tmp_path / "backup", report_json=report_path))

    assert report.status == "succeeded", (report.messages, report.problem_counts, report.problems[-3:])
    after = keyspace(client)
    assert set(after) == set(before)
    converted = unchanged_dirty = removed_empty = 0
    for key, (kind, old, _ttl) in before.items():
        if kind != b"hash":
            assert after[key] == before[key]
            continue
        new = after[key][1]
        model = "Customer" if b"Customer" in key else "Order"
        for field, value in old.items():
            if field.decode() not in DATETIME_FIELDS[model]:
                assert new[field] == value
            elif (
                value[:4].isdigit()
                and value.strip() == value
                and b"/" not in value
                and not value.startswith(b"2023-13")
            ):
                assert new[field] == expected_bytes(value), (key, field, value)
                converted += 1
            elif value == b"" and field in OPTIONAL_FIELDS:
                assert field not in new  # redis-om 0.2.x's None, written as redis-om 1.x writes it: no field
                removed_empty += 1
            else:
                assert new[field] == value  # dirty values are never changed
                unchanged_dirty += 1
    assert converted + removed_empty == report.kpis.fields_converted > 6000
    assert removed_empty > 0
    assert unchanged_dirty == report.kpis.fields_failed - 1 + report.problem_counts.get("empty", 0)  # -1: wrong type
    assert report.problem_counts["wrong_type"] == 1

    written = json.loads(report_path.read_text())
    assert written["status"] == "succeeded"
    assert {"assess", "backup", "schema", "migrate", "verify", "post_migration"} == set(written["phases"])
    assert [s["gate"] for s in written["signoffs"]].count("final") == 4
    assert all(phase["duration_seconds"] > 0 for phase in written["phases"].values())
    for kpi in (
        "keys_scanned",
        "fields_converted",
        "fields_already_converted",
        "fields_failed",
        "conflicts",
        "error_rate",
        "success_rate",
        "duration_seconds",
    ):
        assert kpi in written["kpis"]
    assert written["phases"]["backup"]["details"]["snapshot"]["restore_tested"] is True
    assert written["phases"]["verify"]["details"]["sample_loaded"] > 0

    # The application's own redis-om 1.2 models read back the original instants.
    from redis_om import get_redis_connection

    for model in (Customer, Order):
        model._meta.database = get_redis_connection(url=redis_server.url, decode_responses=True)
    customer_key = next(
        k
        for k, v in before.items()
        if b"Customer" in k
        and v[0] == b"hash"
        and b"signed_up" in v[1]
        # every datetime field clean: SCAN order differs per server, and a dirty one would make get() refuse the record
        and all(v[1][f.encode()][:2] in (b"19", b"20") for f in DATETIME_FIELDS["Customer"] if f.encode() in v[1])
    )
    loaded = Customer.get(customer_key.decode().rsplit(":", 1)[1])
    assert loaded.signed_up.replace(tzinfo=None) == datetime.fromisoformat(
        before[customer_key][1][b"signed_up"].decode()
    )

    rollback = rollback_flow(settings_for(redis_server.url, tmp_path).redis_url, tmp_path / "backup")
    assert rollback.status == "rolled_back"
    assert keyspace(client) == before


def test_a_rerun_after_success_changes_nothing_and_counts_stay_exact(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 500)
    settings = settings_for(redis_server.url, tmp_path / "backup")
    first = migration_flow(settings)
    migrated = keyspace(client)
    second = migration_flow(settings)
    assert keyspace(client) == migrated
    assert second.status == "succeeded"
    assert second.kpis.fields_converted == first.kpis.fields_converted


@pytest.mark.parametrize("window", ["after the checkpoint", "between the batch write and its checkpoint"])
def test_resume_after_a_crash_mid_chunk_converts_nothing_twice(redis_server, tmp_path, monkeypatch, window):
    import logging

    from om_runbook.tasks.backup_store.backup_format import read_chunk_items, save_checkpoint
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.chunk_runner import ErrorPolicy, run_chunk

    client = redis_server.client()
    seed(client, 2000)
    settings = settings_for(redis_server.url, tmp_path / "backup", batch_size=50)
    nodes = open_nodes(redis_server.url)
    manifest = back_up(settings, settings.chunks)
    chunk = manifest.chunks[0]

    class Crash(Exception):
        pass

    def checkpoint_then_crash_after_three_batches(backup_dir, direction, chunk_backup, checkpoint):
        if checkpoint.lines_done >= 150 and window != "after the checkpoint":
            raise Crash  # the third batch (lines 100-149) is written, its checkpoint never is
        save_checkpoint(backup_dir, direction, chunk_backup, checkpoint)
        if checkpoint.lines_done >= 150:
            raise Crash

    monkeypatch.setattr(chunk_runner, "save_checkpoint", checkpoint_then_crash_after_three_batches)
    with pytest.raises(Crash):
        run_chunk(
            nodes, settings.backup_dir, chunk, "migrate", 50, ErrorPolicy("log_and_skip", None), logging.getLogger("t")
        )
    monkeypatch.undo()

    report = migration_flow(settings)
    assert report.status == "succeeded"
    migrate = report.phases["migrate"].details["chunks"]
    first = next(c for c in migrate if c["index"] == chunk.index)
    if window == "after the checkpoint":
        assert first["resumed_from_line"] == 150
        assert first["counts"].get("already", 0) == 0  # nothing replayed
    else:
        assert first["resumed_from_line"] == 100  # the last checkpoint: batch 3 is replayed...
        replayed = sum(len(items[2::3]) for items in read_chunk_items(settings.backup_dir, chunk, 100))
        replayed -= sum(len(items[2::3]) for items in read_chunk_items(settings.backup_dir, chunk, 150))
        assert first["counts"]["already"] == replayed > 0  # ...and the compare-and-set finds it done
    assert report.kpis.fields_converted == manifest.fields_changed


def test_a_value_changed_by_the_application_is_never_overwritten(redis_server, tmp_path):
    import logging

    from om_runbook.tasks.backup_store.backup_format import read_chunk
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.chunk_runner import ErrorPolicy, run_chunk

    client = redis_server.client()
    seed(client, 200)
    settings = settings_for(redis_server.url, tmp_path / "backup", chunks=1)
    nodes = open_nodes(redis_server.url)
    manifest = back_up(settings, settings.chunks)
    _line, entry = next(read_chunk(settings.backup_dir, manifest.chunks[0]))
    field = entry.changes[0].field
    client.hset(entry.key, field, "2030-01-01T00:00:00")  # the application wrote meanwhile

    result = run_chunk(
        nodes,
        settings.backup_dir,
        manifest.chunks[0],
        "migrate",
        100,
        ErrorPolicy("log_and_skip", None),
        logging.getLogger("test"),
    )
    assert result.counts["conflict"] == 1
    assert client.hget(entry.key, field) == b"2030-01-01T00:00:00"
    assert [p.kind for p in result.problems] == ["conflict"]

    rollback = run_chunk(
        nodes,
        settings.backup_dir,
        manifest.chunks[0],
        "rollback",
        100,
        ErrorPolicy("log_and_skip", None),
        logging.getLogger("test"),
    )
    assert rollback.counts["conflict"] == 1
    assert client.hget(entry.key, field) == b"2030-01-01T00:00:00"  # the application's write survives rollback


def test_failure_mode_fail_stops_before_any_write(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 300, dirty_share=0.05)
    before = keyspace(client)
    report_path = tmp_path / "report.json"
    with pytest.raises(MigrationAborted, match="failure-mode is fail"):
        migration_flow(settings_for(redis_server.url, tmp_path / "b", failure_mode="fail", report_json=report_path))
    assert keyspace(client) == before
    assert json.loads(report_path.read_text())["status"] == "aborted"
    # the one scan wrote the backup (and the RDB snapshot beside it) before the counts refused: both are removed
    assert_no_backup_left(tmp_path / "b")


def assert_no_backup_left(backup_dir: Path) -> None:
    """A refusal leaves no half backup a later run could mistake for its own (the run's status file stays)."""
    assert not (backup_dir / "manifest.json").exists()
    assert not (backup_dir / "chunks").exists() and not (backup_dir / "rdb").exists()


def test_a_second_process_on_the_same_backup_directory_is_refused_before_its_scan(redis_server, tmp_path):
    from om_runbook.tasks.backup_store.backup_format import BackupDirectoryLock

    client = redis_server.client()
    seed(client, 100)
    before = keyspace(client)
    settings = settings_for(redis_server.url, tmp_path / "b")
    with BackupDirectoryLock(settings.backup_dir):  # as another om-runbook process holds it
        with pytest.raises(ConfigurationError, match="another om-runbook process on this machine is using"):
            migration_flow(settings)
    assert keyspace(client) == before
    assert_no_backup_left(settings.backup_dir)
    assert migration_flow(settings).status == "succeeded"  # released: the next run goes


def test_max_errors_stops_before_any_write(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 300, dirty_share=0.05)
    before = keyspace(client)
    with pytest.raises(MigrationAborted, match="more than --max-errors 1"):
        migration_flow(settings_for(redis_server.url, tmp_path / "b", max_errors=1))
    assert keyspace(client) == before
    assert_no_backup_left(tmp_path / "b")


def test_a_server_refusing_snapshots_stops_unless_accepted(redis_server, tmp_path):
    from om_runbook.migrations.errors import RedisAccessError

    client = redis_server.client()
    seed(client, 100)
    client.execute_command("ACL", "SETUSER", "app", "on", ">app-secret", "~*", "&*", "+@all", "-sync", "-psync")
    url = f"redis://app:app-secret@127.0.0.1:{redis_server.port}/0"
    before = keyspace(client)
    with pytest.raises(RedisAccessError, match=r"SYNC \(the full RDB snapshot.*--no-rdb-snapshot"):
        migration_flow(settings_for(url, tmp_path / "b"))  # before the scan: the permission check covers SYNC
    assert keyspace(client) == before and not (tmp_path / "b" / "chunks").exists()
    report = migration_flow(settings_for(url, tmp_path / "c", rdb_snapshot=False))
    assert report.status == "succeeded"
    assert report.phases["backup"].details["snapshot"]["taken"] is False


def test_verification_flow_fails_when_a_field_outside_the_migration_changed(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 200)
    settings = settings_for(redis_server.url, tmp_path / "backup")
    migration_flow(settings)
    assert verification_flow(settings.redis_url, settings.backup_dir).status == "verified"
    key = next(client.scan_iter(match=b":om_runbook.migrations.sample_models.Order:*"))
    client.hset(key, "total", "0.01")  # a field outside the migration
    report = verification_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "verification_failed"
    assert report.problem_counts == {"other_fields_changed": 1}


def test_a_rolled_back_backup_directory_is_not_reused(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 50)
    settings = settings_for(redis_server.url, tmp_path / "backup")
    migration_flow(settings)
    rollback_flow(settings.redis_url, settings.backup_dir)
    with pytest.raises(ConfigurationError, match="rolled back; use a new --backup-dir"):
        migration_flow(settings)
