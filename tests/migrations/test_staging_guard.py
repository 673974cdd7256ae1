from __future__ import annotations

import pytest

from om_runbook.migrations.staging_guard import flush_refusal, server_identity


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("redis://:pw@localhost:6379/0", "redis://127.0.0.1"),
        ("rediss://user:pw@Redis.Internal:6380/2", "redis://redis.internal:6380/2"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock?db=0"),
    ],
)
def test_urls_naming_the_same_data_are_the_same_server(a, b):
    assert server_identity(a) == server_identity(b)


def test_another_database_or_port_is_another_server():
    assert server_identity("redis://h:6379/1") != server_identity("redis://h:6379/0")
    assert server_identity("redis://h:6380") != server_identity("redis://h:6379")


def test_the_production_server_is_refused_even_when_empty():
    refusal = flush_refusal("redis://:s3cret@prod:6379/0", "redis://:s3cret@PROD:6379", {})
    assert refusal is not None and "production Secret" in refusal and "s3cret" not in refusal


def test_a_redis_holding_unmarked_data_is_refused_and_an_empty_or_marked_one_is_not():
    refusal = flush_refusal("redis://staging:6379", "redis://prod:6379", {"staging:6379": 12})
    assert refusal is not None and "12 keys" in refusal and "om-runbook:staging-rehearsal" in refusal
    assert flush_refusal("redis://staging:6379", "redis://prod:6379", {}) is None
    assert flush_refusal("redis://staging:6379", None, {}) is None
