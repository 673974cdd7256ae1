"""The logical backup's format: one JSON line per key, a manifest with counts and checksums (pure).

A line is `[key, digest, field, original, target, field, original, target, ...]`; bytes travel as
latin-1 strings, so any byte sequence (binary keys, non-UTF-8 values) round-trips exactly and ASCII
stays readable. A `null` target means "remove the field" (redis-om 1.x writes None by omitting it).
`digest` covers every field of the hash that the migration does not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from om_runbook.migrations.codec import ValueClass
from om_runbook.migrations.server_identity import ServerIdentity

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


class FieldChange(NamedTuple):
    field: bytes
    original: bytes
    target: bytes | None  # None: the field is removed


class KeyBackup(NamedTuple):
    key: bytes
    digest: str
    changes: tuple[FieldChange, ...]


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _raw(value: str) -> bytes:
    return value.encode("latin-1")


def _optional_text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _optional_raw(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1")


_LINE_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with these arguments builds one per call


def encode_line(entry: KeyBackup) -> str:
    items = [_text(entry.key), entry.digest]
    for field, original, target in entry.changes:
        items += [_text(field), _text(original), _optional_text(target)]
    return _LINE_ENCODER.encode(items) + "\n"


def parse_line(line: str) -> list[str | None]:
    """A line's items as latin-1 strings: [key, digest, field, original, target, ...] (the hot path's form); a
    target is None where the field is removed."""
    items = json.loads(line)
    if not isinstance(items, list) or len(items) < 2 or (len(items) - 2) % 3:
        raise ValueError("corrupt backup line: field triplets are incomplete")
    return items


def decode_line(line: str) -> KeyBackup:
    items = parse_line(line)
    key, digest, rest = items[0], items[1], items[2:]
    changes = tuple(
        FieldChange(_raw(rest[i]), _raw(rest[i + 1]), _optional_raw(rest[i + 2])) for i in range(0, len(rest), 3)
    )
    return KeyBackup(_raw(key), digest, changes)


def digest_other_fields(fields: dict[bytes, bytes], changed: Iterable[bytes]) -> str:
    """Order-independent digest of a hash's fields, leaving out the ones we change."""
    skip = set(changed)
    hasher = hashlib.blake2b(digest_size=16)
    for name in sorted(fields):
        if name not in skip:
            value = fields[name]
            hasher.update(b"%d:%s%d:%s" % (len(name), name, len(value), value))
    return hasher.hexdigest()


class ChunkBackup(BaseModel):
    """One chunk file: a hash-slot range of the first scan, or a catch-up round of values found later."""

    index: int
    first_slot: int
    last_slot: int
    file: str
    kind: Literal["slots", "catch-up"] = "slots"
    node: str = ""  # the cluster master that owned the slots at the backup (host:port), for the report
    key_count: int = 0
    fields: int = 0
    sha256: str = ""


class TargetInfo(BaseModel):
    name: str
    storage: str
    key_prefix: str
    fields: list[str]


class SnapshotInfo(BaseModel):
    """The full RDB snapshot, or why there is none."""

    taken: bool
    path: str | None = None
    size_bytes: int = 0
    sha256: str | None = None
    check_passed: bool = False
    restore_tested: bool = False
    source_keys: int | None = None
    restored_keys: int | None = None
    sample_keys_compared: int = 0
    sample_keys_equal: int = 0
    load_seconds: float = 0.0  # the restore test's load of the snapshot into a throwaway server
    restore_keys_per_second: float = 0.0  # restore-snapshot's per-key work, measured on a sample in the restore test
    note: str = ""
    provider_reference: str | None = None  # --snapshot-reference: the provider's snapshot is the full backup
    provider_taken_at: str | None = None
    node: str = ""  # on a cluster: the master this part was taken from
    parts: list[SnapshotInfo] = Field(default_factory=list)  # on a cluster: one snapshot per master

    def restore_matches(self, keys_with_ttl: int) -> bool:
        """Every sampled key equal, and every key restored but those with a TTL (Redis drops a key whose TTL
        passed while it loads the snapshot: short-lived keys may be gone by the restore test)."""
        source, restored = self.source_keys or 0, self.restored_keys or 0
        keys_equal = self.sample_keys_equal == self.sample_keys_compared
        return keys_equal and source - keys_with_ttl <= restored <= source

    @property
    def digests(self) -> str:
        """The sha256 of the snapshot file, or of each master's file on a cluster."""
        if self.parts:
            return "; ".join(f"{part.node} `{part.sha256}`" for part in self.parts)
        return f"`{self.sha256}`"


