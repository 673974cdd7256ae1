"""Managed Redis denies the replication stream: an ACL user without SYNC, or SYNC renamed away (`rename-command`), is
refused before the scan, with the option that does without it; and with that option the whole run and its
rollback work, byte-identical (both servers)."""

from __future__ import annotations

import pytest

from om_runbook.flows.cli import main
from tests.flows.helpers import keyspace, seed

pytestmark = pytest.mark.usefixtures("prefect_harness")
MODELS = ["--models", "om_runbook.migrations.sample_models"]


def _run(url: str, backup_dir, *extra: str) -> int:
    return main(["run", "--redis-url", url, *MODELS, "--backup-dir", str(backup_dir), "--auto-approve", *extra])


def test_a_user_without_sync_is_refused_before_the_scan_and_runs_with_no_rdb_snapshot(
    any_redis_server, tmp_path, capsys
):
    client = any_redis_server.client()
    seed(client, 300)
    before = keyspace(client)
    client.execute_command("ACL", "SETUSER", "app", "on", ">app-pass", "~*", "&*", "+@all", "-sync", "-psync")
    url = f"redis://app:app-pass@127.0.0.1:{any_redis_server.port}/0"
    capsys.readouterr()

    assert _run(url, tmp_path / "refused") == 2

    error = " ".join(capsys.readouterr().err.split())
    assert "SYNC (the full RDB snapshot through the replication stream" in error, error
    assert "ACL SETUSER app +sync" in error and "or run with --no-rdb-snapshot" in error
    assert "Traceback" not in error and not (tmp_path / "refused" / "chunks").exists()
    assert keyspace(client) == before

    assert _run(url, tmp_path / "b", "--no-rdb-snapshot") == 0
    assert keyspace(client) != before
    assert main(["rollback", "--redis-url", url, "--backup-dir", str(tmp_path / "b")]) == 0
    assert keyspace(client) == before


def test_sync_renamed_away_is_refused_before_the_scan_with_no_grant_to_ask_for(redis_server_factory, tmp_path, capsys):
    server = redis_server_factory("--rename-command", "SYNC", "", "--rename-command", "PSYNC", "")
    client = server.client()
    seed(client, 100)
    before = keyspace(client)
    capsys.readouterr()

    assert _run(server.url, tmp_path / "refused") == 2

    error = " ".join(capsys.readouterr().err.split())
    assert "renamed or disabled on this server" in error and "Or run with --no-rdb-snapshot" in error, error
    assert "+sync" not in error and not (tmp_path / "refused" / "chunks").exists()
    assert keyspace(client) == before
