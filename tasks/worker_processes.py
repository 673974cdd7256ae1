"""Worker processes for CPU-bound chunk work. Chunk tasks run in threads of the flow's process, and Python runs one
thread at a time: a chunk's read-back check (backup line decoding, digests) is CPU-bound, so above a size it runs in
processes, one per core. Jobs must live in modules that do not import Prefect (a worker imports them on start).

A worker only reads; killed with its parent, it ends when it next talks to the parent (the pipe is gone)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from tasks.progress_meter import METER

Result = TypeVar("Result")
_RELAY_SECONDS = 0.5

_pool: ProcessPoolExecutor | None = None
_shared_done: Any = None  # in a worker: the count of units done, which the parent adds to its meter


@contextmanager
def worker_processes(count: int) -> Iterator[None]:
    """Within the block, `run_in_worker` runs jobs in `count` processes (started here; none when count < 2)."""
    global _pool
    if count < 2 or _pool is not None:
        yield
        return
    context = multiprocessing.get_context("spawn")  # never fork: the flow's process runs threads
    done = context.Value("q", 0)
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker, initargs=(done,))
    stop = threading.Event()
    relay = threading.Thread(target=_relay_progress, args=(done, stop), name="om-runbook-progress-relay", daemon=True)
    try:
        list(pool.map(_ready, range(count)))  # every worker started and importing now, not inside the first job
        relay.start()
        _pool = pool
        yield
    finally:
        _pool = None
        stop.set()
        if relay.is_alive():
            relay.join()
        pool.shutdown(wait=True, cancel_futures=True)


def run_in_worker(job: Callable[..., Result], *args: Any) -> Result:
    """`job(*args)` in a worker process when `worker_processes` is open, else in this thread."""
    pool = _pool
    if pool is None:
        return job(*args)
    return pool.submit(job, *args).result()


def count_done(units: int) -> None:
    """Progress from a job: in a worker it reaches the parent's meter (within half a second), else the meter here."""
    if _shared_done is None:
        METER.advance(units)
        return
    with _shared_done.get_lock():
        _shared_done.value += units


def _start_worker(done: Any) -> None:
    global _shared_done
    _shared_done = done


def _ready(_index: int) -> None:
    return None


def _relay_progress(done: Any, stop: threading.Event) -> None:
    relayed = 0
    while True:
        stopping = stop.wait(_RELAY_SECONDS)
        current = done.value
        if current > relayed:
            METER.advance(current - relayed)
            relayed = current
        if stopping:
            return
