"""The safety audit's findings, each fed the input that triggered it (real redis-server, real Prefect flows)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow, verification_flow
from om_runbook.migrations.backup_format import Problem
from om_runbook.migrations.errors import BackupError, ConfigurationError
from om_runbook.migrations.unfinished_run import MARKER_KEY
from om_runbook.migrations.verification import summarize
from om_runbook.tasks.backup_store.backup_format import load_checkpoint, load_manifest
from om_runbook.tasks.guards.lease import LEASE_KEY
from om_runbook.tasks.migrate import migrate_chunk_task
from om_runbook.tasks.verify import check_sample_with_models
from tests.flows.helpers import keyspace, migrate_lines_done, record_worker_jobs, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")
CUSTOMER = b":om_runbook.migrations.sample_models.Customer:"


def _migrated(server, tmp_path, count=300, **extra):
    client = server.client()
    seed(client, count)
    before = keyspace(client)
    settings = settings_for(server.url, tmp_path / "backup", **extra)
    report = migration_flow(settings)
    assert report.status == "succeeded", report.messages
    return client, settings, before


# --- 1. a rollback that met errors can be run again ------------------------------------------------------------


def _limit_memory_once_the_rollback_holds_its_lease(client, limited: threading.Event) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and b'"purpose": "rollback"' not in (client.get(LEASE_KEY) or b""):
        time.sleep(0.001)
    client.config_set("maxmemory", 1)  # noeviction: every write is refused from here on
    limited.set()


def test_a_rollback_that_met_write_errors_can_be_run_again_and_says_incomplete_until_then(any_redis_server, tmp_path):
    client, settings, before = _migrated(any_redis_server, tmp_path, count=2000, rdb_snapshot=False)
    client.config_set("maxmemory-policy", "noeviction")
    limited = threading.Event()
    limiter = threading.Thread(target=_limit_memory_once_the_rollback_holds_its_lease, args=(client, limited))
    limiter.start()
    first = rollback_flow(settings.redis_url, settings.backup_dir, batch_size=1)
    limiter.join()
    client.config_set("maxmemory", 0)
    assert limited.is_set()
    assert first.status == "rollback_incomplete", first.messages
    errors = sum(chunk["counts"].get("errors", 0) for chunk in first.phases["rollback"].details["chunks"])
    assert errors > 0
    manifest = load_manifest(settings.backup_dir)
    assert not any(load_checkpoint(settings.backup_dir, "rollback", c).finished for c in manifest.chunks if c.key_count)

    second = rollback_flow(settings.redis_url, settings.backup_dir)
    assert second.status == "rolled_back", second.messages
    assert keyspace(client) == before


def test_a_rollback_after_the_migrate_ran_again_restores_every_field(redis_server, tmp_path):
    client, settings, before = _migrated(redis_server, tmp_path, rdb_snapshot=False)
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    manifest = load_manifest(settings.backup_dir)
    for chunk in manifest.chunks:  # the migrate runs again from the same backup (a resumed run, a worker)
        migrate_chunk_task(settings, chunk, None)
    assert keyspace(client) != before

    again = rollback_flow(settings.redis_url, settings.backup_dir)
    assert again.status == "rolled_back", again.messages
    assert keyspace(client) == before


# --- 2. the backup directory at the directory level -------------------------------------------------------------


def test_a_backup_whose_complete_manifest_was_lost_is_not_redone_over_its_chunk_files(redis_server, tmp_path):
    client, settings, _before = _migrated(redis_server, tmp_path, rdb_snapshot=False)
    manifest_path = settings.backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "in_progress"  # the rename of the complete manifest lost in a crash
    manifest_path.write_text(json.dumps(manifest))
    chunk_files = {path: path.read_bytes() for path in (settings.backup_dir / "chunks").iterdir()}
    migrated = keyspace(client)

    with pytest.raises(BackupError, match="redoing the backup would overwrite the only copy of the originals"):
        migration_flow(settings)
    assert {path: path.read_bytes() for path in (settings.backup_dir / "chunks").iterdir()} == chunk_files
    assert keyspace(client) == migrated


def test_atomic_writes_and_finished_chunk_files_fsync_their_directory(tmp_path, monkeypatch):
    import os

    from om_runbook.tasks.backup_store import backup_format

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    backup_format.write_atomically(tmp_path / "new" / "manifest.json", "{}")
    assert synced[-1] == str(tmp_path / "new")  # the rename made durable
    assert str(tmp_path) in synced  # the new directory's entry too
    writer = backup_format.ChunkWriter(tmp_path / "new" / "chunk.jsonl")
    writer.close()
    assert synced[-2:] == [str(tmp_path / "new" / "chunk.jsonl.partial"), str(tmp_path / "new")]
    assert (tmp_path / "new" / "chunk.jsonl").exists() and not (tmp_path / "new" / "chunk.jsonl.partial").exists()


# --- 3 and 4. a lost lease stops the chunks; the unfinished run's marker guards its backup ----------------------


def _take_the_lease_once_chunks_write(client, backup_dir, taken: threading.Event) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and migrate_lines_done(backup_dir) == 0:
        time.sleep(0.002)
    foreign = json.dumps({"purpose": "migration", "host": "another-host", "pid": 1}).encode()
    client.set(LEASE_KEY, foreign, px=600_000)
    taken.set()


def test_a_lost_lease_stops_the_chunks_and_an_unfinished_run_guards_its_backup(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    first = settings_for(any_redis_server.url, tmp_path / "first", chunks=1, batch_size=5, rdb_snapshot=False)
    taken = threading.Event()
    thief = threading.Thread(target=_take_the_lease_once_chunks_write, args=(client, first.backup_dir, taken))
    thief.start()
    report = migration_flow(first)
    thief.join()
    assert taken.is_set()
    assert report.status == "aborted" and "lease om-runbook:lease on the Redis was lost" in report.messages[-1]
    assert "rollback" not in report.phases  # no rollback while another run may be writing
    done = migrate_lines_done(first.backup_dir)
    assert 0 < done < load_manifest(first.backup_dir).keys_changed  # stopped before its next batch
    assert json.loads(client.get(MARKER_KEY))["backup_dir"] == str(first.backup_dir.resolve())
    client.delete(LEASE_KEY)  # the other run is gone

    second = settings_for(any_redis_server.url, tmp_path / "second", rdb_snapshot=False)
    with pytest.raises(ConfigurationError, match="unfinished om-runbook run"):
        migration_flow(second)
    assert not (tmp_path / "second" / "manifest.json").exists()

    acknowledged = second.model_copy(update={"acknowledge_unfinished_run": True})
    report = migration_flow(acknowledged)
    assert report.status == "succeeded", report.messages
    assert report.problem_counts["earlier_backup_only"] > 0
    assert any(str(first.backup_dir.resolve()) in message for message in report.messages)
    # the marker names the first directory until that run is rolled back
    assert rollback_flow(second.redis_url, second.backup_dir).status == "rolled_back"
    assert client.exists(MARKER_KEY)
    assert rollback_flow(first.redis_url, first.backup_dir).status == "rolled_back"
    assert not client.exists(MARKER_KEY)
    assert keyspace(client) == before


# --- 6. field TTLs (Redis 7.4+) and key TTLs ---------------------------------------------------------------------


def _expiry_times(client) -> dict[tuple[bytes, bytes | None], int]:
    """Each key's absolute expiry (ms) and, where the server has field TTLs, each datetime field's."""
    times = {}
    field_ttls = int(client.info("server")["redis_version"].split(".")[0]) >= 8
    for key in client.scan_iter(match=CUSTOMER + b"*"):
        if client.type(key) != b"hash":
            continue  # the schema step's {index}:hash and {index}:schema on a server with the search module
        times[(key, None)] = client.pexpiretime(key)
        if field_ttls:
            for field in (b"signed_up", b"last_login", b"name"):
                times[(key, field)] = client.execute_command("HPEXPIRETIME", key, "FIELDS", 1, field)[0]
    return times


def test_key_and_field_ttls_survive_migrate_and_rollback(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 200)
    customers = sorted(client.scan_iter(match=CUSTOMER + b"*"))[:40]
    for number, key in enumerate(customers):
        client.pexpire(key, 3_600_000 + number)
        if int(client.info("server")["redis_version"].split(".")[0]) >= 8:
            client.execute_command("HPEXPIRE", key, 7_200_000 + number, "FIELDS", 2, "signed_up", "name")
    expiries, before = _expiry_times(client), keyspace(client)
    assert any(value > 0 for value in expiries.values())

    settings = settings_for(any_redis_server.url, tmp_path / "backup", rdb_snapshot=False)
    report = migration_flow(settings)
    assert report.status == "succeeded", report.messages
    assert _expiry_times(client) == expiries
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert _expiry_times(client) == expiries
    assert keyspace(client) == before


# --- 7, 8 and the verification's failure modes -------------------------------------------------------------------


def test_a_naive_time_in_the_repeated_dst_hour_verifies(redis_server, tmp_path):
    client = redis_server.client()
    fields = {"pk": "dst", "name": "n", "email": "e", "signed_up": "2023-11-05T01:30:00", "last_login": ""}
    client.hset(CUSTOMER + b"dst", mapping=fields)
    settings = settings_for(redis_server.url, tmp_path / "backup", naive_timezone="America/New_York", chunks=1)
    report = migration_flow(settings)
    assert report.status == "succeeded", (report.messages, report.problems)
    assert report.phases["verify"].details["sample_loaded"] == 1
    assert client.hget(CUSTOMER + b"dst", "signed_up") == b"1699162200.0"


@pytest.fixture
def verified(redis_server, tmp_path):
    client, settings, _before = _migrated(redis_server, tmp_path, count=200, rdb_snapshot=False)
    assert verification_flow(settings.redis_url, settings.backup_dir).status == "verified"
    return client, settings


def test_verification_fails_on_a_migrated_value_put_back_to_its_original(verified):
    client, settings = verified
    entry = json.loads(next((settings.backup_dir / "chunks").glob("*.jsonl")).read_text().splitlines()[0])
    key, field, original = entry[0].encode("latin-1"), entry[2], entry[3].encode("latin-1")
    client.hset(key, field, original)
    report = verification_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "verification_failed"
    assert report.problem_counts["not_applied"] == 1


def _runs_verify_phase(settings):
    """The run's verify phase itself (no rescan unless --live-traffic), inside a flow as the run calls it."""
    from prefect import flow

    from om_runbook.flows.verification import verify_migration
    from om_runbook.migrations.targets import discover_targets

    @flow
    def verify_phase():
        manifest = load_manifest(settings.backup_dir)
        return verify_migration(settings, manifest, discover_targets(settings.models), has_search=False)

    return verify_phase()


