"""Checklist phase "Backup and recovery", part (b): the logical backup of every field that will change.

Each changed field's key, name and original bytes (plus the target bytes and a digest of the key's
other fields) go to per-chunk files, fsynced, with checksums in the manifest, before anything is
written to Redis. It is the source of exact rollback.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from om_runbook.migrations.backup_format import (
    BackupManifest,
    ChunkBackup,
    KeyBackup,
    SnapshotInfo,
)
from om_runbook.migrations.cluster_map import owner_changes
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.errors import BackupError, ConfigurationError
from om_runbook.migrations.slots import plan_slot_ranges, slot_to_chunk_table
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget
from om_runbook.tasks.assess import target_info
from om_runbook.tasks.backup_store.backup_format import (
    ChunkFile,
    ChunkWriter,
    backup_write_error,
    clear_checkpoints,
    load_manifest,
    make_directory,
    partial_path,
    publish_chunk_file,
    save_manifest,
    writes_may_have_begun,
)
from om_runbook.tasks.backup_store.rdb_tools import resolve_restore_tools
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.inventory import planned_keys
from om_runbook.tasks.readers.keyspace import keys_in_database
from om_runbook.tasks.readers.record_scan import ScanShare
from om_runbook.tasks.readers.server_facts import read_server_identity, require_same_server


def reusable_backup(settings: RunSettings) -> BackupManifest | None:
    """A complete backup of this same migration in the directory (a resumed run), else None.

    A backup that never completed is redone: nothing is written to Redis before a backup completes.
    """
    manifest = load_manifest(settings.backup_dir)
    if manifest is None or manifest.status == "in_progress":
        evidence = writes_may_have_begun(settings.backup_dir)
        if evidence:
            raise BackupError(
                f"{settings.backup_dir} has no complete backup manifest, yet it holds {evidence[0]}"
                f"{f' (and {len(evidence) - 1} more)' if len(evidence) > 1 else ''}: a run may have written from it, "
                "and redoing the backup would overwrite the only copy of the originals. Keep this directory; "
                "restore its manifest from the archive or a copy, or use a new --backup-dir once you know no "
                "value was changed from it"
            )
        return None
    if manifest.status == "rolled_back":
        raise ConfigurationError(
            f"{settings.backup_dir} holds a migration that was rolled back; use a new --backup-dir"
        )
    slot_chunks = manifest.chunks_requested or sum(1 for chunk in manifest.chunks if chunk.kind == "slots")
    expected = (settings.models, settings.naive_timezone, settings.chunks or slot_chunks)
    found = (manifest.models, manifest.naive_timezone, slot_chunks)
    if expected != found:
        raise ConfigurationError(
            f"{settings.backup_dir} holds a migration with other settings (models, naive timezone, chunks "
            f"= {found}, this run: {expected}); resume with the same settings or use a new --backup-dir"
        )
    nodes = open_nodes(settings.redis_url.get_secret_value())
    require_same_server(nodes, manifest.server, str(settings.backup_dir), settings.other_server)
    return manifest


class LogicalBackup:
    """The logical backup while the one scan writes it: a manifest "in_progress", and one `.partial` file per chunk
    written by the scan's shares; `complete` renames the files and marks the manifest complete; `abandon` removes
    them."""

    def __init__(
        self,
        nodes: RedisNodes,
        targets: list[ModelTarget],
        settings: RunSettings,
        safe_url: str,
        chunk_count: int,
        earlier_backup: str | None = None,
    ) -> None:
        self.started = time.perf_counter()
        ranges = plan_slot_ranges(chunk_count, owner_changes(nodes.owners) if nodes.owners else ())
        self.table = tuple(slot_to_chunk_table(ranges))
        self.settings = settings
        self.backup_dir = settings.backup_dir
        self.targets = targets
        self.earlier_backup = earlier_backup
        self.manifest = BackupManifest(
            created_at=datetime.now(timezone.utc).isoformat(),
            redis=safe_url,
            models=settings.models,
            naive_timezone=settings.naive_timezone,
            server=read_server_identity(nodes),
            targets=[target_info(t) for t in targets],
            chunks=[
                ChunkBackup(
                    index=r.index,
                    first_slot=r.first,
                    last_slot=r.last,
                    file=f"chunks/{r.label}.jsonl",
                    node=nodes.node_of_slot(r.first).name if nodes.is_cluster else "",
                )
                for r in ranges
            ],
            chunks_requested=chunk_count,
        )
        try:
            make_directory(self.backup_dir / "chunks")
            save_manifest(self.backup_dir, self.manifest)
        except OSError as exc:
            raise backup_write_error(self.backup_dir, exc) from None

    def shares(self, count: int) -> list[ScanShare]:
        """The scan split into `count` shares of whole chunks (every `count`-th chunk), one per worker process."""
        settings, chunks = self.settings, self.manifest.chunks
        count = max(1, min(count, len(chunks)))
        return [
            ScanShare(
                redis_url=settings.redis_url.get_secret_value(),
                targets=tuple(self.targets),
                zone=settings.zone,
                batch_size=settings.batch_size,
                backup_dir=self.backup_dir,
                slot_table=self.table,
                files={chunk.index: self.backup_dir / chunk.file for chunk in chunks[first::count]},
                whole_keyspace=count == 1,
                earlier_backup=self.earlier_backup,
            )
            for first in range(count)
        ]

    def complete(
        self, tally: Tally, files: dict[int, ChunkFile], snapshot: SnapshotInfo | None = None
    ) -> BackupManifest:
        """Every chunk file (fsynced by its share) renamed to its final name, then the manifest marked complete with its
        snapshot (the backup exists from here on)."""
        manifest = self.manifest
        manifest.snapshot = snapshot
        try:
            for chunk in manifest.chunks:
                publish_chunk_file(self.backup_dir / chunk.file)
                chunk.key_count, chunk.fields, chunk.sha256 = files[chunk.index]
        except OSError as exc:
            self.abandon()
            raise backup_write_error(self.backup_dir, exc) from None
        manifest.keys_scanned = tally.keys_scanned
        manifest.keys_changed = sum(chunk.key_count for chunk in manifest.chunks)
        manifest.fields_changed = sum(chunk.fields for chunk in manifest.chunks)
        manifest.value_counts = tally.plain_value_counts()
        manifest.problems, manifest.problem_counts = tally.problems, dict(tally.problem_counts)
        manifest.duration_seconds = time.perf_counter() - self.started
        manifest.status = "complete"
        try:
            save_manifest(self.backup_dir, manifest)
        except OSError as exc:
            raise backup_write_error(self.backup_dir, exc) from None
        return manifest

    def abandon(self) -> None:
        """The scan failed: no chunk file is left behind (the manifest stays "in_progress": never reused)."""
        for chunk in self.manifest.chunks:
            for path in (partial_path(self.backup_dir / chunk.file), self.backup_dir / chunk.file):
                with contextlib.suppress(OSError):  # cleanup after a failure must not hide that failure
                    path.unlink(missing_ok=True)


@task(name="find-snapshot-tools", cache_policy=NONE, **IO_TASK_OPTIONS)
def snapshot_tools_task(settings: RunSettings) -> str:
    """Before any write: the local tools and modules that will check and restore-test each master's snapshot
    (ConfigurationError naming what is missing, and the remedy)."""
    nodes = open_nodes(settings.redis_url.get_secret_value())
    found = [
        resolve_restore_tools(node.client, node.name, settings.rdb_tools_dir, settings.module_dir)
        for node in nodes.nodes
    ]
    return "snapshot tools: " + "; ".join(dict.fromkeys(tools.describe() for tools in found))


@task(name="clear-progress-state", cache_policy=NONE)
def clear_progress_task(backup_dir: Path) -> None:
    """Post-migration cleanup: the migrate checkpoints are no longer needed (the backup itself is kept)."""
    clear_checkpoints(backup_dir, "migrate")


def write_catch_up_chunk(
    nodes: RedisNodes, targets: list[ModelTarget], settings: RunSettings, manifest: BackupManifest
) -> ChunkBackup | None:
    """Back up the legacy values written since the first scan (by the application, or left by a conflict)
    as one more chunk, recorded in the manifest before any of them is changed; None when there are none."""
    index = len(manifest.chunks)
    chunk = ChunkBackup(
        index=index, first_slot=0, last_slot=16383, file=f"chunks/catch-up-{index:04d}.jsonl", kind="catch-up"
    )
    tally = Tally()
    METER.begin("catch-up: rescan", keys_in_database(nodes))
    try:
        writer = ChunkWriter(settings.backup_dir / chunk.file)
        for target in targets:
            for planned in planned_keys(nodes, target, settings.zone, settings.batch_size, tally):
                changes = planned.plan.changes
                if changes:
                    writer.write(KeyBackup(planned.key, planned.backup_digest, changes))
        if not writer.key_count:
            writer.discard()
            return None
        chunk.key_count, chunk.fields, chunk.sha256 = writer.close()
        manifest.chunks.append(chunk)
        manifest.keys_changed += chunk.key_count
        manifest.fields_changed += chunk.fields
        save_manifest(settings.backup_dir, manifest)
    except OSError as exc:
        raise backup_write_error(settings.backup_dir, exc) from None
    return chunk


@task(name="catch-up-backup", cache_policy=NONE, **IO_TASK_OPTIONS)
def catch_up_task(settings: RunSettings, targets: list[ModelTarget], manifest: BackupManifest) -> ChunkBackup | None:
    """Rescan after the chunks: legacy values that appeared meanwhile get a backed-up catch-up chunk."""
    chunk = write_catch_up_chunk(open_nodes(settings.redis_url.get_secret_value()), targets, settings, manifest)
    if chunk is not None:
        get_run_logger().info(
            "catch-up: %d fields of %d keys appeared since the first scan", chunk.fields, chunk.key_count
        )
    return chunk
