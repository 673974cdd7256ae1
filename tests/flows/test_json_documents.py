"""JsonModel documents as redis-om 0.x wrote them, on Redis 8.2 with RediSearch and RedisJSON: every datetime at
every depth converted to what redis-om 1.2 writes, read back and queried through redis-om 1.2, rolled back to the
exact document text."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import redis

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow, verification_flow
from om_runbook.tasks.writer import chunk_runner
from tests.flows.account_models import Account, Address, Line
from tests.flows.helpers import back_up, keyspace, settings_for
from tests.process_timezone import process_timezone

pytestmark = pytest.mark.usefixtures("prefect_harness")
PREFIX = ":tests.flows.account_models.Account:"
UTC = datetime.timezone.utc


def _values(i: int) -> dict:
    """The Python values of account i (what the application holds)."""
    return {
        "name": f"acct {i}",
        "created_at": datetime.datetime(2023, 12, 1, 14, 30, 22, 123456) + datetime.timedelta(days=i),  # naive
        "closed_at": None if i % 2 else datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "birthday": datetime.date(1961, 4, 12) + datetime.timedelta(days=i),  # before 1970
        "logins": [
            datetime.datetime(2023, 12, 1, 14, 30, 22, tzinfo=UTC),
            datetime.datetime(2022, 6, 1, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
            datetime.datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC),
        ][: 1 + i % 3],
        "address": {"city": "Oslo", "moved_in": datetime.datetime(2020, 2, 29, tzinfo=UTC)},
        "lines": [{"sku": "a", "shipped_on": datetime.date(2023, 12, 2)}, {"sku": "b", "shipped_on": None}][: i % 3],
    }


def _legacy_text(value: object, z_suffix: bool) -> object:
    """As redis-om 0.x wrote it: isoformat() strings (0.3 with pydantic 2: UTC as Z), embedded models with a pk."""
    if isinstance(value, datetime.datetime | datetime.date):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if z_suffix else text
    if isinstance(value, list):
        return [_legacy_text(item, z_suffix) for item in value]
    if isinstance(value, dict):
        return {name: _legacy_text(item, z_suffix) for name, item in value.items()}
    return value


def _legacy_document(i: int) -> dict:
    values = _values(i)
    embedded_pk = {"address": {"pk": f"01HADDR{i:05d}", **values["address"]}}
    lines = [{"pk": f"01HLINE{i:03d}{n}", **line} for n, line in enumerate(values["lines"])]
    document = {"pk": f"A{i:04d}", **values, **embedded_pk, "lines": lines}
    return _legacy_text(document, z_suffix=i % 4 == 0)


def _without_embedded_pk(document: dict) -> dict:
    """redis-om 1.2 drops an embedded model's pk when it saves; the migration keeps it (1.2 ignores it on read)."""
    copy = json.loads(json.dumps(document))
    copy["address"].pop("pk", None)
    for line in copy["lines"]:
        line.pop("pk", None)
    return copy


def _as_written_by_redis_om_1_2(client: redis.Redis, i: int) -> dict:
    values = _values(i)
    account = Account(
        pk=f"A{i:04d}",
        **{**values, "address": Address(**values["address"]), "lines": [Line(**line) for line in values["lines"]]},
    )
    with process_timezone("UTC"):  # redis-om 1.2 reads a naive value in the writing process's zone
        account.save()
    text = client.execute_command("JSON.GET", PREFIX + f"A{i:04d}")
    client.delete(PREFIX + f"A{i:04d}")
    return json.loads(text)


COUNT = 40
REAL_0_2_2 = Path(__file__).parents[1] / "fixtures" / "redis_om_0_2_2_accounts.json"


def _written_by_redis_om_0_2_2() -> dict[str, str]:
    """The first 12 accounts exactly as redis-om 0.2.2 saved them (tests/fixtures/write_redis_om_0_2_2_accounts.py):
    the same values as `_values(i)`; the others are built here (0.3 style with `Z` for every fourth)."""
    return dict(json.loads(REAL_0_2_2.read_text())["documents"])


