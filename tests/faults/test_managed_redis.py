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


def _record_reads(client) -> int:
    """HGETALL calls the server has answered: the scan reads every record with it."""
    return int(client.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))


def test_a_user_without_sync_nor_acl_dryrun_is_refused_before_any_record_is_read_and_leaves_no_directory(
    any_redis_server, tmp_path, capsys
):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    client.execute_command("ACL", "SETUSER", "app", "on", ">app-pass", "~*", "&*", "+@all", "-sync", "-psync", "-acl")
    url = f"redis://app:app-pass@127.0.0.1:{any_redis_server.port}/0"
    reads = _record_reads(client)
    capsys.readouterr()

    assert _run(url, tmp_path / "refused") == 2

    output = capsys.readouterr()
    error = " ".join(output.err.split())
    assert "refused a full snapshot" in error and "NOPERM" in error and "Grant it (+sync)" in error, error
    assert "--snapshot-reference ID" in error and "--no-rdb-snapshot" in error and "Traceback" not in error
    assert error.rstrip().endswith("guarantees the exact rollback"), error[-300:]  # our one line is the last
    # the SYNC's refusal came before the scan's first read: only the permission probes' HGETALL of a key that does
    # not exist, one per model (the scan would add one per record)
    assert _record_reads(client) - reads == 2
    assert not (tmp_path / "refused").exists()  # a refusal leaves no backup directory
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


MANAGED_RENAMES = ("CONFIG", "DEBUG", "BGSAVE", "SYNC", "PSYNC", "MEMORY", "CLIENT")


@pytest.fixture
def managed_redis(any_redis_start, tmp_path):
    """A managed-service profile: CONFIG, DEBUG, BGSAVE, SYNC, PSYNC, MEMORY and CLIENT renamed away, and the
    application's ACL user without ACL (so without ACL DRYRUN: the check probes)."""
    from om_runbook.tasks.io.local_redis import reap_all

    renames = [arg for name in MANAGED_RENAMES for arg in ("--rename-command", name, "")]
    server = any_redis_start(tmp_path / "managed", *renames)
    server.client().execute_command("ACL", "SETUSER", "app", "on", ">app-pass", "~*", "&*", "+@all", "-acl")
    yield server
    reap_all([server])


def test_the_whole_run_on_a_managed_profile_with_the_providers_snapshot_and_its_rollback(
    managed_redis, tmp_path, capsys
):
    import datetime
    import json

    client = managed_redis.client()
    seed(client, 500)
    before = keyspace(client)
    url = f"redis://app:app-pass@127.0.0.1:{managed_redis.port}/0"
    capsys.readouterr()

    assert _run(url, tmp_path / "refused") == 2
    stderr = capsys.readouterr().err
    error = " ".join(stderr.split())
    # (a "Logging error" traceback of Prefect's console handler still holding an earlier test's closed capture
    # stream can appear in this process; the command's own last line is what a user reads)
    assert stderr.strip().splitlines()[-1].startswith("om-runbook run: error: the Redis user 'app' may not use")
    assert "renamed or disabled on this server" in error and "--snapshot-reference ID" in error, error
    assert not (tmp_path / "refused" / "chunks").exists()

    arn = "arn:aws:elasticache:eu-west-1:123456789012:snapshot:before-om-1x"
    taken = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=3)).replace(microsecond=0)
    backup = tmp_path / "b"
    flags = (
        "--snapshot-reference",
        arn,
        "--snapshot-taken-at",
        taken.isoformat(),
        "--report-json",
        str(tmp_path / "r"),
    )
    assert _run(url, backup, *flags) == 0, capsys.readouterr().err
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["snapshot"]["provider_reference"] == arn and not manifest["snapshot"]["taken"]
    assert manifest["snapshot"]["provider_taken_at"] == taken.isoformat().replace("+00:00", "Z")
    checklist = next((backup / "archive").rglob("checklist.md")).read_text()
    backup_line = next(line for line in checklist.splitlines() if "Full Redis backup created" in line)
    assert "[x]" in backup_line and arn in backup_line, backup_line
    assert "RDB saves unknown (CONFIG refused)" in checklist  # what the run did without, said
    report = json.loads((tmp_path / "r").read_text())
    assert report["status"] == "succeeded"
    assert keyspace(client) != before

    assert main(["restore-snapshot", "--redis-url", url, "--backup-dir", str(backup)]) == 2
    assert "restore that with the provider's own tools" in " ".join(capsys.readouterr().err.split())
    assert main(["rollback", "--redis-url", url, "--backup-dir", str(backup)]) == 0
    assert keyspace(client) == before
