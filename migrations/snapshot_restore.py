"""The manual way back from the RDB snapshot (`om-runbook restore-snapshot`), its pure part: how two copies of a key
are compared, what a dry run found, and the refusals before any write.

A key is compared by what the application reads, not by its DUMP payload: the same hash can be a listpack on one
server and a hashtable on the other, and the payload carries the writing server's RDB version. Each side's content
is its type, its value read with the type's read command (normalized where Redis leaves the order open), and its
absolute expiry (PEXPIRETIME, so a TTL counts as equal only when it ends at the same millisecond).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from om_runbook.migrations.rdb_tools import format_version, rdb_version_written_by
from om_runbook.migrations.server_facts import Version

SAMPLE_SIZE = 20
CONFIRMATION_WORD = "RESTORE"

# The command that reads a whole value of each type; other types (module types but JSON, and types we do not know)
# are compared by DUMP payload, which both servers write the same way for the same value.
READ_COMMANDS: dict[str, tuple[str, ...]] = {
    "string": ("GET",),
    "hash": ("HGETALL",),
    "list": ("LRANGE", "0", "-1"),
    "set": ("SMEMBERS",),
    "zset": ("ZRANGE", "0", "-1", "WITHSCORES"),
    "stream": ("XRANGE", "-", "+"),
    "ReJSON-RL": ("JSON.GET",),
}
DUMP_READ = ("DUMP",)


def read_command(kind: str) -> tuple[str, ...]:
    return READ_COMMANDS.get(kind, DUMP_READ)


class KeyContent(NamedTuple):
    """What the application sees of one key on one server."""

    kind: str
    value: object
    expires_at_ms: int  # PEXPIRETIME: -1 without a TTL


def normalize_value(kind: str, reply: object) -> object:
    """A read reply as a comparable value: hashes and sets as sorted tuples (their order is the server's), the rest as
    read (lists, sorted sets and streams have an order of their own)."""
    if kind == "hash" and isinstance(reply, dict):
        return tuple(sorted(reply.items()))
    if kind == "hash" and isinstance(reply, list):  # RESP2 without the client's dict callback: flat pairs
        return tuple(sorted(zip(reply[::2], reply[1::2], strict=True)))
    if kind == "set" and isinstance(reply, set | list):
        return tuple(sorted(reply))
    if isinstance(reply, list):
        return tuple(_frozen(item) for item in reply)
    return reply


def _frozen(item: object) -> object:
    if isinstance(item, list | tuple):
        return tuple(_frozen(part) for part in item)
    if isinstance(item, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in item.items()))
    return item


class KeyState(StrEnum):
    EQUAL = "equal"
    DIFFERS = "differs"  # present on both servers, with another type, value or expiry
    MISSING = "missing"  # in the snapshot, not on the target
    EXTRA = "extra"  # on the target, not in the snapshot (never deleted without --delete-extra)


def compare_key(in_snapshot: KeyContent | None, on_target: KeyContent | None) -> KeyState | None:
    """The state of one key; None when neither side has it (a key that expired in between)."""
    if in_snapshot is None:
        return None if on_target is None else KeyState.EXTRA
    if on_target is None:
        return KeyState.MISSING
    return KeyState.EQUAL if in_snapshot == on_target else KeyState.DIFFERS


def show_key(key: bytes) -> str:
    """A key as the report shows it: its text when it is UTF-8, else its bytes escaped."""
    try:
        return key.decode()
    except UnicodeDecodeError:
        return repr(key)[2:-1]


class RestoreDiff(BaseModel):
    """How the target stands against the snapshot, over the keys compared: counts and a few keys of each kind."""

    counts: dict[str, int] = Field(default_factory=lambda: {state.value: 0 for state in KeyState})
    samples: dict[str, list[str]] = Field(default_factory=dict)

    def add(self, state: KeyState, key: bytes) -> None:
        self.counts[state.value] = self.counts.get(state.value, 0) + 1
        shown = self.samples.setdefault(state.value, [])
        if state is not KeyState.EQUAL and len(shown) < SAMPLE_SIZE:
            shown.append(show_key(key))

    def count(self, state: KeyState) -> int:
        return self.counts.get(state.value, 0)

    @property
    def to_write(self) -> int:
        return self.count(KeyState.DIFFERS) + self.count(KeyState.MISSING)

    def matches(self, extra_allowed: bool) -> bool:
        """Every snapshot key equal on the target (and, unless `extra_allowed`, no key the snapshot lacks)."""
        return self.to_write == 0 and (extra_allowed or self.count(KeyState.EXTRA) == 0)

    def lines(self, shown_keys: int = 5) -> list[str]:
        described = {
            KeyState.EQUAL: "equal to the snapshot",
            KeyState.DIFFERS: "differ from the snapshot (type, value or TTL)",
            KeyState.MISSING: "in the snapshot, missing on the target",
            KeyState.EXTRA: "on the target, absent from the snapshot",
        }
        lines = []
        for state, text in described.items():
            lines.append(f"{self.count(state):,} keys {text}")
            shown = (self.samples.get(state.value) or [])[:shown_keys]
            if shown:
                more = self.count(state) - len(shown)
                lines.append("    " + ", ".join(shown) + (f" and {more:,} more" if more > 0 else ""))
        return lines


class RestoreOptions(NamedTuple):
    confirm: bool
    all_keys: bool
    delete_extra: bool


def key_selection(prefixes: Sequence[str], all_keys: bool) -> list[str]:
    """The key prefixes a restore covers: every key ("") with --all-keys, else the migrated models' prefixes (a
    prefix inside another is covered by it)."""
    if all_keys:
        return [""]
    chosen = sorted(set(prefixes))
    return [p for p in chosen if not any(p != other and p.startswith(other) for other in chosen)]


def rdb_version_refusal(snapshot_version: int, target_release: Version | None, snapshot: str) -> str | None:
    """A snapshot newer than anything the target's release reads is refused (its keys cannot be RESTOREd there)."""
    if target_release is None:
        return None
    readable = rdb_version_written_by(target_release)
    if snapshot_version <= readable:
        return None
    return (
        f"the snapshot {snapshot} is RDB version {snapshot_version}, and the target runs Redis "
        f"{format_version(target_release)}, which reads RDB versions up to {readable}: restore it into a Redis of the "
        "snapshot's release or newer; nothing was written"
    )


