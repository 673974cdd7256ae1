"""A real Redis Cluster of loopback masters for the tests (no replicas), made with `redis-cli --cluster create`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from om_runbook.tasks.io.local_redis import RedisServer, free_port, reap_all, start_redis_server


def wait_until_ok(servers: list[RedisServer], masters: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        infos = [server.client().execute_command("CLUSTER", "INFO").decode() for server in servers]
        slots = [len(server.client().execute_command("CLUSTER", "SLOTS")) for server in servers]
        if all("cluster_state:ok" in info for info in infos) and slots == [masters] * len(servers):
            return
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not converge: {infos}")


@contextmanager
def local_cluster(
    directory: Path, masters: int = 3, *args: str, binary: str = "redis-server"
) -> Iterator[list[RedisServer]]:
    """`masters` servers of `binary` (with `args`, e.g. modules) joined into one cluster; all stopped at the end."""
    servers = [
        start_redis_server(
            directory / f"node-{n}",
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port())),
            *args,
            binary=binary,
        )
        for n in range(masters)
    ]
    try:
        addresses = [f"127.0.0.1:{server.port}" for server in servers]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_until_ok(servers, masters)
        yield servers
    finally:
        reap_all(servers)
