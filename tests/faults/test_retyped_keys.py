"""A key re-created as another type between the backup and a write is the application's: the migrate and the
rollback leave it alone as a conflict (changed_by_others), and both finish around it."""

from __future__ import annotations

import pytest

from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, migrated

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_key_recreated_as_a_list_does_not_block_the_rollback(any_redis_server, tmp_path):
    client, before, settings = migrated(any_redis_server, tmp_path / "b", 500)
    retyped = sorted(key for key in before if b"Customer" in key)[0]
    client.delete(retyped)
    client.rpush(retyped, b"the application's list")
    report = rollback_flow(settings.redis_url, settings.backup_dir)
    assert report.status == "rolled_back", report.messages
    assert report.problem_counts.get("changed_by_others", 0) >= 1
    assert any(problem.kind == "changed_by_others" and "another type" in problem.message for problem in report.problems)
    assert client.lrange(retyped, 0, -1) == [b"the application's list"]
    after = keyspace(client)
    assert {key: value for key, value in after.items() if key != retyped} == {
        key: value for key, value in before.items() if key != retyped
    }
