"""A backup directory whose disk fills up while the chunks write: the migration stops with an error naming the
directory, the automatic rollback finishes with its progress in memory, every byte is back, and `status` says how
the run ended. The disk is a real tmpfs of its own, filled by a real file (mounting needs root, as CI runs)."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.tasks.backup_store.run_status import read_status
from tests.faults.tmpfs import mounted_tmpfs
from tests.flows.helpers import keyspace, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "disk", "24m") as mount_point:
        yield mount_point


def _fill(disk: Path) -> None:
    """Write zeros until the disk refuses more."""
    with open(disk / "filler", "wb") as handle:
        block = bytes(1 << 16)
        with contextlib.suppress(OSError):
            while True:
                handle.write(block)
                handle.flush()
    with contextlib.suppress(OSError), open(disk / "filler-tail", "wb") as handle:  # the last partial block
        while True:
            handle.write(b"\0" * 512)
            handle.flush()


def test_a_disk_that_fills_during_the_chunks_stops_the_migration_and_the_rollback_still_restores_every_byte(
    any_redis_server, small_disk
):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    backup_dir = small_disk / "backup"
    settings = settings_for(any_redis_server.url, backup_dir, chunks=2, parallel=1, batch_size=5)
    outcome: dict[str, object] = {}
    flow = threading.Thread(target=lambda: outcome.update(report=migration_flow(settings)), daemon=True)
    flow.start()
    deadline = time.monotonic() + 120
    while not list((backup_dir / "progress" / "migrate").glob("chunk-*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    _fill(small_disk)
    probe = small_disk / "probe"
    with pytest.raises(OSError) as full:
        probe.write_bytes(bytes(1 << 16))
    assert full.value.errno == errno.ENOSPC  # the disk really is full while the run goes on
    flow.join(180)
    assert not flow.is_alive()

    report = outcome["report"]
    assert report.status == "rolled_back", report.messages
    assert any(f"cannot record the migration's progress in {backup_dir}" in m for m in report.messages), report.messages
    assert report.phases["rollback"].details, report.phases["rollback"]
    assert keyspace(client) == before  # every byte back, rolled back with its progress in memory
    status = read_status(backup_dir)  # rewritten in place within the space it reserved
    assert status.outcome == "rolled_back" and status.pid == os.getpid()