def test_the_runs_verify_phase_reads_back_what_it_wrote_and_fails_on_a_value_not_applied(verified):
    client, settings = verified
    assert _runs_verify_phase(settings).passed
    entry = json.loads(next((settings.backup_dir / "chunks").glob("*.jsonl")).read_text().splitlines()[0])
    client.hset(entry[0].encode("latin-1"), entry[2], entry[3].encode("latin-1"))
    verification = _runs_verify_phase(settings)
    assert not verification.passed
    assert verification.field_counts["not_applied"] == 1 and verification.legacy_left == 1


def test_with_live_traffic_the_runs_verify_phase_rescans_for_legacy_values_written_meanwhile(verified):
    client, settings = verified
    client.hset(CUSTOMER + b"late", mapping={"pk": "late", "name": "n", "email": "e", "signed_up": "2024-01-02"})
    verification = _runs_verify_phase(settings.model_copy(update={"live_traffic": True}))
    assert not verification.passed and verification.legacy_left == 1
    assert verification.problem_counts["legacy_left"] == 1


def test_verification_fails_on_a_legacy_value_left_behind(verified):
    client, settings = verified
    client.hset(CUSTOMER + b"late", mapping={"pk": "late", "name": "n", "email": "e", "signed_up": "2024-01-02"})
    report = verification_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "verification_failed"
    assert report.problem_counts["legacy_left"] == 1


