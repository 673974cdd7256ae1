"""Whole-keyspace fingerprints and their comparison, for proving a rollback byte-identical (pure)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import digest_other_fields
from om_runbook.migrations.codec import describe_raw


def hash_fingerprint(fields: dict[bytes, bytes]) -> bytes:
    """Order-independent digest of every field and value of a hash (the backup's digest, leaving nothing out)."""
    return bytes.fromhex(digest_other_fields(fields, ()))


def other_fingerprint(kind: bytes, payload: bytes | None, has_ttl: bool) -> bytes:
    """Digest of a non-hash key's DUMP payload, its type and whether it expires."""
    return hashlib.blake2b(b"%s|%d|%s" % (kind, has_ttl, payload or b""), digest_size=16).digest()


class KeyspaceDiff(BaseModel):
    keys_before: int
    keys_after: int
    missing: int = 0
    added: int = 0
    changed: int = 0
    examples: list[str] = Field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.missing or self.added or self.changed)


def compare_fingerprints(before: dict[bytes, bytes], after: dict[bytes, bytes], examples: int = 10) -> KeyspaceDiff:
    diff = KeyspaceDiff(keys_before=len(before), keys_after=len(after))
    for key, digest in before.items():
        found = after.get(key)
        if found is None:
            diff.missing += 1
        elif found != digest:
            diff.changed += 1
        else:
            continue
        if len(diff.examples) < examples:
            diff.examples.append(f"{'missing' if found is None else 'changed'}: {describe_raw(key)}")
    for key in after.keys() - before.keys():
        diff.added += 1
        if len(diff.examples) < examples:
            diff.examples.append(f"added: {describe_raw(key)}")
    return diff
