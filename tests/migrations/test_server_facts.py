from __future__ import annotations

import pytest

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.server_facts import ServerFacts, parse_release, require_writable_primary, supports_field_ttl


def _facts(**changes) -> ServerFacts:
    base = dict(
        redis_version="7.0.15", role="master", cluster_enabled=False, modules=[], used_memory=1, maxmemory=0,
        rdb_enabled=True, aof_enabled=False, total_keys=0,
    )  # fmt: skip
    return ServerFacts(**(base | changes))


def test_a_release_is_read_from_info_redis_version_or_is_none():
    assert parse_release("8.2.3") == (8, 2, 3) and parse_release("7.4") == (7, 4, 0)
    assert parse_release("?") is None and parse_release("7") is None and parse_release("7.x.1") is None
    assert _facts(redis_version="8.2.3").release == (8, 2, 3)


@pytest.mark.parametrize(
    ("version", "expected"), [("7.4.0", True), ("8.2.3", True), ("7.2.9", False), ("7.0.15", False), ("?", False)]
)
def test_hash_field_ttls_exist_from_redis_7_4(version, expected):
    assert supports_field_ttl(version) is expected


def test_a_replica_is_refused_before_any_write():
    require_writable_primary(_facts(), "redis://127.0.0.1:6379")
    with pytest.raises(RedisAccessError, match="read-only slave; point --redis-url at the primary"):
        require_writable_primary(_facts(role="slave"), "redis://127.0.0.1:6379")
