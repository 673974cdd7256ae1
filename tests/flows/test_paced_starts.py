"""The fan-out starts the next chunk only once the previous one has begun its work: a Prefect server on SQLite answers
two runs created at the same instant with a 503 to one of them, which Prefect's client waits out for 2 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE

import om_runbook.flows.key_ranges as key_ranges
from om_runbook.migrations.backup_format import ChunkBackup
from om_runbook.tasks.io import chunk_starts
from om_runbook.tasks.io.chunk_starts import announce_start
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
    time.sleep(0.6)
    EVENTS.append(("end", chunk.index, time.monotonic()))
    return ChunkResult(index=chunk.index, direction="migrate", key_count=1)


@flow
def _fan_out(backup_dir: Path, count: int, announce: bool = True, fail: bool = False) -> list[ChunkResult]:
    chunks = [ChunkBackup(index=i, first_slot=i, last_slot=i, file=f"{i}", key_count=1) for i in range(count)]

    def parameters(chunk: ChunkBackup) -> dict:
        return {"backup_dir": backup_dir, "chunk": chunk, "announce": announce, "fail": fail and chunk.index == 0}

    return key_ranges.fan_out(chunks, _chunk, parameters, backup_dir, 2, "migrate")


def _at(kind: str, index: int) -> float:
    return next(at for event, chunk, at in EVENTS if event == kind and chunk == index)


def test_the_next_chunk_starts_once_the_previous_began_its_work_and_they_still_overlap(tmp_path):
    EVENTS.clear()
    results = _fan_out(tmp_path, 3)
    assert [result.index for result in results] == [0, 1, 2]
    assert _at("body", 1) >= _at("announced", 0)  # not created while chunk 0's run was being created
    assert _at("body", 1) < _at("end", 0)  # and still two at a time
    assert _at("body", 2) >= _at("end", 0)  # the third waits for a free place, as before


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
