"""`om-runbook restore-snapshot`, the manual way back from the run's RDB snapshot, on both servers (Redis 8.2: JSON
documents and a search index too): a dry run that changes nothing, a restore that gives back every model key byte
for byte with its TTL once the logical backup is gone, and the refusals before any read of user data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from prefect.blocks.system import Secret
from prefect.exceptions import ParameterTypeError
from pydantic import SecretStr

from om_runbook.flows.cli import main
from om_runbook.flows.deployment_flows import production_restore_snapshot
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.restore_flow import restore_snapshot_flow
from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.errors import BackupError, ConfigurationError, RedisAccessError
from om_runbook.migrations.index_plan import create_args_from_info
from om_runbook.migrations.snapshot_restore import KeyState
from om_runbook.tasks.io.local_redis import RedisServer
from tests.flows.helpers import keyspace, seed, settings_for
from tests.flows.test_json_documents import PREFIX as ACCOUNT_PREFIX
from tests.flows.test_json_documents import _legacy_document
from tests.redis_stack import stack_binary

pytestmark = pytest.mark.usefixtures("prefect_harness")
CUSTOMER = b":om_runbook.migrations.sample_models.Customer:"
ACCOUNT_INDEX = ACCOUNT_PREFIX + "index"
HOUR_MS = 3_600_000


def exact_keyspace(client: redis.Redis) -> dict[bytes, tuple[bytes, object, int]]:
    """Every key: its type, its content (a hash's fields, else its DUMP payload) and its absolute expiry in ms."""
    return keyspace(client, expiry="PEXPIRETIME")


def _has_modules(client: redis.Redis) -> bool:
    return any(entry[b"name"] == b"search" for entry in client.module_list())


def _tools(client: redis.Redis) -> Path | None:
    return Path(stack_binary()).parent if _has_modules(client) else None


def _legacy_index(client: redis.Redis) -> list[str]:
    """An index as a redis-om 0.x application created it (datetimes as TAG), and its definition."""
    client.execute_command(
        "FT.CREATE", ACCOUNT_INDEX, "ON", "JSON", "PREFIX", "1", ACCOUNT_PREFIX,
        "SCHEMA", "$.name", "AS", "name", "TAG", "$.created_at", "AS", "created_at", "TAG",
    )  # fmt: skip
    return create_args_from_info(ACCOUNT_INDEX, client.execute_command("FT.INFO", ACCOUNT_INDEX))


def _migrated(server: RedisServer, backup_dir: Path) -> tuple[redis.Redis, dict, list[str] | None]:
    """Legacy records (with TTLs) migrated by a run that took its RDB snapshot: (client, keyspace before, index)."""
    client = server.client()
    seed(client, 300, dirty_share=0.02)
    first = next(client.scan_iter(match=CUSTOMER + b"*"))
    client.pexpire(first, HOUR_MS)
    client.set("app:session", "s", px=HOUR_MS)
    client.rpush("app:queue", "a", "b")
    models, index = "om_runbook.migrations.sample_models", None
    if _has_modules(client):
        models += ",tests.flows.account_models"
        for i in range(12):
            client.execute_command("JSON.SET", f"{ACCOUNT_PREFIX}A{i:04d}", "$", _json(i))
        index = _legacy_index(client)
    before = exact_keyspace(client)
    report = migration_flow(settings_for(server.url, backup_dir, models=models, rdb_tools_dir=_tools(client)))
    assert report.status == "succeeded", report.messages
    return client, before, index


def _json(i: int) -> str:
    import json

    return json.dumps(_legacy_document(i))


def test_restore_snapshot_refuses_before_any_write_then_gives_back_every_model_key_byte_for_byte(
    any_redis_server, redis_server_factory, tmp_path, capsys
):
    """One migration per server, then in order: every refusal (nothing written), a rollback refusing damaged chunk
    files, and, once the chunk files are gone, the dry run, the restore and --delete-extra."""
    backup = tmp_path / "b"
    client, before, index = _migrated(any_redis_server, backup)
    _refusals(any_redis_server, client, backup, redis_server_factory, capsys)
    _rollback_refuses_damaged_chunk_files(any_redis_server, client, backup, capsys)
    _restore_once_the_chunk_files_are_gone(any_redis_server, client, backup, before, index)


def _refusals(server, client, backup, redis_server_factory, capsys) -> None:
    """A damaged snapshot, another server, a user without RESTORE (ACL DRYRUN and probes), --target-url, and the
    deployment's typed confirmation."""
    migrated = exact_keyspace(client)
    url, tools = server.url, _tools(client)

    snapshot = backup / "rdb" / "dump.rdb"
    original = snapshot.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    snapshot.write_bytes(bytes(damaged))
    with pytest.raises(BackupError, match="does not match the sha256 the manifest recorded"):
        restore_snapshot_flow(SecretStr(url), backup, confirm=True, rdb_tools_dir=tools)
    snapshot.write_bytes(original)

    other = redis_server_factory()
    with pytest.raises(ConfigurationError, match="another server.*--target-url"):
        restore_snapshot_flow(SecretStr(other.url), backup, confirm=True, rdb_tools_dir=tools)
    assert other.client().dbsize() == 0

    client.execute_command("ACL", "SETUSER", "restorer", "on", ">pw", "~*", "&*", "+@all", "-restore")
    client.execute_command("ACL", "SETUSER", "prober", "on", ">pw", "~*", "&*", "+@all", "-restore", "-acl")
    port = server.port
    for user in ("restorer", "prober"):  # ACL DRYRUN, and the probes when ACL itself is denied
        with pytest.raises(RedisAccessError, match=r"RESTORE \(writing keys back.*\+restore"):
            restore_snapshot_flow(SecretStr(f"redis://{user}:pw@127.0.0.1:{port}/0"), backup, True, rdb_tools_dir=tools)
    assert exact_keyspace(client) == migrated

    capsys.readouterr()
    command = ["restore-snapshot", "--backup-dir", str(backup), "--target-url", other.url]
    code = main([*command, *(["--rdb-tools-dir", str(tools)] if tools else [])])
    output = capsys.readouterr()
    printed = " ".join(output.out.split())  # rich wraps at the terminal's width
    if tools is None:  # Redis 7.0 into another 7.0: the dry run lists every model key as missing there
        assert code == 0, output.err
        assert "--target-url: restoring into" in printed and "not checked against the backup's server" in printed
        assert "keys in the snapshot, missing on the target" in printed
    else:  # Redis 8.2's snapshot into a Redis 7.0: refused by its RDB version
        assert code == 2
        assert "is RDB version 12" in output.err and "Redis 7.0" in output.err and "nothing was written" in output.err
    assert other.client().dbsize() == 0 and exact_keyspace(client) == migrated

    Secret(value=url).save("restore-test-redis-url", overwrite=True)
    with pytest.raises(ParameterTypeError, match="confirmation"):  # the form's own check, and Prefect's
        production_restore_snapshot("restore-test-redis-url", str(backup), confirmation="yes", rdb_tools_dir=tools)
    dry = production_restore_snapshot("restore-test-redis-url", str(backup), rdb_tools_dir=tools)
    assert dry.status == "dry_run" and dry.before is not None and dry.before.to_write > 0
    assert exact_keyspace(client) == migrated


def _rollback_refuses_damaged_chunk_files(server, client, backup, capsys) -> None:
    """An edited line, a truncated file, a missing file: `rollback` exits 2 naming the file and restore-snapshot."""
    migrated = exact_keyspace(client)
    chunk = max((backup / "chunks").glob("*.jsonl"), key=lambda path: path.stat().st_size)
    original = chunk.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    edited = "".join([lines[0].replace('"', "'", 1), *lines[1:]])  # every JSON line holds a quote
    assert edited != original
    for damage in (edited, original[: len(original) // 2], None):
        if damage is None:
            chunk.unlink()
        else:
            chunk.write_text(damage, encoding="utf-8")
        capsys.readouterr()

        code = main(["rollback", "--redis-url", server.url, "--backup-dir", str(backup)])

        error = " ".join(capsys.readouterr().err.split())
        assert code == 2, error
        assert f"backup file {chunk}" in error and "nothing was written" in error
        assert f"om-runbook restore-snapshot --backup-dir {backup}" in error
        assert exact_keyspace(client) == migrated


def _restore_once_the_chunk_files_are_gone(server, client, backup, before, index) -> None:
    shutil.rmtree(backup / "chunks")  # the logical backup is lost: the snapshot is the way back
    written_after = CUSTOMER + b"written-after-the-run"
    client.hset(written_after, "name", "the application's")
    migrated = exact_keyspace(client)
    changed = sum(1 for key, value in migrated.items() if before.get(key) != value)
    url, tools = server.url, _tools(client)

    dry = restore_snapshot_flow(SecretStr(url), backup, rdb_tools_dir=tools)

    assert dry.status == "dry_run" and exact_keyspace(client) == migrated  # nothing written, not even a lease
    assert dry.before is not None
    model_keys_changed = sum(
        1
        for key in before
        if key.startswith((CUSTOMER, b":om_runbook", ACCOUNT_PREFIX.encode()))
        and key in migrated
        and before[key] != migrated[key]
    )
    assert dry.before.count(KeyState.DIFFERS) == model_keys_changed > 0
    assert dry.before.count(KeyState.MISSING) == 0
    assert written_after.decode() in dry.before.samples["extra"]
    assert changed >= model_keys_changed
    if index is not None:
        assert f"index {ACCOUNT_INDEX}: would be put back as the schema step recorded it" in dry.indexes
        created = f"index {CUSTOMER.decode()}index: would be removed (there was none before the run)"
        assert created in dry.indexes and len(dry.indexes) == 3

    done = restore_snapshot_flow(SecretStr(url), backup, confirm=True, rdb_tools_dir=tools)

    assert done.status == "restored", done.messages
    assert done.written == dry.before.to_write and done.deleted == 0
    assert done.after is not None and done.after.count(KeyState.EXTRA) == 1  # the application's key stays
    after = exact_keyspace(client)
    assert after.pop(written_after) == migrated[written_after]
    assert after == before  # every key, its type, content and expiry to the millisecond
    if index is not None:
        assert create_args_from_info(ACCOUNT_INDEX, client.execute_command("FT.INFO", ACCOUNT_INDEX)) == index
    manifest = BackupManifest.model_validate_json((backup / "manifest.json").read_text())
    assert manifest.status == "rolled_back"

    cleaned = restore_snapshot_flow(SecretStr(url), backup, confirm=True, delete_extra=True, rdb_tools_dir=tools)

    assert cleaned.status == "restored" and cleaned.written == 0 and cleaned.deleted == 1
    assert exact_keyspace(client) == before

    client.set("app:session", "changed by the application")  # not a model key: --all-keys only
    assert restore_snapshot_flow(SecretStr(url), backup, rdb_tools_dir=tools).before.to_write == 0
    everything = restore_snapshot_flow(SecretStr(url), backup, all_keys=True, rdb_tools_dir=tools)
    assert everything.selection == [""] and everything.before.samples["differs"] == ["app:session"]
    assert everything.before.count(KeyState.EQUAL) == len(before) - 1


def test_the_rehearsal_fails_when_the_snapshot_restore_is_not_byte_identical():
    from om_runbook.flows.rehearsal_flow import rehearsal_criteria
    from om_runbook.migrations.fingerprint import KeyspaceDiff
    from om_runbook.migrations.report import RunReport

    migration, rollback = RunReport(status="succeeded", redis="r"), RunReport(status="rolled_back", redis="r")
    same, changed = KeyspaceDiff(keys_before=3, keys_after=3), KeyspaceDiff(keys_before=3, keys_after=3, changed=1)
    name = "every key byte-identical after the snapshot restore"
    assert rehearsal_criteria(migration, rollback, same, same, snapshot_taken=True)[name] is True
    assert rehearsal_criteria(migration, rollback, same, changed, snapshot_taken=True)[name] is False
    assert rehearsal_criteria(migration, rollback, same, None, snapshot_taken=True)[name] is False
    assert name not in rehearsal_criteria(migration, rollback, same, None, snapshot_taken=False)
