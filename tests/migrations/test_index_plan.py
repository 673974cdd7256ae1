from __future__ import annotations

import datetime

import pytest
from redis_om import Field, HashModel

from migrations.index_plan import (
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


def test_the_plan_is_the_command_redis_om_sends_itself():
    plan = index_plan(Event)
    assert plan is not None
    redis_om_command = f"ft.create {Event.Meta.index_name} {Event.redisearch_schema()}".split()  # as om migrate
    assert plan.create_args() == ["FT.CREATE", *redis_om_command[1:]]
    assert plan.index_name == Event.Meta.index_name
    schema = " ".join(plan.create_args())
    assert "at NUMERIC SORTABLE" in schema and "day NUMERIC" in schema  # redis-om 1.x: datetimes are NUMERIC
    assert plan.create_args(plan.build_name)[1] == Event.Meta.index_name + ":om1"


def test_the_schema_hash_is_the_one_redis_om_stores():
    import hashlib

    plan = index_plan(Event)
    assert plan.schema_hash == hashlib.sha1(Event.redisearch_schema().encode()).hexdigest()


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


def test_a_resp3_ft_info_map_is_read_too():
    info = {b"index_name": b"i", b"index_definition": {b"key_type": b"JSON", b"prefixes": [b"p:"]}, b"attributes": []}
    assert create_args_from_info("i", info) == ["FT.CREATE", "i", "ON", "JSON", "PREFIX", "1", "p:", "SCHEMA"]
    assert index_name_of(info) == "i"


@pytest.mark.parametrize(
    ("percent", "failures", "indexing", "ready"),
    [(b"1", b"0", b"0", True), (b"0.5", b"0", b"1", False), (b"1", b"3", b"0", False), (b"1", b"0", b"1", False)],
)
def test_the_alias_switches_only_on_a_complete_clean_index(percent, failures, indexing, ready):
    info = [b"percent_indexed", percent, b"hash_indexing_failures", failures, b"indexing", indexing]
    assert ready_to_switch(info)[0] is ready
    assert ready_to_switch(info)[1].startswith(f"percent_indexed {float(percent):g}")


def test_an_alias_reports_the_index_it_points_at():
    assert index_name_of(LEGACY_INFO) == ":app.Event:index"
    assert IndexPlan("m", "idx", "ON HASH SCHEMA pk TAG").build_name == "idx:om1"