def combine_snapshots(parts: list[SnapshotInfo], directory: str) -> SnapshotInfo:
    """One master's snapshot per part (a cluster) as one record: totals, with every part kept."""
    combined = SnapshotInfo(
        taken=True,
        path=directory,
        size_bytes=sum(part.size_bytes for part in parts),
        check_passed=all(part.check_passed for part in parts),
        restore_tested=all(part.restore_tested for part in parts),
        source_keys=sum(part.source_keys or 0 for part in parts),
        restored_keys=sum(part.restored_keys or 0 for part in parts),
        sample_keys_compared=sum(part.sample_keys_compared for part in parts),
        sample_keys_equal=sum(part.sample_keys_equal for part in parts),
        load_seconds=sum(part.load_seconds for part in parts),  # restore-snapshot loads them one after the other
        restore_keys_per_second=min((part.restore_keys_per_second for part in parts), default=0.0),
        parts=parts,
    )
    combined.note = (
        f"{len(parts)} masters, each restore-tested: {combined.restored_keys} keys, "
        f"{combined.sample_keys_equal} sampled keys equal"
    )
    return combined


class Problem(BaseModel):
    """A value or key we did not (or could not) change, with a one-line reason."""

    kind: str
    key: str
    field: str | None = None
    value: str | None = None
    message: str


class BackupManifest(BaseModel):
    format_version: int = FORMAT_VERSION
    status: Literal["in_progress", "complete", "rolled_back"] = "in_progress"
    created_at: str
    redis: str = Field(description="redacted URL of the server backed up")
    models: str
    naive_timezone: str
    targets: list[TargetInfo]
    chunks: list[ChunkBackup]
    chunks_requested: int | None = None  # a cluster plan has more: ranges are also cut where the master changes
    keys_scanned: int = 0
    keys_changed: int = 0
    fields_changed: int = 0
    value_counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list)
    problem_counts: dict[str, int] = Field(default_factory=dict)
    snapshot: SnapshotInfo | None = None
    duration_seconds: float = 0.0
    server: ServerIdentity | None = None  # the Redis backed up (None: a manifest from before it was recorded)


def unreadable_count(manifest: BackupManifest) -> int:
    """Values the scan could not read as a datetime (unparseable, or a key of the wrong type): failed before any
    write."""
    unparseable = sum(c.get(ValueClass.UNPARSEABLE.value, 0) for c in manifest.value_counts.values())
    return unparseable + manifest.problem_counts.get("wrong_type", 0)


def already_converted_count(manifest: BackupManifest) -> int:
    """Values the scan found already in the 1.x form (converted by an earlier run)."""
    return sum(c.get(ValueClass.CONVERTED.value, 0) for c in manifest.value_counts.values())


# what a run writes at the top of its backup directory
OWN_ENTRIES = frozenset(
    {MANIFEST_NAME, "chunks", "progress", "rdb", "schema", "archive", "control.json", "status.json", "timeline.json"}
)


def _is_own_entry(name: str) -> bool:
    """A run's own file or folder, or an atomic write's temporary file (`status.json.1234.tmp`) left by a process
    that died."""
    return name in OWN_ENTRIES or (name.endswith(".tmp") and any(name.startswith(own + ".") for own in OWN_ENTRIES))


def foreign_directory_refusal(path: str, entries: list[str]) -> str | None:
    """A refusal for a --backup-dir that is `/`, or holds files that are not a backup of ours (a run writes, and a
    refusal removes, files there); None for a new, empty or own directory."""
    if path == "/":
        return "--backup-dir / is refused: give a directory of its own for the backups; nothing was written"
    foreign = sorted(name for name in entries if not _is_own_entry(name))
    if MANIFEST_NAME in entries or not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    return (
        f"--backup-dir {path} holds files that are not an om-runbook backup ({shown}): give a new or empty "
        "directory; nothing was written"
    )
