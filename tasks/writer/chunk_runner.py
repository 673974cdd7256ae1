"""Walk one chunk's backup file in batches, compare-and-set each batch, checkpoint after each one.

Used by migrate (original -> target) and rollback (target -> original). The checkpoint is one small
file per chunk rewritten per batch (O(1)); after a crash the chunk resumes at the last checkpoint and
replays at most one batch, which the compare-and-set makes harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import ChunkBackup, Problem
from om_runbook.migrations.codec import describe_raw
from om_runbook.migrations.config import FailureMode
from om_runbook.migrations.errors import BackupError, MigrationAborted
from om_runbook.migrations.report import PROBLEM_LIST_LIMIT
from om_runbook.migrations.throttle import Pace
from om_runbook.migrations.timeline import ChunkSpan
from om_runbook.tasks.backup_store.backup_format import (
    Checkpoint,
    clear_checkpoint,
    load_checkpoint,
    read_chunk_items,
    require_backup_present,
    save_checkpoint,
)
from om_runbook.tasks.guards.lease import LEASE_SECONDS
from om_runbook.tasks.io.chunk_starts import announce_start, give_back_write_slot, take_write_slot
from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.writer.cas import BatchResult, apply_batch_on, load_cas_script
from om_runbook.tasks.writer.stall_retry import write_through_stalls

Direction = Literal["migrate", "rollback"]


class ChunkResult(BaseModel):
    index: int
    direction: str
    key_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)  # written, already, missing, conflict, errors
    problems: list[Problem] = Field(default_factory=list)
    seconds: float = 0.0
    resumed_from_line: int = 0
    batches: int = 0
    ran_by: str = ""  # host:pid of the process that ran it (fan-out: the worker's flow run)
    progress_in_memory: bool = False  # a rollback whose checkpoints the disk refused (full)
    runs: list[ChunkSpan] = Field(default_factory=list)  # when each process worked on it, the killed ones too


@dataclass(frozen=True)
class ErrorPolicy:
    failure_mode: FailureMode
    error_budget: int | None  # errors this chunk may still meet before the run stops; None = no limit


def _problems(batch: BatchResult, direction: Direction) -> list[Problem]:
    verb = "converted" if direction == "migrate" else "restored"
    found = [
        Problem(
            kind="conflict" if outcome == "conflict" else "missing",
            key=describe_raw(key),
            field=field.decode("latin-1"),
            message=(
                f"value changed by someone else since the backup; not {verb}"
                if outcome == "conflict"
                else f"field or key deleted since the backup; not {verb}"
            ),
        )
        for key, field, outcome in batch.conflicts
    ]
    found += [
        Problem(kind="write_error", key=describe_raw(key), message=f"Redis refused the write: {message}")
        for key, message in batch.errors
    ]
    return found


def record_progress(backup_dir: Path, direction: Direction, chunk: ChunkBackup, checkpoint: Checkpoint) -> str | None:
    """The chunk's checkpoint, after each batch; None once written, else why not. A migrate stops when the disk
    refuses it (the run then rolls back); a rollback never does: its progress stays in memory, and a re-run replays
    the chunk (compare-and-set: harmless)."""
    try:
        save_checkpoint(backup_dir, direction, chunk, checkpoint)
    except OSError as exc:
        require_backup_present(backup_dir)
        if direction == "migrate":
            raise BackupError(
                f"cannot record the migration's progress in {backup_dir} ({exc.strerror or exc}): chunk "
                f"{chunk.index:04d} stopped before its next write. The backup of every value was complete before the "
                "first write, so the rollback is exact; free space there, then re-run the same command to resume"
            ) from None
        return exc.strerror or str(exc)
    return None


def run_chunk(
    nodes: RedisNodes,
    backup_dir: Path,
    chunk: ChunkBackup,
    direction: Direction,
    batch_size: int,
    policy: ErrorPolicy,
    logger: logging.Logger | logging.LoggerAdapter,
    pace: Callable[[], Pace] = Pace,
    before_batch: Callable[[], None] | None = None,
    stall_limit_seconds: float = LEASE_SECONDS,
) -> ChunkResult:
    """Apply the chunk's compare-and-set writes from its checkpoint to the end, following `pace` (the throttle's
    pause and a batch size changed during the run) between batches; `before_batch` (the lease and eviction
    guards) runs before every batch, and a batch Redis does not take is retried for `stall_limit_seconds`."""
    announce_start(backup_dir, direction, chunk.index)
    require_backup_present(backup_dir)
    if direction == "migrate":
        clear_checkpoint(backup_dir, "rollback", chunk)  # an older rollback's progress no longer says what is back
    checkpoint = load_checkpoint(backup_dir, direction, chunk)
    result = ChunkResult(index=chunk.index, direction=direction, resumed_from_line=checkpoint.lines_done)
    counts: Counter[str] = Counter(checkpoint.counts)
    if checkpoint.finished:
        result.counts, result.key_count, result.runs = dict(counts), chunk.key_count, checkpoint.runs
        return result
    # kept after a failure (the task may retry): the fan-out gives it back once it has the chunk's outcome
    take_write_slot(backup_dir, direction, chunk.index)
    started = time.perf_counter()
    script = load_cas_script(nodes)
    batch: list[list[str]] = []
    lines_done = checkpoint.lines_done
    this_run = ChunkSpan(started_at=time.time(), ended_at=time.time(), ran_by=f"{socket.gethostname()}:{os.getpid()}")

    def runs_until_now() -> list[ChunkSpan]:
        this_run.ended_at = time.time()
        return [*checkpoint.runs, this_run.model_copy()]

    def flush() -> None:
        nonlocal lines_done
        require_backup_present(backup_dir)  # one stat per batch: never write without the originals on disk
        outcome = write_through_stalls(
            lambda: apply_batch_on(nodes, script, batch, forward=direction == "migrate"),
            before_batch,
            stall_limit_seconds,
            chunk.index,
            logger,
        )
        counts.update(outcome.outcomes)
        counts["errors"] += len(outcome.errors)
        for problem in _problems(outcome, direction):
            if problem.kind == "write_error" and policy.failure_mode == "log_and_skip":
                logger.warning("%s %s: %s", direction, problem.key, problem.message)
            if len(result.problems) < PROBLEM_LIST_LIMIT:
                result.problems.append(problem)
        lines_done += len(batch)
        result.batches += 1
        batch.clear()
        unwritten = record_progress(
            backup_dir, direction, chunk, Checkpoint(lines_done=lines_done, counts=dict(counts), runs=runs_until_now())
        )
        if unwritten and not result.progress_in_memory:
            result.progress_in_memory = True
            logger.warning(
                "rollback chunk %04d: cannot write its progress in %s (%s); the rollback goes on with its progress in "
                "memory", chunk.index, backup_dir, unwritten,
            )  # fmt: skip
        if outcome.errors and policy.failure_mode == "fail":
            raise MigrationAborted(
                f"{chunk.index:04d}: {len(outcome.errors)} write error(s) with --failure-mode fail, first: "
                f"{outcome.errors[0][1]}; re-run to resume or roll back"
            )
        if policy.error_budget is not None and counts["errors"] > policy.error_budget:
            raise MigrationAborted(
                f"chunk {chunk.index:04d}: {counts['errors']} write errors exceed --max-errors; "
                "re-run to resume or roll back"
            )

    current = pace()
    try:
        for items in read_chunk_items(backup_dir, chunk, checkpoint.lines_done):
            batch.append(items)
            if len(batch) >= (current.batch_size or batch_size):
                flush()
                current = pace()
                if current.delay_seconds:
                    time.sleep(current.delay_seconds)
    except FileNotFoundError:
        require_backup_present(backup_dir)  # the chunk file removed with its directory: said as such
        raise
    if batch:
        flush()
    # never "finished" with skipped keys: the next run replays the whole chunk (compare-and-set: harmless)
    runs = runs_until_now()
    done = (
        Checkpoint(runs=runs)
        if counts["errors"]
        else Checkpoint(lines_done=lines_done, counts=dict(counts), finished=True, runs=runs)
    )
    record_progress(backup_dir, direction, chunk, done)
    give_back_write_slot(backup_dir, direction, chunk.index)
    result.key_count, result.counts, result.runs = lines_done, dict(counts), runs
    result.seconds = time.perf_counter() - started
    return result


def chunk_problem_counts(result: ChunkResult) -> dict[str, int]:
    """Problem counts from a chunk's exact counters (its problem list is capped)."""
    return {
        kind: result.counts.get(counter, 0)
        for kind, counter in (("conflict", "conflict"), ("missing", "missing"), ("write_error", "errors"))
        if result.counts.get(counter, 0)
    }
