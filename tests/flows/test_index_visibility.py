"""Redis 8.2 with RediSearch: data as redis-om 0.2.2 wrote it ('' for None) is migrated so that every convertible
document is visible to redis-om 1.2 queries; verification counts what queries see, names every document the index
cannot hold, runs range queries and a sort through the models, and fails on a shortfall it cannot explain."""

from __future__ import annotations

import datetime
import sys
import types
from typing import Optional

import pytest
import redis

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")
PREFIX = ":session_models.Session:"
INDEX = PREFIX + "index"
SESSIONS = 300


def _session_models(monkeypatch: pytest.MonkeyPatch) -> type:
    from redis_om import Field, HashModel

    module = types.ModuleType("session_models")
    module.datetime, module.Optional = datetime, Optional
    monkeypatch.setitem(sys.modules, "session_models", module)

    class Session(HashModel, index=True):
        __module__ = "session_models"
        user: str = Field(index=True)
        started_at: datetime.datetime = Field(index=True, sortable=True)
        ended_at: Optional[datetime.datetime] = Field(index=True, default=None)  # noqa: UP045

    module.Session = Session
    return Session


def _legacy_sessions(client: redis.Redis) -> None:
    """What redis-om 0.2.2 wrote: isoformat() strings, '' for None, datetimes indexed as TAG."""
    client.execute_command(
        "FT.CREATE", INDEX, "ON", "HASH", "PREFIX", "1", PREFIX, "SCHEMA", "pk", "TAG", "SEPARATOR", "|",
        "user", "TAG", "SEPARATOR", "|", "started_at", "TAG", "SEPARATOR", "|", "ended_at", "TAG", "SEPARATOR", "|",
    )  # fmt: skip
    client.set(INDEX + ":hash", "0a4d55a8d778e5022fab701977c5d840bbc486d0")
    start = datetime.datetime(2023, 11, 1, 8, 0)
    for i in range(SESSIONS):
        began = start + datetime.timedelta(hours=7 * i, microseconds=i)
        ended = "" if i % 2 else (began + datetime.timedelta(minutes=30)).isoformat()
        fields = {"pk": f"S{i:04d}", "user": f"u{i % 7}", "started_at": began.isoformat(), "ended_at": ended}
        client.hset(f"{PREFIX}S{i:04d}", mapping=fields)
    client.hset(PREFIX + "S0003", "started_at", "next tuesday")  # dirty: invisible to 1.x queries, and reported
    client.hset(PREFIX + "S0004", mapping={"started_at": "1698825600.0", "ended_at": "1698827400.0"})  # converted


@pytest.mark.parametrize("mode", ["recreate", "alias"])
def test_every_convertible_session_is_visible_to_redis_om_1_queries(mode, redis_stack_server, tmp_path, monkeypatch):
    client = redis_stack_server.client()
    _legacy_sessions(client)
    before = keyspace(client)
    session = _session_models(monkeypatch)
    settings = settings_for(
        redis_stack_server.url, tmp_path / "b", models="session_models", schema_mode=mode, rdb_snapshot=False
    )

    report = migration_flow(settings)

    assert report.status == "succeeded", (report.messages, report.problems[:5])
    verify = report.phases["verify"].details
    assert verify["index_checks"] == [
        f"{INDEX}: {SESSIONS - 1} of {SESSIONS} documents visible to queries, 1 invisible with a reason"
    ]
    assert verify["search_checks"].startswith("passed: "), verify["search_checks"]
    invisible = [p for p in report.problems if p.kind == "invisible_to_queries"]
    assert [(p.key, p.field) for p in invisible] == [(PREFIX + "S0003", "started_at")]
    assert not any(client.hget(key, "ended_at") == b"" for key in client.scan_iter(PREFIX + "S*"))
    session._meta.database = redis.Redis.from_url(redis_stack_server.url, decode_responses=True)
    assert session.find().count() == SESSIONS - 1
    cut = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    stored = [session.get(f"S{i:04d}") for i in range(SESSIONS) if i != 3]
    assert session.find(session.started_at >= cut).count() == sum(s.started_at >= cut for s in stored)
    assert sum(s.ended_at is None for s in stored) == SESSIONS // 2 - 1  # the odd ones but S0003: None, readable

    from redis_om import Migrator

    migrator = Migrator(conn=redis.Redis.from_url(redis_stack_server.url, decode_responses=True))
    migrator.detect_migrations()  # the application's next start: nothing to do for this index
    assert [m for m in migrator.migrations if m.index_name == INDEX] == []

    rolled_back = rollback_flow(settings.redis_url, settings.backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    assert keyspace(client) == before
    assert "NUMERIC" not in str(client.execute_command("FT.INFO", INDEX))


def test_a_shortfall_the_verification_cannot_explain_fails_it_and_rolls_back(redis_stack_server, tmp_path, monkeypatch):
    """Fed a reason-finder blind to NUMERIC fields, the invisible dirty session is a shortfall with no reason."""
    client = redis_stack_server.client()
    _legacy_sessions(client)
    before = keyspace(client)
    _session_models(monkeypatch)
    monkeypatch.setattr("om_runbook.tasks.verify.numeric_fields", lambda schema: ())
    settings = settings_for(redis_stack_server.url, tmp_path / "b", models="session_models", rdb_snapshot=False)

    report = migration_flow(settings)

    assert report.status == "rolled_back", report.messages
    verify = report.phases["verify"].details
    assert verify["passed"] is False and verify["index_shortfall"] == 1
    assert verify["index_checks"][0].endswith("1 MISSING WITHOUT A REASON")
    assert keyspace(client) == before


def test_a_run_against_another_database_than_0_is_refused_before_any_write(redis_stack_server, tmp_path):
    from om_runbook.migrations.errors import ConfigurationError
    from tests.flows.helpers import seed

    url = redis_stack_server.url.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    seed(client, 20)
    before = keyspace(client)
    with pytest.raises(ConfigurationError, match="RediSearch indexes exist only in database 0.*--schema-mode skip"):
        migration_flow(settings_for(url, tmp_path / "b", rdb_snapshot=False))
    assert keyspace(client) == before
    report = migration_flow(settings_for(url, tmp_path / "c", rdb_snapshot=False, schema_mode="skip"))
    assert report.status == "succeeded", report.messages
