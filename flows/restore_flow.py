"""`om-runbook restore-snapshot`: the checklist's manual rollback ("restore the RDB backup") without a FLUSHALL. A dry
run by default; with `confirm`, the keys that differ from the run's snapshot are written back and checked."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from pydantic import SecretStr

from om_runbook.flows.heartbeat import with_heartbeat
from om_runbook.flows.rollback_flow import record_rolled_back
from om_runbook.migrations.backup_format import BackupManifest
from om_runbook.migrations.errors import BackupError, ConfigurationError, RunbookError
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.server_facts import parse_release, require_writable_primary
from om_runbook.migrations.server_identity import identity_refusal
from om_runbook.migrations.snapshot_restore import (
    SnapshotRestoreReport,
    dump_version_refusal,
    index_restore_lines,
    key_selection,
    rdb_version_refusal,
)
from om_runbook.migrations.targets import Storage, key_prefixes
from om_runbook.tasks.backup_store.backup_format import (
    load_manifest,
    write_atomically,
)
from om_runbook.tasks.backup_store.rdb_tools import read_rdb_version
from om_runbook.tasks.backup_store.snapshot_restore import (
    SnapshotFile,
    index_stands_as_before,
    loaded_snapshot,
    require_intact,
    snapshot_files,
)
from om_runbook.tasks.guards.lease import RunLease
from om_runbook.tasks.guards.permissions import require_restore_permissions
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.readers.server_facts import read_nodes_facts, read_redis_version, read_server_identity
from om_runbook.tasks.rollback import restore_pass_task
from om_runbook.tasks.schema import load_previous_indexes, restore_previous_index


def _require_backups_server(nodes: RedisNodes, manifest: BackupManifest, backup_dir: Path) -> None:
    refusal = identity_refusal(manifest.server, read_server_identity(nodes), str(backup_dir))
    if refusal:
        raise ConfigurationError(
            refusal.replace("pass --other-server", "name it with --target-url URL (the restore then says so)")
        )


def _require_readable(files: list[SnapshotFile], nodes: RedisNodes) -> None:
    release = parse_release(read_redis_version(nodes.clients[0]))
    for snapshot in files:
        refusal = rdb_version_refusal(read_rdb_version(snapshot.path) or 0, release, str(snapshot.path))
        if refusal:
            raise ConfigurationError(refusal)


def _preflight(
    backup_dir: Path, url: str, report: SnapshotRestoreReport, all_keys: bool, delete_extra: bool
) -> tuple[BackupManifest, list[SnapshotFile], RedisNodes]:
    """Every refusal, before a key is read: the backup, its snapshot's sha256, the target, its RDB version, the
    Redis user's permissions."""
    manifest = load_manifest(backup_dir)
    if manifest is None:
        raise BackupError(f"no backup manifest in {backup_dir}: is this the --backup-dir of a run?")
    files = snapshot_files(backup_dir, manifest)
    require_intact(files)
    report.snapshot_files = [str(snapshot.path) for snapshot in files]
    nodes = open_nodes(url)
    if not report.other_target:
        _require_backups_server(nodes, manifest, backup_dir)
    _require_readable(files, nodes)
    report.selection = key_selection([target.key_prefix for target in manifest.targets], all_keys)
    indexes = [previous.index_name for previous in load_previous_indexes(backup_dir) or []]
    json_prefixes = key_prefixes(manifest.targets, Storage.JSON)
    report.messages.append(require_restore_permissions(nodes, report.selection, json_prefixes, indexes, delete_extra))
    return manifest, files, nodes


@flow(name="om-restore-snapshot")
@with_heartbeat
def restore_snapshot_flow(
    redis_url: SecretStr,
    backup_dir: Path,
    confirm: bool = False,
    all_keys: bool = False,
    delete_extra: bool = False,
    other_target: bool = False,
    batch_size: int = 1000,
    rdb_tools_dir: Path | None = None,
    module_dir: Path | None = None,
    report_json: Path | None = None,
) -> SnapshotRestoreReport:
    """Compare the target with the run's RDB snapshot (the migrated models' keys, or every key with `all_keys`);
    with `confirm`, write back what differs or is missing, put the recorded indexes back, and check every key again.
    Keys the snapshot lacks are listed, and deleted only with `delete_extra`. A target other than the backup's
    server is refused unless `other_target` (the command's --target-url)."""
    url = redis_url.get_secret_value()
    report = SnapshotRestoreReport(redis=redact_url(url), backup_dir=str(backup_dir), other_target=other_target)
    started = time.perf_counter()
    try:
        manifest, files, nodes = _preflight(backup_dir, url, report, all_keys, delete_extra)
        if confirm:
            require_writable_primary(read_nodes_facts(nodes), report.redis)
        client = nodes.clients[0]
        with loaded_snapshot(files, client, rdb_tools_dir, module_dir) as loaded:
            release = parse_release(read_redis_version(client))
            refusal = dump_version_refusal(loaded.loader_release, release, loaded.loader)
            if refusal:
                raise ConfigurationError(refusal)
            report.load_seconds = loaded.load_seconds
            previous = [p for p in load_previous_indexes(backup_dir) or [] if not index_stands_as_before(client, p)]
            if not confirm:
                first = restore_pass_task(loaded, redis_url, report.selection, batch_size, write=False)
                report.before, report.compare_seconds = first.diff, first.seconds
                report.indexes = index_restore_lines([(p.index_name, p.existed) for p in previous])
                report.status = "dry_run"
                return report
            with RunLease(url, "restore-snapshot"):
                first = restore_pass_task(loaded, redis_url, report.selection, batch_size, True, delete_extra)
                report.before, report.compare_seconds = first.diff, first.seconds
                report.written, report.deleted = first.written, first.deleted
                report.indexes = [restore_previous_index(client, p) for p in previous]
                check = restore_pass_task(loaded, redis_url, report.selection, batch_size, write=False)
                report.after, report.verify_seconds = check.diff, check.seconds
        report.status = report.verdict(delete_extra)
        if report.status == "restored" and not other_target and manifest.status != "rolled_back":
            report.messages += record_rolled_back(url, backup_dir, manifest)  # the keys hold what they held before
        return report
    except RunbookError as exc:
        report.status = "failed"
        report.messages.append(str(exc))
        raise
    finally:
        report.duration_seconds = time.perf_counter() - started
        get_run_logger().info("restore-snapshot %s in %.2f s", report.status, report.duration_seconds)
        if report_json is not None:
            write_atomically(report_json, report.model_dump_json(indent=2))
