from __future__ import annotations

import pytest

from om_runbook.migrations.rdb_tools import (
    LocalTool,
    ServerModule,
    choose_rdb_tools,
    missing_modules_message,
    missing_tools_message,
    module_load_plan,
    parse_tool_version,
    rdb_version_of_header,
    rdb_version_written_by,
)

DEBIAN_SERVER = LocalTool("/usr/bin/redis-server", "redis-server", (7, 0, 15))
DEBIAN_CHECKER = LocalTool("/usr/bin/redis-check-rdb", "redis-check-rdb", (7, 0, 15))
EIGHT_SERVER = LocalTool("/opt/redis8/redis-server", "redis-server", (8, 2, 3))


def test_rdb_header_and_tool_versions_are_read_from_what_the_files_and_tools_print():
    assert rdb_version_of_header(b"REDIS0012") == 12
    assert rdb_version_of_header(b"REDIS0010\xfa") == 10
    assert rdb_version_of_header(b"not an rdb") is None
    assert parse_tool_version("redis-check-rdb 7.0.15") == (7, 0, 15)
    assert parse_tool_version("redis-check-rdb v=8.2.3 sha=b5d43ceb:0 malloc=jemalloc-5.3.0") == (8, 2, 3)
    assert parse_tool_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64") == (7, 0, 15)
    assert parse_tool_version("command not understood") is None


@pytest.mark.parametrize(
    ("release", "rdb"), [((6, 2, 14), 9), ((7, 0, 15), 10), ((7, 2, 5), 11), ((7, 4, 1), 12), ((8, 2, 3), 12)]
)
def test_the_rdb_version_each_release_writes(release, rdb):
    assert rdb_version_written_by(release) == rdb


def test_debian_7_0_tools_cannot_read_what_redis_8_writes_and_a_redis_8_server_serves_as_checker():
    found = [DEBIAN_CHECKER, DEBIAN_SERVER]
    assert choose_rdb_tools(found, 12, (8, 2, 3)) is None
    chosen = choose_rdb_tools([*found, EIGHT_SERVER], 12, (8, 2, 3))
    assert chosen is not None and chosen.server == EIGHT_SERVER and chosen.checker is None
    plain = choose_rdb_tools(found, 10, (7, 0, 15))
    assert plain is not None and plain.server == DEBIAN_SERVER and plain.checker == DEBIAN_CHECKER


def test_a_tool_at_least_as_new_as_the_source_reads_a_version_the_table_does_not_know_yet():
    newer = LocalTool("/opt/redis9/redis-server", "redis-server", (9, 0, 0))
    assert choose_rdb_tools([newer], 13, (9, 0, 0)) is not None
    assert choose_rdb_tools([EIGHT_SERVER], 13, (9, 0, 0)) is None
    unknown = LocalTool("/x/redis-server", "redis-server", None)
    assert choose_rdb_tools([unknown], 9, (6, 2, 0)) is None


def test_the_refusal_names_the_rdb_version_the_tools_found_and_every_remedy():
    message = missing_tools_message("127.0.0.1:6379", 12, (8, 2, 3), [DEBIAN_CHECKER, DEBIAN_SERVER])
    assert "Redis 8.2.3 writes RDB version 12" in message
    assert "redis-check-rdb /usr/bin/redis-check-rdb (7.0.15)" in message
    assert "redis-server /usr/bin/redis-server (7.0.15)" in message
    for remedy in (
        "of Redis 8.2.3 or newer on PATH",
        "--rdb-tools-dir",
        "OM_RUNBOOK_RDB_TOOLS_DIR",
        "--no-rdb-snapshot",
    ):
        assert remedy in message
    assert message.endswith("nothing was written")
    assert "found: none" in missing_tools_message("h:1", 12, None, [])


def test_modules_load_from_the_source_path_else_the_module_dir_and_built_ins_are_skipped():
    modules = [
        ServerModule("search", "/opt/stack/lib/redisearch.so", ("MAXSEARCHRESULTS", "10000")),
        ServerModule("ReJSON", "/opt/stack/lib/rejson.so"),
        ServerModule("vectorset", ""),
    ]
    args, missing = module_load_plan(
        modules, frozenset({"/opt/stack/lib/redisearch.so"}), {"rejson.so": "/mods/rejson.so"}
    )
    assert args == (
        "--loadmodule", "/opt/stack/lib/redisearch.so", "MAXSEARCHRESULTS", "10000",
        "--loadmodule", "/mods/rejson.so",
    )  # fmt: skip
    assert missing == []
    args, missing = module_load_plan(modules, frozenset(), {})
    assert args == () and [module.name for module in missing] == ["search", "ReJSON"]
    message = missing_modules_message("h:1", missing, None)
    assert "search (/opt/stack/lib/redisearch.so)" in message and "--module-dir" in message
    assert "no module directory was given" in message and "--no-rdb-snapshot" in message