def test_verification_fails_when_the_models_read_another_instant(verified):
    _client, settings = verified
    manifest_path = settings.backup_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["naive_timezone"] = "Asia/Kolkata"  # the bytes match the backup; the instants do not
    manifest_path.write_text(json.dumps(manifest))
    report = verification_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "verification_failed"
    assert report.problem_counts["model_value_differs"] > 0


def test_verification_fails_when_model_get_fails_for_the_sample(verified):
    from om_runbook.migrations.targets import discover_targets

    targets = discover_targets("om_runbook.migrations.sample_models")
    client, settings = verified
    key = CUSTOMER + b"unloadable"  # exists, but its converted field is not a number redis-om can load
    client.hset(key, mapping={"pk": "unloadable", "name": "n", "email": "e", "signed_up": "1.5e400"})
    gone = CUSTOMER.decode() + "gone"  # Model.get() raises NotFoundError: deleted since its check
    sample = [(key.decode(), "signed_up", "2023-01-01T00:00:00"), (gone, "signed_up", "2023-01-01T00:00:00")]
    loaded, equal, problems = check_sample_with_models(
        settings.redis_url.get_secret_value(), targets, sample, settings.zone
    )
    assert (loaded, equal, [p.kind for p in problems]) == (0, 0, ["model_load_failed", "sample_key_gone"])
    verdict = summarize([], "target", 0.0, (0, []), (loaded, equal, problems))
    assert not verdict.passed and verdict.sample_failed == 1


