"""A Redis Cluster's map: which master serves which slots, and the URL of each master (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.slots import SLOT_COUNT


def node_url(seed_url: str, host: str, port: int) -> str:
    """`seed_url` pointed at another node: same scheme, user, password and options (TLS files, timeouts)."""
    parts = urlsplit(seed_url)
    credentials = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{credentials}@{address}" if credentials else address
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def master_slot_ranges(reply: list, seed_host: str) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """CLUSTER SLOTS -> {(host, port) of the master: its slot ranges}; an empty or '?' host is the seed's."""
    masters: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for entry in reply:
        first, last, master = int(entry[0]), int(entry[1]), entry[2]
        host = _text(master[0])
        address = (seed_host if host in ("", "?") else host, int(master[1]))
        masters.setdefault(address, []).append((first, last))
    return masters


def slot_owner_table(ranges: Sequence[Sequence[tuple[int, int]]]) -> tuple[int, ...]:
    """Slot -> index of the master whose ranges hold it; every slot must be served."""
    table = [-1] * SLOT_COUNT
    for index, node_ranges in enumerate(ranges):
        for first, last in node_ranges:
            table[first : last + 1] = [index] * (last - first + 1)
    if -1 in table:
        raise RedisAccessError(
            f"the cluster serves {SLOT_COUNT - table.count(-1)} of {SLOT_COUNT} slots (slot {table.index(-1)} has "
            "no master); run `redis-cli --cluster check` and fix the cluster before migrating"
        )
    return tuple(table)


def owner_changes(owners: Sequence[int]) -> list[int]:
    """The slots where the owning master changes from the slot before: where a chunk must start."""
    return [slot for slot in range(1, len(owners)) if owners[slot] != owners[slot - 1]]
