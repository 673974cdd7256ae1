"""The unfinished-run marker in Redis (see migrations.unfinished_run): read, set before the first write, cleared
when the run ends cleanly or is rolled back."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from pathlib import Path

from om_runbook.migrations.unfinished_run import MARKER_KEY, UnfinishedRun
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes

_CLEAR_IF_OURS = b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _client(nodes: RedisNodes):
    return nodes.node_for(MARKER_KEY).client  # a cluster: the key's master


def read_unfinished_run(url: str) -> UnfinishedRun | None:
    raw = _client(open_nodes(url)).get(MARKER_KEY)
    return None if raw is None else UnfinishedRun.decode(raw)


def mark_unfinished_run(url: str, backup_dir: Path) -> None:
    """Before the first write: this run's backup directory, kept until the run ends cleanly or is rolled back. An
    earlier unfinished run's marker (acknowledged by the operator) is kept: its backup is the one only it holds."""
    marker = UnfinishedRun(
        str(backup_dir.resolve()), socket.gethostname(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    _client(open_nodes(url)).set(MARKER_KEY, marker.encode(), nx=True)


def clear_unfinished_run(url: str, backup_dir: Path) -> bool:
    """Remove the marker if it names `backup_dir` (a marker of another run stays); True when removed."""
    client = _client(open_nodes(url))
    current = client.get(MARKER_KEY)
    if current is None or not UnfinishedRun.decode(current).is_for(backup_dir):
        return False
    return bool(client.eval(_CLEAR_IF_OURS, 1, MARKER_KEY, current))
