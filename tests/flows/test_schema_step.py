"""The schema step: skipped with a clear line on a server without the search module (plain Redis 7.0), and, on the
Redis 8.2 with RediSearch fixture (or an external Redis Stack given by REDIS_STACK_URL, database 0, flushed),
applied as redis-om does or through an alias switch, then put back by the rollback."""

from __future__ import annotations

import datetime
import os
import sys
import types

import pytest
import redis
from redis.commands.search.query import Query

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def search_url(request: pytest.FixtureRequest) -> str:
    """REDIS_STACK_URL when given, else the Redis 8.2 with modules fixture: never a skip."""
    return os.environ.get("REDIS_STACK_URL") or request.getfixturevalue("redis_stack_server").url


def test_without_the_search_module_the_schema_step_is_skipped_and_the_data_still_migrates(redis_server, tmp_path):
    seed(redis_server.client(), 200)
    report = migration_flow(settings_for(redis_server.url, tmp_path / "b", schema_mode="alias"))
    assert report.status == "succeeded", report.messages
    assert report.phases["schema"].details["step"] == "schema step skipped: no search module"
    assert "schema_switch" not in report.phases
    assert report.kpis.fields_converted > 0
    assert not (tmp_path / "b" / "schema").exists()


def _indexed_models(monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    """A models module whose datetime fields are indexed (redis-om 1.x: NUMERIC), registered for this test."""
    from redis_om import Field, HashModel, get_redis_connection

    module = types.ModuleType("indexed_models")
    module.datetime = datetime  # the postponed annotations resolve in the class's module, so it must exist first
    monkeypatch.setitem(sys.modules, "indexed_models", module)

    class Visit(HashModel, index=True):
        __module__ = "indexed_models"  # in the body: redis-om derives the key prefix and registry name at creation
        page: str = Field(index=True)
        at: datetime.datetime = Field(index=True, sortable=True)

        class Meta:
            database = get_redis_connection(url=url)

    module.Visit = Visit
    return "indexed_models"


def _legacy_index(client: redis.Redis) -> None:
    """What redis-om 0.x created: datetimes as TAG."""
    client.execute_command(
        "FT.CREATE", ":indexed_models.Visit:index", "ON", "HASH", "PREFIX", "1", ":indexed_models.Visit:",
        "SCHEMA", "pk", "TAG", "SEPARATOR", "|", "page", "TAG", "SEPARATOR", "|", "at", "TAG", "SEPARATOR", "|",
    )  # fmt: skip
    for i in range(50):
        client.hset(f":indexed_models.Visit:{i}", mapping={"pk": str(i), "page": "home", "at": f"2023-05-0{1 + i % 9}"})


@pytest.mark.parametrize("mode", ["recreate", "alias"])
def test_the_1x_index_is_applied_and_rollback_restores_the_previous_one(mode, search_url, tmp_path, monkeypatch):
    client = redis.Redis.from_url(search_url)
    client.flushdb()
    _legacy_index(client)
    before = keyspace(client)
    models = _indexed_models(monkeypatch, search_url)
    settings = settings_for(search_url, tmp_path / "b", models=models, schema_mode=mode, rdb_snapshot=False)
    report = migration_flow(settings)
    assert report.status == "succeeded", (report.messages, report.problem_counts, report.problems[:3])
    found = client.ft(":indexed_models.Visit:index").search(Query("@at:[1682899200 1683072000]").paging(0, 0))
    assert found.total == sum(1 for i in range(50) if 1 + i % 9 <= 3)  # 2023-05-01 to -03 00:00, a NUMERIC range
    rolled_back = rollback_flow(settings.redis_url, settings.backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    info = client.execute_command("FT.INFO", ":indexed_models.Visit:index")
    assert "NUMERIC" not in str(info) and keyspace(client) == before  # the 0.x TAG definition is back


def test_the_previous_definitions_are_saved_once_and_read_back(redis_server, tmp_path):
    """Runs without the search module: FT.INFO is unknown, so no index stood there; a resumed run keeps the
    first record rather than recording the state it left itself."""
    from om_runbook.migrations.index_plan import IndexPlan
    from om_runbook.tasks.schema import load_previous_indexes, save_previous_indexes

    client = redis_server.client()
    client.set(":app.Event:index:hash", "0x-hash")
    plans = [IndexPlan("app.Event", ":app.Event:index", "ON HASH PREFIX 1 :app.Event: SCHEMA pk TAG")]
    assert load_previous_indexes(tmp_path) is None
    saved = save_previous_indexes(client, plans, tmp_path)
    assert [(p.index_name, p.existed, p.schema_hash, p.schema_text) for p in saved] == [
        (":app.Event:index", False, "0x-hash", None)
    ]
    client.set(":app.Event:index:hash", "changed since")
    assert save_previous_indexes(client, plans, tmp_path) == saved == load_previous_indexes(tmp_path)