def test_a_sample_whose_every_load_failed_does_not_pass():
    failed = [Problem(kind="model_load_failed", key="k", field="f", message="ValidationError")] * 3
    assert not summarize([], "target", 0.0, (0, []), (0, 0, failed)).passed


# --- 5. the staging rehearsal empties only an empty or marked staging Redis, never production ------------------


def _save_secret(name: str, value: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value=value).save(name, overwrite=True)


def test_the_staging_rehearsal_refuses_a_redis_with_unmarked_data_or_the_production_server(redis_server, tmp_path):
    from om_runbook.flows.deployment_flows import staging_rehearsal

    client = redis_server.client()
    seed(client, 20)
    before = keyspace(client)
    _save_secret("audit-staging-url", redis_server.url)
    _save_secret("audit-production-url", "redis://127.0.0.1:1/0")
    with pytest.raises(ConfigurationError, match="holds data .* and no marker om-runbook:staging-rehearsal"):
        staging_rehearsal("audit-staging-url", str(tmp_path), production_redis_url_secret="audit-production-url")
    assert keyspace(client) == before

    _save_secret("audit-production-url", redis_server.url.replace("127.0.0.1", "localhost"))
    client.set(b"om-runbook:staging-rehearsal", b"prepared by an earlier rehearsal")
    with pytest.raises(ConfigurationError, match="is the server the production Secret names"):
        staging_rehearsal("audit-staging-url", str(tmp_path), production_redis_url_secret="audit-production-url")
    assert client.dbsize() == len(before) + 1
    with pytest.raises(ConfigurationError, match="was given the production Secret"):
        staging_rehearsal("audit-production-url", str(tmp_path), production_redis_url_secret="audit-production-url")


@pytest.mark.parametrize(
    ("fields", "refused_field"),
    [
        ({"pk": "d", "name": "n", "email": "e", "signed_up": "2023-01-02T03:04:05", "last_login": "x"}, "last_login"),
        ({"pk": "d", "name": "n", "signed_up": "2023-01-02T03:04:05", "last_login": "2023-01-02"}, "email"),
        ({"pk": "d", "name": "n", "email": "e", "signed_up": "2023-01-02", "last_login": b"\xff\xfe"}, "last_login"),
    ],
    ids=["a datetime value reported unparseable", "a required field missing", "binary data in another field"],
)
def test_a_sampled_record_the_model_refuses_for_data_we_did_not_change_does_not_fail_verification(
    redis_server, tmp_path, fields, refused_field
):
    client = redis_server.client()
    client.hset(CUSTOMER + b"d", mapping=fields)
    settings = settings_for(redis_server.url, tmp_path / "b", chunks=1, rdb_snapshot=False, max_error_rate=0.9)
    report = migration_flow(settings)  # 1 bad value of 2: the error-rate criterion is lifted for this one record
    assert report.status == "succeeded", (report.messages, report.problem_counts)
    refused = [p for p in report.problems if p.kind == "model_load_refused_unchanged_data"]
    assert len(refused) == 1 and f"({refused_field})" in refused[0].message
    assert report.phases["verify"].details["sample_failed"] == 0


@pytest.fixture
def worker_pools(monkeypatch):
    """Verification's chunk checks forced into two real worker processes; the pools opened, with their submissions."""
    opened = record_worker_jobs(monkeypatch)
    monkeypatch.setattr(
        "om_runbook.flows.verification.worker_count", lambda *sizes: 2
    )  # the run's verify and the rollback's
    return opened


def test_verification_in_worker_processes_checks_every_chunk_and_fails_on_a_value_not_applied(
    redis_server, tmp_path, worker_pools
):
    client, settings, before = _migrated(redis_server, tmp_path, count=300, rdb_snapshot=False, chunks=3)
    assert [jobs.count("check_chunk_at") for jobs in worker_pools] == [3]  # the run's own verify phase
    entry = json.loads(next((settings.backup_dir / "chunks").glob("*.jsonl")).read_text().splitlines()[0])
    client.hset(entry[0].encode("latin-1"), entry[2], entry[3].encode("latin-1"))
    verification = _runs_verify_phase(settings)
    assert not verification.passed
    assert verification.field_counts["not_applied"] == 1 and verification.legacy_left == 1
    assert verification.field_counts["as_expected"] == load_manifest(settings.backup_dir).fields_changed - 1
    client.hset(entry[0].encode("latin-1"), entry[2], entry[4].encode("latin-1"))
    report = rollback_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "rolled_back", report.messages
    assert [jobs.count("check_chunk_at") for jobs in worker_pools] == [3, 3, 3]
    assert keyspace(client) == before
