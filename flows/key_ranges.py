"""Key-range chunks fanned out in parallel threads, paced and tunable: the migration's as Prefect subflows (one per
hash-slot range, or flow runs on a work pool), the rollback's as tasks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import Task, flow, task
from prefect.cache_policies import NONE
from prefect.deployments import run_deployment
from prefect.futures import PrefectFuture, as_completed
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import SecretStr

from om_runbook.flows.api_retry import API_RETRY_OPTIONS
from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.errors import MigrationAborted
from om_runbook.tasks.backup_store.backup_format import chunk_result_path
from om_runbook.tasks.guards.throttle import PaceReader
from om_runbook.tasks.io.chunk_starts import expect_start, wait_for_start, write_slots
from om_runbook.tasks.migrate import migrate_chunk_task
from om_runbook.tasks.rollback import rollback_chunk_task
from om_runbook.tasks.writer.chunk_runner import ChunkResult, Direction

START_WAIT_SECONDS = 5.0  # a chunk not begun by then (a slow API) no longer holds back the next one
# A chunk is started ahead of a free write slot only once every running chunk was started this long ago: a short
# chunk ends before the one ahead could begin, and on SQLite a run created beside other runs' ends draws a 503 (2 s)
AHEAD_AFTER_SECONDS = 2.0
MAX_PARALLEL = 64  # threads are made on demand; `om-runbook tune --parallel` may raise the count up to this


@flow(name="migrate-key-range", flow_run_name="key-range-{chunk.index}-slots-{chunk.first_slot}-{chunk.last_slot}")
def migrate_key_range(
    settings: RunSettings,
    chunk: ChunkBackup,
    error_budget: int | None,
    lease_token: str | None = None,
    evicted_keys_at_start: int | None = None,
) -> ChunkResult:
    """One chunk of hash slots: its keys converted by compare-and-set, resumable from its checkpoint."""
    return migrate_chunk_task(settings, chunk, error_budget, lease_token, evicted_keys_at_start)


@task(name="key-range", cache_policy=NONE, **API_RETRY_OPTIONS)
def _key_range_in_thread(
    settings: RunSettings,
    chunk: ChunkBackup,
    error_budget: int | None,
    lease_token: str | None,
    evicted_keys_at_start: int | None,
) -> ChunkResult:
    # No heartbeat thread for a subflow in the parent's process: it lives and dies with the parent, whose own
    # heartbeat stays on, and each sync subflow's end waited up to 1 s for that thread to stop.
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return migrate_key_range(settings, chunk, error_budget, lease_token, evicted_keys_at_start)


@task(name="key-range-on-worker", cache_policy=NONE)
def _key_range_on_worker(
    settings: RunSettings,
    chunk: ChunkBackup,
    error_budget: int | None,
    lease_token: str | None,
    evicted_keys_at_start: int | None,
) -> ChunkResult:
    """The chunk as a flow run of `settings.chunk_deployment` on a work pool; its result comes back through the
    shared backup directory. Only the Secret block's name travels as a parameter, never the URL."""
    run = run_deployment(
        settings.chunk_deployment,
        parameters={
            "redis_url_secret": settings.redis_url_secret,
            "backup_dir": str(settings.backup_dir),
            "chunk_index": chunk.index,
            "batch_size": settings.batch_size,
            "failure_mode": settings.failure_mode,
            "error_budget": error_budget,
            "lease_token": lease_token,
            "evicted_keys_at_start": evicted_keys_at_start,
            "lease_seconds": settings.lease_seconds,
        },
        timeout=None,
    )
    path = chunk_result_path(settings.backup_dir, chunk)
    if run.state is None or not run.state.is_completed() or not path.exists():
        state = run.state.name if run.state else "unknown"
        raise MigrationAborted(
            f"chunk {chunk.index:04d} ran as flow run {run.id} of {settings.chunk_deployment} and ended {state}: "
            f"{run.state.message if run.state else ''}; re-run to resume from its checkpoint"
        )
    return ChunkResult.model_validate_json(path.read_text(encoding="utf-8"))


