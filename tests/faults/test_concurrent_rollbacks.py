"""Two rollbacks of one backup at the same time (two terminals, or the UI and a terminal): the second, started while
the first writes, is refused before any write naming the lease's holder; the first finishes, and the keyspace ends
byte-identical to before the migration."""

from __future__ import annotations

import threading
import time

import pytest

from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.migrations.errors import MigrationAborted
from tests.flows.helpers import keyspace, migrated

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_second_rollback_while_the_first_writes_is_refused_and_the_first_restores_every_byte(
    any_redis_server, tmp_path
):
    client, before, settings = migrated(any_redis_server, tmp_path / "b", 4000)
    first: dict[str, object] = {}
    writer = threading.Thread(
        target=lambda: first.update(report=rollback_flow(settings.redis_url, settings.backup_dir, batch_size=1))
    )
    writer.start()
    progress = settings.backup_dir / "progress" / "rollback"
    deadline = time.monotonic() + 60
    while not list(progress.glob("chunk-*.json")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the first rollback holds the lease and writes
    assert writer.is_alive(), "the first rollback ended before the second could start: no overlap to test"

    with pytest.raises(MigrationAborted, match="another om-runbook rollback .* holds the lease"):
        rollback_flow(settings.redis_url, settings.backup_dir)

    writer.join(120)
    assert first["report"].status == "rolled_back"
    assert keyspace(client) == before
