"""The RDB snapshot on Redis 8.2 with modules: the right local tools, the source's modules in the restore test, and a
refusal before any write when they are not at hand (both servers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.tasks.backup_store.snapshot import snapshot_nodes
from om_runbook.tasks.io.local_redis import reap_all, start_redis_server
from om_runbook.tasks.io.redis_nodes import single_server
from tests.flows.helpers import assert_complete_and_reversible, keyspace, seed, settings_for
from tests.redis_stack import stack_binary, stack_module_args

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _redis_8_tools_dir() -> Path:
    return Path(stack_binary()).parent


def _module_data(client) -> None:
    """A JSON document and a search index: module types and AUX data in the snapshot."""
    client.execute_command("JSON.SET", ":app.Doc:1", "$", '{"at": "2023-12-01T14:30:22", "tags": ["a"]}')
    client.execute_command("FT.CREATE", "docs", "ON", "JSON", "PREFIX", "1", ":app.Doc:", "SCHEMA", "$.tags[*]", "TAG")


def test_redis_8_snapshot_refused_before_any_write_when_only_7_0_tools_are_at_hand(redis_stack_server, tmp_path):
    client = redis_stack_server.client()
    seed(client, 200)
    before = keyspace(client)
    with pytest.raises(ConfigurationError) as refused:
        migration_flow(settings_for(redis_stack_server.url, tmp_path / "b"))
    message = str(refused.value)
    assert "Redis 8.2.3 writes RDB version 12" in message
    assert "redis-check-rdb /usr/bin/redis-check-rdb (7.0.15)" in message or "(7.0." in message
    assert "--rdb-tools-dir" in message and "--no-rdb-snapshot" in message and "nothing was written" in message
    assert keyspace(client) == before
    assert not (tmp_path / "b" / "chunks").exists()


def test_redis_8_with_modules_snapshot_is_checked_and_restore_tested_with_redis_8_tools(redis_stack_server, tmp_path):
    client = redis_stack_server.client()
    seed(client, 400)
    _module_data(client)
    before = keyspace(client)
    settings = settings_for(redis_stack_server.url, tmp_path / "b", rdb_tools_dir=_redis_8_tools_dir())

    report = migration_flow(settings)

    snapshot = report.phases["backup"].details["snapshot"]
    assert snapshot["check_passed"] and snapshot["restore_tested"], snapshot
    assert snapshot["restored_keys"] == snapshot["source_keys"] == len(before)  # taken before the run lease
    assert "RDB version 12" in snapshot["note"] and "rejson.so" in snapshot["note"]
    assert_complete_and_reversible(report, settings, client, before)


def test_modules_missing_at_their_path_come_from_the_module_dir_or_the_snapshot_is_refused(tmp_path):
    """The source loaded its modules from a directory that no longer exists on this host."""
    original = Path(stack_module_args()[1]).parent
    moved = tmp_path / "gone"
    shutil.copytree(original, moved, ignore=shutil.ignore_patterns("*.py*"))
    args = ("--loadmodule", str(moved / "redisearch.so"), "--loadmodule", str(moved / "rejson.so"))
    server = start_redis_server(tmp_path / "source", *args, binary=stack_binary())
    try:
        shutil.rmtree(moved)
        client = server.client()
        _module_data(client)
        nodes = single_server(client, server.url)
        with pytest.raises(ConfigurationError) as refused:
            snapshot_nodes(nodes, tmp_path / "rdb-1", _redis_8_tools_dir())
        assert "search (" in str(refused.value) and "--module-dir" in str(refused.value)
        assert not (tmp_path / "rdb-1").exists()  # refused before the snapshot was taken

        info = snapshot_nodes(nodes, tmp_path / "rdb-2", _redis_8_tools_dir(), original)
        assert info.check_passed and info.restore_tested and info.restored_keys == info.source_keys == 1
        assert f"{original}" not in info.note and "redisearch.so" in info.note
    finally:
        reap_all([server])


def test_redis_7_0_uses_the_tools_on_path(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 50)
    info = snapshot_nodes(single_server(client, redis_server.url), tmp_path / "rdb")
    assert info.check_passed and info.restore_tested and "RDB version 10" in info.note
    assert "/usr/bin/redis-server (7.0" in info.note