def migrate_key_ranges(
    settings: RunSettings,
    chunks: list[ChunkBackup],
    error_budget: int | None,
    lease_token: str | None = None,
    evicted_keys_at_start: int | None = None,
) -> list[ChunkResult]:
    """Every non-empty chunk's subflow (on a work pool with `settings.chunk_deployment`), paced by `fan_out`. With
    `evicted_keys_at_start` (the run's INFO evicted_keys before its scan) a chunk stops at its first batch when keys
    were evicted since then, not only since it started."""
    chunk_task = _key_range_on_worker if settings.chunk_deployment else _key_range_in_thread

    def parameters(chunk: ChunkBackup) -> dict[str, Any]:
        return {
            "settings": settings,
            "chunk": chunk,
            "error_budget": error_budget,
            "lease_token": lease_token,
            "evicted_keys_at_start": evicted_keys_at_start,
        }

    # paced: each subflow's run is created by a request to the API. Chunks on a work pool are flow runs that the
    # server creates from `run_deployment`, and they announce nothing in this process
    here = None if settings.chunk_deployment else "migrate"
    return fan_out(chunks, chunk_task, parameters, settings.backup_dir, settings.parallel, here, paced_starts=True)


def rollback_key_ranges(
    redis_url: SecretStr,
    backup_dir: Path,
    chunks: list[ChunkBackup],
    batch_size: int,
    parallel: int,
    lease_token: str | None,
) -> list[ChunkResult]:
    """Every non-empty chunk's rollback task, through the same paced fan-out as the migration's chunks."""

    def parameters(chunk: ChunkBackup) -> dict[str, Any]:
        return {
            "redis_url": redis_url,
            "backup_dir": backup_dir,
            "chunk": chunk,
            "batch_size": batch_size,
            "lease_token": lease_token,
        }

    # not paced: a task's run is created in this process (Prefect sends it as events), not by a request to the API
    return fan_out(chunks, rollback_chunk_task, parameters, backup_dir, parallel, "rollback")


def fan_out(
    chunks: list[ChunkBackup],
    chunk_task: Task[..., ChunkResult],
    parameters: Callable[[ChunkBackup], dict[str, Any]],
    backup_dir: Path,
    parallel: int,
    here: Direction | None = None,
    paced_starts: bool = False,
) -> list[ChunkResult]:
    """Run `chunk_task` on every non-empty chunk, `parallel` at a time (or as `om-runbook tune` changed it meanwhile,
    through the run's pace file). Once one fails no further chunk starts (Redis down: no more retry rounds to sit
    through); the running ones finish, then the failure raises.

    With `here` (the chunks' direction, when they run in this process) one chunk more is started once the running
    ones were started AHEAD_AFTER_SECONDS ago, and waits for a write slot (`chunk_starts.WriteSlots`): its run is
    created and begun while the others write, not after one ends. With `paced_starts` too, the next chunk is
    submitted once the previous one has begun its work, never together."""
    waiting = [chunk for chunk in chunks if chunk.key_count]
    finished: list[PrefectFuture[ChunkResult]] = []
    running: dict[PrefectFuture[ChunkResult], tuple[ChunkBackup, float]] = {}  # with when it was submitted
    pace = PaceReader(backup_dir)

    def limit() -> int:
        return pace().parallel or parallel

    def room() -> bool:
        count, most = len(running), limit()
        if count < most:
            return True
        newest = max(since for _chunk, since in running.values())
        return bool(here) and count == most and time.monotonic() - newest >= AHEAD_AFTER_SECONDS

    def start(runner: ThreadPoolTaskRunner, chunk: ChunkBackup) -> PrefectFuture[ChunkResult]:
        if here and paced_starts:
            expect_start(backup_dir, here, chunk.index)
        future = runner.submit(chunk_task, parameters=parameters(chunk))
        if here and paced_starts:
            wait_for_start(backup_dir, here, chunk.index, future.wrapped_future.done, START_WAIT_SECONDS)
        return future

    failed = False
    with ThreadPoolTaskRunner(max_workers=MAX_PARALLEL) as runner, write_slots(backup_dir, here, limit) as slots:
        while waiting or running:
            while waiting and room() and not failed:
                chunk, submitted = waiting.pop(0), time.monotonic()
                running[start(runner, chunk)] = (chunk, submitted)
            if not running:
                break
            try:
                # wake up twice a second: parallel may have been raised, a chunk may be due to start ahead
                done = next(as_completed(running, timeout=0.5))
            except TimeoutError:
                continue
            chunk, _since = running.pop(done)
            done.wait()  # its final state from the thread: the API may not have recorded it yet
            if done.state.is_failed() and not failed:
                failed = True
                slots.close(f"chunk {chunk.index:04d} failed first")
            slots.give_back(chunk.index)
            finished.append(done)
    return sorted((future.result() for future in finished), key=lambda result: result.index)
