"""The backup directory removed (or unmounted) while the chunks write: the run stops before its next write, says
that the originals of what it converted were in that directory and what to do, attempts no rollback and does not
re-create the directory; put back, it rolls back every byte."""

from __future__ import annotations

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, once_chunks_write, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_backup_directory_removed_mid_run_stops_the_writes_and_put_back_rolls_back(any_redis_server, tmp_path):
    client = any_redis_server.client()
    seed(client, 3000)
    before = keyspace(client)
    settings = settings_for(any_redis_server.url, tmp_path / "b", rdb_snapshot=False, batch_size=5, parallel=1)
    copy = tmp_path / "copy-of-b"

    # moved away whole, as an unmount does (and kept: the operator's copy of it)
    removed = once_chunks_write(settings.backup_dir, lambda: settings.backup_dir.rename(copy))
    report = migration_flow(settings)
    removed.join()
    assert report.status == "failed", report.messages
    message = report.messages[-1]
    assert f"the backup directory {settings.backup_dir} was removed or unmounted during the run" in message, message
    assert "no rollback was attempted" in message and "Put the directory back" in message
    assert "rollback" not in report.phases
    assert not settings.backup_dir.exists(), sorted(settings.backup_dir.rglob("*"))  # not re-created
    assert keyspace(client) != before

    copy.rename(settings.backup_dir)
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert keyspace(client) == before
