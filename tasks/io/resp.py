"""Fast pipelining for the hot paths: commands encoded to RESP once, sent in one write, replies read back.

redis-py's Pipeline spends most of its time packing arguments and running reply callbacks; here a batch
is one bytes payload and error replies come back as values, in order, so one bad key never hides others.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from redis.exceptions import AskError, ClusterDownError, ResponseError, TryAgainError

from om_runbook.migrations.errors import ClusterTopologyChanged, ServerBusy


def encode_command(args: Sequence[bytes]) -> bytes:
    """One command in RESP (array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def run_encoded(client: redis.Redis, payload: bytes, count: int) -> list[object]:
    """Send `count` encoded commands in one write; replies in order, error replies as ResponseError values.

    A cluster redirection (MOVED/ASK: this master no longer owns a key's slot) raises ClusterTopologyChanged, so
    the task retries with a fresh slot map; the batch is replayed, which the compare-and-set makes harmless."""
    connection = client.connection_pool.get_connection()
    replies: list[object] = []
    try:
        connection.send_packed_command([payload])
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                replies.append(error)
    except BaseException:
        connection.disconnect()  # a half-read connection must never go back to the pool
        raise
    finally:
        client.connection_pool.release(connection)
    for reply in replies:
        if is_busy_reply(reply):
            raise ServerBusy(f"Redis is busy and takes no command for now ({reply})")
        if isinstance(reply, AskError | TryAgainError | ClusterDownError):  # MovedError is an AskError
            raise ClusterTopologyChanged(
                f"the cluster's slots changed during the run ({type(reply).__name__}: {reply}); retried on the new "
                "slot map. Avoid resharding while migrating."
            )
    return replies


def is_busy_reply(reply: object) -> bool:
    """BUSY: a script or function runs past its time limit and the server answers nothing else until it ends; never
    the command's own error (no key is at fault)."""
    return isinstance(reply, ResponseError) and str(reply).startswith("BUSY ")
