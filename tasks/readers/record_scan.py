"""The one scan's work, on the whole keyspace or on a worker's share of it (the keys of some chunks): read and plan
every record, tally it, and write each changing record's backup line to its chunk's file, as `.partial` (the backup
publishes the files once it is complete). Free of Prefect: worker processes import it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from om_runbook.migrations.backup_format import KeyBackup
from om_runbook.migrations.key_plan import converted_by_earlier_run
from om_runbook.migrations.slots import key_slot
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget
from om_runbook.tasks.backup_store.backup_format import ChunkFile, ChunkWriter, backup_write_error
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.worker_pool import count_done
from om_runbook.tasks.readers.inventory import PlannedKey, planned_keys

_LINE_OVERHEAD = 48  # JSON punctuation, digest and newline per backed-up key


def scan_records(
    nodes: RedisNodes,
    targets: list[ModelTarget],
    zone: tzinfo,
    batch_size: int,
    tally: Tally,
    on_planned: Callable[[PlannedKey], None] | None = None,
    keep: Callable[[bytes], bool] | None = None,
    advance: Callable[[int], None] = METER.advance,
) -> None:
    """Every record of every target (only the keys `keep` accepts, when given), planned and counted in `tally` (with the
    estimated size of its backup line), then passed to `on_planned`. Writes nothing to Redis."""
    for target in targets:
        for planned in planned_keys(nodes, target, zone, batch_size, tally, keep, advance):
            if on_planned is not None:
                on_planned(planned)
            changes = planned.plan.changes
            if changes:
                tally.keys_with_changes += 1
                tally.fields_to_change += len(changes)
                tally.bytes_to_back_up += len(planned.key) + _LINE_OVERHEAD
                for name, original, target_bytes in changes:
                    tally.bytes_to_back_up += len(name) + len(original) + len(target_bytes or b"") + 9


@dataclass(frozen=True)
class ScanShare:
    """One part of the one scan: the keys of the chunks in `files` (chunk index -> the chunk file's final path)."""

    redis_url: str
    targets: tuple[ModelTarget, ...]
    zone: tzinfo
    batch_size: int
    backup_dir: Path
    slot_table: tuple[int, ...]  # hash slot -> chunk index
    files: dict[int, Path]
    whole_keyspace: bool  # the share holds every chunk: no key is left out
    earlier_backup: str | None = None


@dataclass
class ShareScanned:
    tally: Tally
    files: dict[int, ChunkFile] = field(default_factory=dict)


def back_up_share(share: ScanShare) -> ShareScanned:
    """Scan the share's keys and write their backup lines, fsynced, as `.partial` files (a worker process's job); on any
    failure its files are removed."""
    table, tally = share.slot_table, Tally()
    writers: dict[int, ChunkWriter] = {}

    def back_up(planned: PlannedKey) -> None:
        if planned.plan.changes:
            entry = KeyBackup(planned.key, planned.backup_digest, planned.plan.changes)
            writers[table[key_slot(planned.key)]].write(entry)
        if share.earlier_backup:  # an acknowledged unfinished run: values found converted are only in its backup
            for problem in converted_by_earlier_run(planned.key, planned.plan, share.earlier_backup):
                tally.add_problem(problem)

    def mine(key: bytes) -> bool:
        return table[key_slot(key)] in writers

    try:
        writers = {index: ChunkWriter(path) for index, path in share.files.items()}
        nodes = open_nodes(share.redis_url)
        keep = None if share.whole_keyspace else mine
        scan_records(nodes, list(share.targets), share.zone, share.batch_size, tally, back_up, keep, count_done)
        files = {index: writer.finish() for index, writer in writers.items()}
    except BaseException as exc:
        for writer in writers.values():
            writer.discard()
        if isinstance(exc, OSError):
            raise backup_write_error(share.backup_dir, exc) from None
        raise
    return ShareScanned(tally, files)
