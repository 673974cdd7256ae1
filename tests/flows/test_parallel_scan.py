"""The one scan split across real worker processes: the same backup, byte for byte, as one process writes; a worker's
failure leaves no backup behind."""

from __future__ import annotations

import json

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.errors import BackupError
from tests.flows.helpers import (
    assert_complete_and_reversible,
    back_up,
    keyspace,
    record_worker_jobs,
    seed,
    settings_for,
)
from tests.flows.test_json_documents import PREFIX, _legacy_document

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def scan_workers(monkeypatch):
    """`set(n)`: the scan runs in n real worker processes; `jobs`: what each pool opened ran (one list per pool)."""

    class Workers:
        jobs = record_worker_jobs(monkeypatch)

        def set(self, count: int) -> None:
            monkeypatch.setattr("om_runbook.tasks.first_scan.worker_count", lambda *sizes: count)

    return Workers()


def _backup_figures(manifest) -> dict:
    return {
        "counts": (manifest.keys_scanned, manifest.keys_changed, manifest.fields_changed),
        "values": manifest.value_counts,
        "problems": (manifest.problem_counts, sorted(p.model_dump_json() for p in manifest.problems)),
        "chunks": [(c.file, c.key_count, c.fields, c.sha256) for c in manifest.chunks],
    }


def test_a_scan_in_two_worker_processes_writes_the_backup_one_process_writes(any_redis_server, tmp_path, scan_workers):
    client = any_redis_server.client()
    seed(client, 600, dirty_share=0.05)
    before = keyspace(client)
    scan_workers.set(1)
    alone = back_up(settings_for(any_redis_server.url, tmp_path / "alone"), 4)
    assert scan_workers.jobs == []
    scan_workers.set(2)
    shared = back_up(settings_for(any_redis_server.url, tmp_path / "shared"), 4)
    assert [job.count("back_up_share") for job in scan_workers.jobs] == [2]
    assert alone.keys_changed > 500 and alone.problem_counts["unparseable"] > 0
    assert _backup_figures(shared) == _backup_figures(alone)
    for chunk in alone.chunks:  # the same lines, in the same order
        assert (tmp_path / "shared" / chunk.file).read_bytes() == (tmp_path / "alone" / chunk.file).read_bytes()
    assert not list((tmp_path / "shared" / "chunks").glob("*.partial"))
    assert keyspace(client) == before


def test_json_documents_scanned_in_worker_processes_back_up_as_in_one(redis_stack_server, tmp_path, scan_workers):
    client = redis_stack_server.client()
    for i in range(60):
        client.execute_command("JSON.SET", PREFIX + f"A{i:04d}", "$", json.dumps(_legacy_document(i)))
    models = "tests.flows.account_models"
    scan_workers.set(1)
    alone = back_up(settings_for(redis_stack_server.url, tmp_path / "alone", models=models), 3)
    scan_workers.set(3)
    shared = back_up(settings_for(redis_stack_server.url, tmp_path / "shared", models=models), 3)
    assert [job.count("back_up_share") for job in scan_workers.jobs] == [3]
    assert alone.keys_changed == 60
    assert _backup_figures(shared) == _backup_figures(alone)


def test_a_run_scanned_in_worker_processes_converts_and_rolls_back_exactly(redis_server, tmp_path, scan_workers):
    client = redis_server.client()
    seed(client, 400)
    before = keyspace(client)
    scan_workers.set(2)
    settings = settings_for(redis_server.url, tmp_path / "backup", rdb_snapshot=False)
    report = migration_flow(settings)
    assert [job.count("back_up_share") for job in scan_workers.jobs][:1] == [2]
    assert_complete_and_reversible(report, settings, client, before)


def test_a_worker_that_cannot_write_its_chunk_file_fails_the_run_before_any_write(
    redis_server, tmp_path, scan_workers, monkeypatch
):
    from om_runbook.tasks import backup
    from tests.flows.test_migration_flow import assert_no_backup_left

    client = redis_server.client()
    seed(client, 300)
    before = keyspace(client)
    scan_workers.set(2)
    settings = settings_for(redis_server.url, tmp_path / "backup", rdb_snapshot=False, chunks=2)
    blocked = settings.backup_dir / "chunks" / "chunk-0001.jsonl.partial"
    real_make_directory = backup.make_directory

    def make_directory_and_block_one_chunk(directory):
        real_make_directory(directory)
        if directory.name == "chunks":
            blocked.mkdir()  # the worker of that chunk cannot open its file

    monkeypatch.setattr(backup, "make_directory", make_directory_and_block_one_chunk)
    with pytest.raises(BackupError, match="cannot write the backup in"):
        migration_flow(settings)
    assert keyspace(client) == before
    assert_no_backup_left(settings.backup_dir)
