from __future__ import annotations

import datetime

import pytest
from redis_om import Field, HashModel

from om_runbook.migrations.index_plan import (
    IndexPlan,
    create_args_from_info,
    index_name_of,
    index_plan,
    ready_to_switch,
)


class Event(HashModel, index=True):
    name: str = Field(index=True)
    title: str = Field(index=True, full_text_search=True, sortable=True)
    at: datetime.datetime = Field(index=True, sortable=True)
    day: datetime.date = Field(index=True)


class Unindexed(HashModel):
    at: datetime.datetime


def _attributes(client, index_name: str) -> list:
    info = client.ft(index_name).info()
    return info["attributes"]


def test_the_plan_gives_the_index_and_keys_redis_om_s_own_migrator_creates(redis_stack_server):
    """redis-om 1.2's Migrator runs on the Redis 8.2 fixture; our plan must give the same FT.INFO attributes and the
    same `{index}:hash` and `{index}:schema` values it wrote."""
    from redis_om import Migrator

    client = redis_stack_server.client()
    Migrator(conn=redis_stack_server.client()).run()
    plan = index_plan(Event)
    assert plan is not None and plan.index_name == Event.Meta.index_name
    assert client.get(f"{plan.index_name}:hash").decode() == plan.schema_hash
    assert client.get(f"{plan.index_name}:schema").decode() == plan.schema
    client.execute_command(*plan.create_args(plan.build_name))
    assert _attributes(client, plan.build_name) == _attributes(client, plan.index_name)
    by_name = {
        str(attribute[1]): [str(part) for part in attribute] for attribute in _attributes(client, plan.build_name)
    }
    assert "NUMERIC" in by_name["at"] and "SORTABLE" in by_name["at"] and "NUMERIC" in by_name["day"]


def test_a_model_without_an_index_has_no_plan():
    assert index_plan(Unindexed) is None


LEGACY_INFO = [
    b"index_name", b":app.Event:index",
    b"index_definition", [b"key_type", b"HASH", b"prefixes", [b":app.Event:"], b"default_score", b"1"],
    b"attributes", [
        [b"identifier", b"pk", b"attribute", b"pk", b"type", b"TAG", b"SEPARATOR", b"|"],
        [b"identifier", b"at", b"attribute", b"at", b"type", b"TAG", b"SEPARATOR", b"|", b"SORTABLE"],
        [b"identifier", b"title", b"attribute", b"title", b"type", b"TEXT", b"WEIGHT", b"1", b"SORTABLE"],
        [b"identifier", b"$.x", b"attribute", b"x", b"type", b"NUMERIC"],
    ],
    b"num_docs", b"12", b"hash_indexing_failures", b"0", b"percent_indexed", b"1", b"indexing", b"0",
]  # fmt: skip


def test_a_previous_definition_is_rebuilt_from_ft_info():
    assert create_args_from_info(":app.Event:index", LEGACY_INFO) == [
        "FT.CREATE", ":app.Event:index", "ON", "HASH", "PREFIX", "1", ":app.Event:", "SCHEMA",
        "pk", "TAG", "SEPARATOR", "|",
        "at", "TAG", "SEPARATOR", "|", "SORTABLE",
        "title", "TEXT", "WEIGHT", "1", "SORTABLE",
        "$.x", "AS", "x", "NUMERIC",
    ]  # fmt: skip


def test_a_json_tag_without_a_separator_is_rebuilt_without_one():
    """Redis 8.2 reports such a TAG (a redis-om 0.x JsonModel's index) with SEPARATOR "", which FT.CREATE refuses."""
    attributes = [{b"identifier": b"$.name", b"attribute": b"name", b"type": b"TAG", b"SEPARATOR": b"", b"flags": []}]
    info = {b"index_definition": {b"key_type": b"JSON", b"prefixes": [b"p:"]}, b"attributes": attributes}
    assert create_args_from_info("i", info) == [
        "FT.CREATE", "i", "ON", "JSON", "PREFIX", "1", "p:", "SCHEMA", "$.name", "AS", "name", "TAG",
    ]  # fmt: skip


def test_a_resp3_ft_info_map_is_read_too():
    info = {b"index_name": b"i", b"index_definition": {b"key_type": b"JSON", b"prefixes": [b"p:"]}, b"attributes": []}
    assert create_args_from_info("i", info) == ["FT.CREATE", "i", "ON", "JSON", "PREFIX", "1", "p:", "SCHEMA"]
    assert index_name_of(info) == "i"


@pytest.mark.parametrize(
    ("percent", "failures", "indexing", "ready"),
    [(b"1", b"0", b"0", True), (b"0.5", b"0", b"1", False), (b"1", b"3", b"0", True), (b"1", b"0", b"1", False)],
)
def test_the_alias_switches_once_the_index_is_complete(percent, failures, indexing, ready):
    """Failed documents (values reported unconvertible) do not hold it back: verification names each one."""
    info = [b"percent_indexed", percent, b"hash_indexing_failures", failures, b"indexing", indexing]
    assert ready_to_switch(info)[0] is ready
    assert ready_to_switch(info)[1].startswith(f"percent_indexed {float(percent):g}")


def test_an_alias_reports_the_index_it_points_at():
    assert index_name_of(LEGACY_INFO) == ":app.Event:index"
    assert IndexPlan("m", "idx", "ON HASH SCHEMA pk TAG").build_name == "idx:om1"
