"""Compare-and-set of hash fields, the only way om-runbook writes to the user's data.

One Lua call per key sets each listed field to its new bytes only if it still holds the expected bytes,
so a value the application changed meanwhile is never overwritten, and repeating a batch is harmless.
Migrate runs it original -> target; rollback runs it target -> original.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import redis
from redis.exceptions import NoScriptError, ResponseError

from migrations.backup_format import KeyBackup
from tasks.resp import encode_command, run_encoded

CAS_SCRIPT = b"""
local out = {}
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if current == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    out[#out + 1] = 1
  elseif current == ARGV[i + 2] then
    out[#out + 1] = 2
  elseif current == false then
    out[#out + 1] = 3
  else
    out[#out + 1] = 0
  end
end
return out
"""


class Outcome(IntEnum):
    CONFLICT = 0  # holds neither value: someone else wrote it; left alone
    WRITTEN = 1
    ALREADY = 2  # already holds the new value (a replayed batch, or the same write by someone else)
    MISSING = 3  # field or key gone


@dataclass
class BatchResult:
    outcomes: Counter[str] = field(default_factory=Counter)
    conflicts: list[tuple[bytes, bytes, str]] = field(default_factory=list)  # key, field, outcome
    errors: list[tuple[bytes, str]] = field(default_factory=list)  # key, message


def load_cas_script(client: redis.Redis) -> bytes:
    """SCRIPT LOAD the CAS script; its sha1 for EVALSHA."""
    sha = client.script_load(CAS_SCRIPT)
    return sha.encode() if isinstance(sha, str) else sha


def _command(sha: bytes, entry: KeyBackup, forward: bool) -> bytes:
    args = [b"EVALSHA", sha, b"1", entry.key]
    for change in entry.changes:
        expected, new = (change.original, change.target) if forward else (change.target, change.original)
        args += [change.field, expected, new]
    return encode_command(args)


def apply_batch(client: redis.Redis, sha: bytes, entries: Sequence[KeyBackup], forward: bool) -> BatchResult:
    """Run the CAS for every entry in one round trip; reloads the script once if the server lost it."""
    payload = b"".join(_command(sha, entry, forward) for entry in entries)
    replies = run_encoded(client, payload, len(entries))
    if any(isinstance(reply, NoScriptError) for reply in replies):
        client.script_load(CAS_SCRIPT)  # server restarted or SCRIPT FLUSH: replaying is safe
        replies = run_encoded(client, payload, len(entries))
    result = BatchResult()
    for entry, reply in zip(entries, replies, strict=True):
        if isinstance(reply, ResponseError):
            result.errors.append((entry.key, str(reply)))
            continue
        for change, code in zip(entry.changes, reply, strict=True):
            outcome = Outcome(code)
            result.outcomes[outcome.name.lower()] += 1
            if outcome in (Outcome.CONFLICT, Outcome.MISSING):
                result.conflicts.append((entry.key, change.field, outcome.name.lower()))
    return result
