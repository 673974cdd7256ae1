"""The fan-out starts the next chunk only once the previous one has begun its work: a Prefect server on SQLite answers
two runs created at the same instant with a 503 to one of them, which Prefect's client waits out for 2 s. It starts
one chunk more than `parallel`, which waits for a write slot: at most `parallel` chunks write at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE

import om_runbook.flows.key_ranges as key_ranges
from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.migrations.errors import ChunkNotStarted
from om_runbook.tasks.io import chunk_starts
from om_runbook.tasks.io.chunk_starts import announce_start, give_back_write_slot, take_write_slot
from om_runbook.tasks.writer.chunk_runner import ChunkResult

pytestmark = pytest.mark.usefixtures("prefect_harness")
EVENTS: list[tuple[str, int, float]] = []


@task(cache_policy=NONE)
def _chunk(backup_dir: Path, chunk: ChunkBackup, announce: bool, fail: bool) -> ChunkResult:
    EVENTS.append(("body", chunk.index, time.monotonic()))
    if fail:
        raise RuntimeError(f"chunk {chunk.index} failed before its work")
    time.sleep(0.3)  # what a chunk does before its writes (its run's API calls)
    if announce:
        announce_start(backup_dir, "migrate", chunk.index)
        EVENTS.append(("announced", chunk.index, time.monotonic()))
    take_write_slot(backup_dir, "migrate", chunk.index)  # as run_chunk does
    EVENTS.append(("writes", chunk.index, time.monotonic()))
    time.sleep(0.8)
    EVENTS.append(("wrote", chunk.index, time.monotonic()))
    give_back_write_slot(backup_dir, "migrate", chunk.index)
    time.sleep(0.3)  # its run's end
    EVENTS.append(("end", chunk.index, time.monotonic()))
    return ChunkResult(index=chunk.index, direction="migrate", key_count=1)


@flow
def _fan_out(backup_dir: Path, count: int, announce: bool = True, fail: bool = False) -> list[ChunkResult]:
    chunks = [ChunkBackup(index=i, first_slot=i, last_slot=i, file=f"{i}", key_count=1) for i in range(count)]

    def parameters(chunk: ChunkBackup) -> dict:
        return {"backup_dir": backup_dir, "chunk": chunk, "announce": announce, "fail": fail and chunk.index == 0}

    return key_ranges.fan_out(chunks, _chunk, parameters, backup_dir, 2, "migrate", paced_starts=True)


def _at(kind: str, index: int) -> float:
    return next(at for event, chunk, at in EVENTS if event == kind and chunk == index)


def _most_writing_at_once() -> int:
    writing, most = 0, 0
    for event, _chunk_index, _at_time in sorted(EVENTS, key=lambda event: event[2]):
        writing += {"writes": 1, "wrote": -1}.get(event, 0)
        most = max(most, writing)
    return most


def test_the_next_chunk_starts_once_the_previous_began_its_work_and_they_still_overlap(tmp_path, monkeypatch):
    monkeypatch.setattr(key_ranges, "AHEAD_AFTER_SECONDS", 0.1)  # these chunks write for 0.8 s
    EVENTS.clear()
    results = _fan_out(tmp_path, 4)
    assert [result.index for result in results] == [0, 1, 2, 3]
    assert _at("body", 1) >= _at("announced", 0)  # not created while chunk 0's run was being created
    assert _at("body", 1) < _at("end", 0)  # and still two at a time
    assert _at("body", 2) < _at("wrote", 0)  # the third is started ahead, while the first two write
    assert _at("writes", 2) >= min(_at("wrote", 0), _at("wrote", 1))  # and writes only once a slot is free
    assert _at("writes", 2) < min(_at("end", 0), _at("end", 1))  # not held back by the end of a chunk's run
    assert _at("body", 3) >= min(_at("end", 0), _at("end", 1))  # the fourth waits for a run to end
    assert _most_writing_at_once() == 2


def test_short_chunks_start_no_chunk_ahead_of_a_free_slot(tmp_path):
    EVENTS.clear()
    _fan_out(tmp_path, 3)  # each ends within 1.4 s of its start, before AHEAD_AFTER_SECONDS
    assert _at("body", 2) >= min(_at("end", 0), _at("end", 1))


def test_a_chunk_that_never_says_it_began_holds_the_next_back_only_for_the_wait_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(key_ranges, "START_WAIT_SECONDS", 0.1)
    EVENTS.clear()
    _fan_out(tmp_path, 2, announce=False)
    assert _at("body", 1) < _at("end", 0)


def test_a_chunk_that_fails_before_its_work_does_not_hold_the_fan_out(tmp_path):
    EVENTS.clear()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="chunk 0 failed before its work"):
        _fan_out(tmp_path, 2, fail=True)
    assert time.monotonic() - started < key_ranges.START_WAIT_SECONDS


def test_a_start_nobody_waits_for_is_not_kept(tmp_path):
    announce_start(tmp_path, "rollback", 7)
    assert not chunk_starts._started


ATTEMPTS: dict[int, int] = {}


@task(cache_policy=NONE, retries=1, retry_delay_seconds=1.0)
def _writer(backup_dir: Path, chunk: ChunkBackup, fail_for_good: bool) -> ChunkResult:
    """Chunk 0 raises while it holds its slot: once (its retry then finishes), or on every attempt; chunk 1 writes
    until long after chunk 0's attempts, chunk 2 waits for a slot."""
    ATTEMPTS[chunk.index] = ATTEMPTS.get(chunk.index, 0) + 1
    announce_start(backup_dir, "migrate", chunk.index)
    take_write_slot(backup_dir, "migrate", chunk.index)
    EVENTS.append(("writes", chunk.index, time.monotonic()))
    time.sleep(2.5 if chunk.index == 1 else 0.2)
    EVENTS.append(("wrote", chunk.index, time.monotonic()))
    if chunk.index == 0 and (fail_for_good or ATTEMPTS[0] == 1):
        raise ConnectionError("Redis went away during chunk 0's batch")
    give_back_write_slot(backup_dir, "migrate", chunk.index)
    return ChunkResult(index=chunk.index, direction="migrate", key_count=1)


