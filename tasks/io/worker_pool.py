"""Worker processes for CPU-bound chunk work. Chunk tasks run in threads of the flow's process, and Python runs one
thread at a time: the one scan (reading, classifying, writing backup lines) and a chunk's read-back check (decoding,
digests) are CPU-bound, so above a size they run in processes, one per core. Jobs live in modules that do not import
Prefect (a worker imports them on start).

On Linux a worker is killed with the thread that started it (PR_SET_PDEATHSIG): after a kill -9 of the run no worker
goes on writing backup files that a resumed run writes again."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from om_runbook.tasks.io.progress_meter import METER

Result = TypeVar("Result")
Item = TypeVar("Item")
_RELAY_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1

_shared_done: Any = None  # in a worker: the count of units done, which the parent adds to its meter


class WorkerPool:
    """Worker processes for CPU-bound jobs, passed to what runs them; without processes every job runs in the
    calling thread."""

    def __init__(self, executor: ProcessPoolExecutor | None = None) -> None:
        self._executor = executor

    def run(self, job: Callable[..., Result], *args: Any) -> Result:
        """`job(*args)` in a worker process, or in this thread without processes."""
        if self._executor is None:
            return job(*args)
        return self._executor.submit(job, *args).result()

    def map(self, job: Callable[[Item], Result], items: list[Item]) -> list[Result]:
        """`job` on every item, at the same time in the worker processes, or in turn without processes."""
        if self._executor is None:
            return [job(item) for item in items]
        return list(self._executor.map(job, items))


IN_THIS_THREAD = WorkerPool()


@contextmanager
def worker_processes(count: int) -> Iterator[WorkerPool]:
    """A pool of `count` processes (started here) for the block; with count < 2, jobs run in the calling thread."""
    if count < 2:
        yield IN_THIS_THREAD
        return
    context = multiprocessing.get_context("spawn")  # never fork: the flow's process runs threads
    done = context.Value("q", 0)
    executor = ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker, initargs=(done, os.getpid()))
    stop = threading.Event()
    relay = threading.Thread(target=_relay_progress, args=(done, stop), name="om-runbook-progress-relay", daemon=True)
    try:
        # every worker started now, from this thread (which outlives them), not inside the first job
        list(executor.map(_ready, range(count)))
        relay.start()
        yield WorkerPool(executor)
    finally:
        stop.set()
        if relay.is_alive():
            relay.join()
        executor.shutdown(wait=True, cancel_futures=True)


def count_done(units: int) -> None:
    """Progress from a job: in a worker it reaches the parent's meter (within half a second), else the meter here."""
    if _shared_done is None:
        METER.advance(units)
        return
    with _shared_done.get_lock():
        _shared_done.value += units


def _start_worker(done: Any, parent: int) -> None:
    global _shared_done
    _shared_done = done
    _end_with_parent(parent)


def _end_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a worker ends when it next talks to its gone parent
        return
    if os.getppid() != parent:  # the parent ended before the request above
        os._exit(1)


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