def dump_version_refusal(loader_release: Version | None, target_release: Version | None, loader: str) -> str | None:
    """The local server that loads the snapshot writes the DUMP payloads the target must RESTORE: it may be no newer
    (in RDB version) than the target."""
    if loader_release is None or target_release is None:
        return None
    written, readable = rdb_version_written_by(loader_release), rdb_version_written_by(target_release)
    if written <= readable:
        return None
    return (
        f"the local redis-server that loads the snapshot ({loader}, Redis {format_version(loader_release)}) writes "
        f"DUMP payloads of RDB version {written}, which the target's Redis {format_version(target_release)} cannot "
        f"RESTORE (it reads up to {readable}): put a redis-server of the target's release first with --rdb-tools-dir "
        "DIR; nothing was written"
    )


def checksum_refusal(path: str, recorded: str | None, actual: str | None) -> str | None:
    """The snapshot file must be the one the run took: present, and with the sha256 the manifest recorded."""
    if actual is None:
        return f"the snapshot {path} is missing; nothing was written"
    if not recorded:
        return f"the manifest records no sha256 for the snapshot {path}: it cannot be trusted; nothing was written"
    if actual != recorded:
        return (
            f"the snapshot {path} does not match the sha256 the manifest recorded ({recorded[:16]}..., the file "
            f"has {actual[:16]}...): it was changed or damaged since the run took it; nothing was written"
        )
    return None


def index_restore_lines(indexes: Sequence[tuple[str, bool]]) -> list[str]:
    """What the restore would do to each (index name, existed before the run) the schema step changed."""
    return [
        f"index {name}: would be put back as the schema step recorded it"
        if existed
        else f"index {name}: would be removed (there was none before the run)"
        for name, existed in indexes
    ]


class SnapshotRestoreReport(BaseModel):
    """What `restore-snapshot` found and did. `before` is the comparison as it started (the dry run's answer),
    `after` the check once the writes are done (with --confirm)."""

    status: Literal["running", "dry_run", "restored", "restore_incomplete", "failed"] = "running"
    redis: str
    backup_dir: str
    other_target: bool = False
    selection: list[str] = Field(default_factory=list)  # key prefixes ("" = every key)
    snapshot_files: list[str] = Field(default_factory=list)
    load_seconds: float = 0.0
    before: RestoreDiff | None = None
    after: RestoreDiff | None = None
    written: int = 0
    deleted: int = 0
    indexes: list[str] = Field(default_factory=list)
    compare_seconds: float = 0.0
    verify_seconds: float = 0.0
    duration_seconds: float = 0.0
    messages: list[str] = Field(default_factory=list)

    def verdict(self, delete_extra: bool) -> str:
        """`restored` when every snapshot key is back (and extras gone with --delete-extra), else incomplete."""
        return "restored" if self.after is not None and self.after.matches(not delete_extra) else "restore_incomplete"
