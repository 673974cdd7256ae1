"""The permission check covers the search commands of the schema step, before any read of user data: a Redis user
without one of them is refused with the grant that fixes it, and the application's index stays as it was."""

from __future__ import annotations

import re

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.errors import RedisAccessError
from tests.flows.helpers import keyspace, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")
INDEX = ":om_runbook.migrations.sample_models.Order:index"
LEGACY_INDEX = ("FT.CREATE", INDEX, "ON", "HASH", "PREFIX", "1", ":om_runbook.migrations.sample_models.Order:",
                "SCHEMA", "placed_at", "TAG")  # fmt: skip

DENIED = {
    "FT.INFO": ("-ft.info", "FT.INFO (recording the index"),
    "FT.DROPINDEX": ("-ft.dropindex", "FT.DROPINDEX (replacing the index"),
    "FT.CREATE": ("-ft.create", "FT.CREATE (creating the 1.x index"),
    "FT.SEARCH": ("-ft.search", "FT.SEARCH (counting what queries"),
}


def _user_url(server, *rules: str) -> str:
    server.client().execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-pass", "~*", "&*", "+@all", *rules)
    return f"redis://app:app-pass@127.0.0.1:{server.port}/0"


@pytest.mark.parametrize("dryrun", [True, False], ids=["ACL DRYRUN", "read-only probes"])
@pytest.mark.parametrize("command", DENIED)
def test_each_search_command_denied_is_refused_before_any_read(redis_stack_server, tmp_path, command, dryrun):
    client = redis_stack_server.client()
    seed(client, 300)
    client.execute_command(*LEGACY_INDEX)
    before = keyspace(client)
    rule, message = DENIED[command]
    url = _user_url(redis_stack_server, rule, *([] if dryrun else ["-acl"]))
    with pytest.raises(
        RedisAccessError, match="may not use what the migration needs: commands .*" + re.escape(message)
    ) as err:
        migration_flow(settings_for(url, tmp_path / "b", rdb_snapshot=False))
    assert f"+{command.lower()}" in str(err.value)
    assert keyspace(client) == before
    assert client.execute_command("FT.INFO", INDEX)  # the application's index is still there
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_schema_mode_skip_needs_no_search_command(redis_stack_server, tmp_path):
    client = redis_stack_server.client()
    seed(client, 300)
    url = _user_url(redis_stack_server, "-ft.create", "-ft.dropindex")
    report = migration_flow(settings_for(url, tmp_path / "b", rdb_snapshot=False, schema_mode="skip"))
    assert report.status == "succeeded"