@flow
def _fan_out_writers(backup_dir: Path, fail_for_good: bool) -> list[ChunkResult]:
    chunks = [ChunkBackup(index=i, first_slot=i, last_slot=i, file=f"{i}", key_count=1) for i in range(3)]

    def parameters(chunk: ChunkBackup) -> dict:
        return {"backup_dir": backup_dir, "chunk": chunk, "fail_for_good": fail_for_good}

    return key_ranges.fan_out(chunks, _writer, parameters, backup_dir, 2, "migrate", paced_starts=True)


def test_a_chunk_retried_after_a_failure_takes_its_own_slot_again_and_no_third_chunk_writes_meanwhile(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(key_ranges, "AHEAD_AFTER_SECONDS", 0.1)
    EVENTS.clear()
    ATTEMPTS.clear()
    results = _fan_out_writers(tmp_path, fail_for_good=False)
    assert [result.index for result in results] == [0, 1, 2] and ATTEMPTS[0] == 2
    assert _most_writing_at_once() == 2
    # chunk 2 waited through chunk 0's retry (chunk 0 kept its slot) and wrote once chunk 0's second attempt ended
    last_of_chunk_0 = max(at for event, chunk, at in EVENTS if event == "wrote" and chunk == 0)
    assert last_of_chunk_0 <= _at("writes", 2) < _at("wrote", 1)


def test_once_a_chunk_failed_for_good_the_chunk_started_ahead_writes_nothing_and_the_first_failure_is_raised(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(key_ranges, "AHEAD_AFTER_SECONDS", 0.1)
    EVENTS.clear()
    ATTEMPTS.clear()
    with pytest.raises(ConnectionError, match="chunk 0's batch"):
        _fan_out_writers(tmp_path, fail_for_good=True)
    # chunk 2 was started ahead and waited for a slot; chunk 0's failure closed them: it never wrote
    assert ATTEMPTS[0] == 2 and ATTEMPTS[2] >= 1
    assert {chunk for event, chunk, _at_time in EVENTS if event == "writes"} == {0, 1}
    assert _at("wrote", 1) > max(at for event, chunk, at in EVENTS if event == "wrote" and chunk == 0)


def test_write_slots_follow_a_limit_raised_during_the_run_and_close_on_a_failure():
    limit = [1]
    slots = chunk_starts.WriteSlots(lambda: limit[0])
    slots.take(0)
    slots.take(0)  # a retry of the same chunk: its own slot
    waiter = threading.Thread(target=slots.take, args=(1,))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # one writer at a time
    limit[0] = 2  # om-runbook tune --parallel 2
    waiter.join(2)
    assert not waiter.is_alive()
    slots.close("chunk 0000 failed first")
    with pytest.raises(ChunkNotStarted, match="chunk 0002 wrote nothing: chunk 0000 failed first"):
        slots.take(2)
