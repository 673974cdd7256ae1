"""Key-range chunks as Prefect subflows, run in parallel threads (one subflow per hash-slot range)."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from migrations.backup_format import ChunkBackup
from migrations.config import RunSettings
from tasks.chunk_runner import ChunkResult
from tasks.migrate import migrate_chunk_task
from tasks.pacing import PaceReader

MAX_PARALLEL = 64  # threads are made on demand; `om-runbook tune --parallel` may raise the count up to this


@flow(name="migrate-key-range", flow_run_name="key-range-{chunk.index}-slots-{chunk.first_slot}-{chunk.last_slot}")
def migrate_key_range(settings: RunSettings, chunk: ChunkBackup, error_budget: int | None) -> ChunkResult:
    """One chunk of hash slots: its keys converted by compare-and-set, resumable from its checkpoint."""
    return migrate_chunk_task(settings, chunk, error_budget)


@task(name="key-range", cache_policy=NONE)
def _key_range_in_thread(settings: RunSettings, chunk: ChunkBackup, error_budget: int | None) -> ChunkResult:
    return migrate_key_range(settings, chunk, error_budget)


def migrate_key_ranges(settings: RunSettings, chunks: list[ChunkBackup], error_budget: int | None) -> list[ChunkResult]:
    """Run every non-empty chunk's subflow, `settings.parallel` at a time (or as `om-runbook tune` changed it
    meanwhile). Once one fails no further chunk starts (Redis down: no more retry rounds to sit through); the
    running ones finish, then the failure raises."""
    waiting = [chunk for chunk in chunks if chunk.key_count]
    finished: list[PrefectFuture[ChunkResult]] = []
    running: set[PrefectFuture[ChunkResult]] = set()
    pace = PaceReader(settings.backup_dir)
    with ThreadPoolTaskRunner(max_workers=MAX_PARALLEL) as runner:
        while waiting or running:
            failed = any(future.state.is_failed() for future in finished)
            while waiting and len(running) < (pace().parallel or settings.parallel) and not failed:
                parameters = {"settings": settings, "chunk": waiting.pop(0), "error_budget": error_budget}
                running.add(runner.submit(_key_range_in_thread, parameters=parameters))
            if not running:
                break
            try:
                done = next(as_completed(running, timeout=1.0))  # wake up each second: parallel may have been raised
            except TimeoutError:
                continue
            running.discard(done)
            finished.append(done)
    return sorted((future.result() for future in finished), key=lambda result: result.index)