def test_json_documents_convert_at_every_depth_query_and_roll_back_byte_for_byte(redis_stack_server, tmp_path):
    client = redis_stack_server.client()
    for model in (Account, Address, Line):
        model._meta.database = redis.Redis.from_url(redis_stack_server.url, decode_responses=True)
    expected = {i: _as_written_by_redis_om_1_2(client, i) for i in range(COUNT)}
    real = _written_by_redis_om_0_2_2()
    for i in range(COUNT):
        text = real.get(PREFIX + f"A{i:04d}") or json.dumps(_legacy_document(i))
        client.execute_command("JSON.SET", PREFIX + f"A{i:04d}", "$", text)
    dirty = _legacy_document(COUNT)
    dirty["logins"] = ["2023-12-01T14:30:22Z", "next tuesday"]
    client.execute_command("JSON.SET", PREFIX + "dirty", "$", json.dumps(dirty))
    unindexable = _legacy_document(COUNT + 1)
    unindexable["created_at"] = "31/12/2023"  # an indexed NUMERIC field left a string: invisible to queries
    client.execute_command("JSON.SET", PREFIX + "unindexable", "$", json.dumps(unindexable))
    converted = json.dumps(expected[1])  # already converted (as 1.2 wrote it)
    client.execute_command("JSON.SET", PREFIX + "converted", "$", converted)
    texts_before = {key: client.execute_command("JSON.GET", key) for key in client.scan_iter(PREFIX + "*")}
    before = keyspace(client)
    settings = settings_for(
        redis_stack_server.url, tmp_path / "b", models="tests.flows.account_models", rdb_snapshot=False
    )

    report = migration_flow(settings)

    assert report.status == "succeeded", (report.messages, report.problems[:5])
    for i in range(COUNT):
        migrated = json.loads(client.execute_command("JSON.GET", PREFIX + f"A{i:04d}"))
        legacy = json.loads(texts_before[(PREFIX + f"A{i:04d}").encode()])
        assert migrated["address"]["pk"] == legacy["address"]["pk"]  # embedded pks kept
        assert _without_embedded_pk(migrated) == expected[i], i
        assert isinstance(migrated["created_at"], float) and isinstance(migrated["birthday"], float)
    assert json.loads(client.execute_command("JSON.GET", PREFIX + "converted")) == expected[1]  # left alone
    unconvertible = sorted((p.key, p.field) for p in report.problems if p.kind == "unparseable")
    assert unconvertible == [(PREFIX + "dirty", "$.logins[1]"), (PREFIX + "unindexable", "$.created_at")]
    invisible = [(p.key, p.field) for p in report.problems if p.kind == "invisible_to_queries"]
    assert invisible == [(PREFIX + "unindexable", "$.created_at")]
    dirty_now = json.loads(client.execute_command("JSON.GET", PREFIX + "dirty"))
    assert dirty_now["logins"] == [1701441022.0, "next tuesday"]  # the rest of the document converted
    verify = report.phases["verify"].details
    assert verify["index_checks"] == [
        f"{PREFIX}index: {COUNT + 2} of {COUNT + 3} documents visible to queries, 1 invisible with a reason"
    ], verify["index_checks"]
    assert verify["search_checks"].startswith("passed"), verify["search_checks"]

    # redis-om 1.2 reads the migrated records and answers queries as on data it wrote itself
    for i in range(COUNT):
        loaded = Account.get(f"A{i:04d}")
        values = _values(i)
        assert loaded.created_at == values["created_at"].replace(tzinfo=UTC)
        assert loaded.birthday == values["birthday"] and loaded.closed_at == values["closed_at"]
        assert loaded.logins == values["logins"] and loaded.address.moved_in == values["address"]["moved_in"]
        assert [line.shipped_on for line in loaded.lines] == [line["shipped_on"] for line in values["lines"]]
    cut = datetime.datetime(2023, 12, 21, tzinfo=UTC)
    visible_created = [_values(i)["created_at"].replace(tzinfo=UTC) for i in range(COUNT + 1)]  # + the dirty one
    assert Account.find(Account.created_at >= cut).count() == sum(at >= cut for at in visible_created) + (
        expected[1]["created_at"] >= cut.timestamp()
    )
    assert Account.find(Account.closed_at > datetime.datetime(2024, 1, 1, tzinfo=UTC)).count() == COUNT // 2 + 1

    verified = verification_flow(settings.redis_url, settings.backup_dir)  # what `om-runbook verify` runs
    assert verified.status == "verified", (verified.messages, verified.problems[:5])

    rolled_back = rollback_flow(settings.redis_url, settings.backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    assert {key: client.execute_command("JSON.GET", key) for key in client.scan_iter(PREFIX + "*")} == texts_before
    assert keyspace(client) == before


def test_json_documents_resume_after_a_crash_mid_chunk_and_convert_nothing_twice(
    redis_stack_server, tmp_path, monkeypatch
):
    import logging

    from om_runbook.tasks.backup_store.backup_format import save_checkpoint
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from om_runbook.tasks.writer.chunk_runner import ErrorPolicy, run_chunk

    client = redis_stack_server.client()
    for model in (Account, Address, Line):
        model._meta.database = redis.Redis.from_url(redis_stack_server.url, decode_responses=True)
    for i in range(300):
        client.execute_command("JSON.SET", PREFIX + f"A{i:04d}", "$", json.dumps(_legacy_document(i)))
    settings = settings_for(
        redis_stack_server.url, tmp_path / "b", models="tests.flows.account_models", rdb_snapshot=False, batch_size=20
    )
    nodes = open_nodes(redis_stack_server.url)
    manifest = back_up(settings, 1)

    class Crash(Exception):
        pass

    def crash_before_the_third_checkpoint(backup_dir, direction, chunk_backup, checkpoint):
        if checkpoint.lines_done >= 60:
            raise Crash  # the third batch is written, its checkpoint never is
        save_checkpoint(backup_dir, direction, chunk_backup, checkpoint)

    monkeypatch.setattr(chunk_runner, "save_checkpoint", crash_before_the_third_checkpoint)
    with pytest.raises(Crash):
        run_chunk(
            nodes,
            settings.backup_dir,
            manifest.chunks[0],
            "migrate",
            20,
            ErrorPolicy("fail", None),
            logging.getLogger(),
        )
    monkeypatch.undo()

    report = migration_flow(settings.model_copy(update={"chunks": 1}))

    assert report.status == "succeeded", report.messages
    chunk = report.phases["migrate"].details["chunks"][0]
    assert chunk["resumed_from_line"] == 40 and chunk["counts"]["already"] > 0  # batch 3 replayed, found done
    assert report.kpis.fields_converted == manifest.fields_changed
    for i in range(300):
        loaded = Account.get(f"A{i:04d}")
        assert loaded.created_at == _values(i)["created_at"].replace(tzinfo=UTC)


def test_json_documents_on_a_redis_cluster_migrate_and_roll_back_per_key(tmp_path):
    """RedisJSON is per key: on 3 masters (Redis 8.2 with RedisJSON), every document is read, written and rolled back
    on the master that owns it."""
    from om_runbook.tasks.io.redis_nodes import open_nodes
    from tests.local_cluster import local_cluster
    from tests.redis_stack import stack_binary, stack_module_args

    rejson = [arg for arg in stack_module_args() if arg.endswith("rejson.so")]
    with local_cluster(tmp_path / "cluster", 3, "--loadmodule", *rejson, binary=stack_binary()) as servers:
        url = f"redis://127.0.0.1:{servers[0].port}/0"
        nodes = open_nodes(url)
        for i in range(300):
            key = f"{PREFIX}A{i:04d}".encode()
            nodes.node_for(key).client.execute_command("JSON.SET", key, "$", json.dumps(_legacy_document(i)))
        assert all(client.dbsize() > 50 for client in nodes.clients)
        texts = {key: client.execute_command("JSON.GET", key) for client in nodes.clients for key in client.scan_iter()}
        settings = settings_for(url, tmp_path / "b", models="tests.flows.account_models", rdb_snapshot=False)

        report = migration_flow(settings)

        assert report.status == "succeeded", (report.messages, report.problems[:5])
        assert report.kpis.fields_converted == report.phases["backup"].details["fields_changed"] > 900
        for key in texts:
            migrated = json.loads(nodes.node_for(key).client.execute_command("JSON.GET", key))
            assert isinstance(migrated["created_at"], float) and isinstance(migrated["address"]["moved_in"], float)
        assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
        assert {key: nodes.node_for(key).client.execute_command("JSON.GET", key) for key in texts} == texts
