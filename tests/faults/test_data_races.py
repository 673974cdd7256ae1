"""The application changing keys the run is about to write, in the migrate and in the rollback: a redis-om 1.x
float written into a datetime field, a key renamed, a key deleted. Each is the application's: left as it wrote it,
counted, and every other key converted and given back byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.crc import key_slot

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, migrate_lines_done, seed, settings_for, when
from tests.flows.test_migration_flow import DATETIME_FIELDS, expected_bytes

pytestmark = pytest.mark.usefixtures("prefect_harness")
FIELD = DATETIME_FIELDS["Customer"][0].encode()
FLOAT = b"1700000000.5"  # what a redis-om 1.x application writes into a datetime field
LAST_CHUNK_FIRST_SLOT = 12288  # chunks 4: the last one covers slots 12288-16383 and runs last (parallel 1)


def _last_chunk_customers(keys: list[bytes], count: int) -> list[bytes]:
    return sorted(key for key in keys if b"Customer:" in key and key_slot(key) >= LAST_CHUNK_FIRST_SLOT)[:count]


def _seeded(server) -> tuple:
    """3,000 records; the keyspace before; the three last-chunk Customer keys the application will change."""
    client = server.client()
    seed(client, 3000)
    before = keyspace(client)
    return client, before, _last_chunk_customers(list(before), 3)


def _renamed(key: bytes) -> bytes:
    return key.rsplit(b":", 1)[0] + b":renamed-by-the-application"


def _chunk_started(backup_dir: Path, direction: str, index: int) -> bool:
    return (backup_dir / "progress" / direction / f"chunk-{index:04d}.json").exists()


def test_races_before_the_write_a_1x_float_a_rename_a_delete_are_the_applications(any_redis_server, tmp_path):
    client, before, (floated, renamed, deleted) = _seeded(any_redis_server)
    settings = settings_for(
        any_redis_server.url, tmp_path / "b", rdb_snapshot=False, batch_size=20, parallel=1, live_traffic=True
    )

    def application() -> None:
        assert not _chunk_started(settings.backup_dir, "migrate", 3), "the last chunk started too early to race it"
        client.hset(floated, FIELD, FLOAT)
        client.rename(renamed, _renamed(renamed))
        client.delete(deleted)

    app = when(lambda: migrate_lines_done(settings.backup_dir) > 0, application)
    report = migration_flow(settings)
    app.join()
    assert report.status == "succeeded", report.messages
    after = keyspace(client)
    assert after[floated][1][FIELD] == FLOAT  # not converted over the application's value
    assert renamed not in after and deleted not in after
    for name, value in before[renamed][1].items():  # the catch-up round converted the renamed record
        converted = after[_renamed(renamed)][1][name]
        assert converted == (expected_bytes(value) if name.decode() in DATETIME_FIELDS["Customer"] else value)
    assert report.kpis.conflicts >= 1 and report.kpis.fields_missing >= 1

    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    restored = keyspace(client)
    assert restored[floated][1][FIELD] == FLOAT
    assert restored[_renamed(renamed)] == before[renamed]  # given back under the application's new name
    untouched = set(before) - {floated, renamed, deleted}
    assert {key: restored[key] for key in untouched} == {key: before[key] for key in untouched}
    assert deleted not in restored and renamed not in restored


def test_races_during_the_rollback_a_1x_float_a_rename_a_delete_are_the_applications(any_redis_server, tmp_path):
    client, before, (floated, renamed, deleted) = _seeded(any_redis_server)
    settings = settings_for(any_redis_server.url, tmp_path / "b", rdb_snapshot=False)
    assert migration_flow(settings).status == "succeeded"
    migrated = keyspace(client)

    def application() -> None:
        assert not _chunk_started(settings.backup_dir, "rollback", 3), "the last chunk started too early to race it"
        client.hset(floated, FIELD, FLOAT)
        client.rename(renamed, _renamed(renamed))
        client.delete(deleted)

    progress = settings.backup_dir / "progress" / "rollback"
    app = when(lambda: any(progress.glob("chunk-*.json")), application)
    report = rollback_flow(settings.redis_url, settings.backup_dir, parallel=1, batch_size=20)
    app.join()
    assert report.status == "rolled_back", report.messages
    kinds = {(problem.kind, problem.key) for problem in report.problems}
    assert ("changed_by_others", floated.decode()) in kinds, report.problems
    assert {("missing", renamed.decode()), ("missing", deleted.decode())} <= kinds, report.problems
    restored = keyspace(client)
    assert restored[floated][1][FIELD] == FLOAT
    assert restored[_renamed(renamed)] == migrated[renamed]  # the application moved it: it keeps what it held
    assert deleted not in restored and renamed not in restored
    untouched = set(before) - {floated, renamed, deleted}
    assert {key: restored[key] for key in untouched} == {key: before[key] for key in untouched}
