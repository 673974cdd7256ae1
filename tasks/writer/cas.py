"""Compare-and-set of hash fields, the only way om-runbook writes to the user's data.

One Lua function per key sets each listed field to its new bytes only if it still holds the expected bytes,
so a value the application changed meanwhile is never overwritten, and repeating a batch is harmless. A key
re-created as another type since the backup is the application's: a conflict, left alone. On a Redis Cluster each
key is a script call of its own; without cluster one call runs it for up to KEYS_PER_CALL keys, each key atomic.
Migrate runs it original -> target; rollback runs it target -> original.

From Redis 7.4 a hash field may carry its own TTL (HEXPIRE), and HSET clears it: there the script reads the field's
absolute expiry time before the write and sets it again after, in the same atomic call, so neither migrate nor
rollback changes when a field expires.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias

import redis
from redis.exceptions import NoScriptError, ResponseError

from om_runbook.migrations.errors import RedisAccessError
from om_runbook.migrations.json_plan import is_json_digest, split_digest
from om_runbook.migrations.server_facts import supports_field_ttl
from om_runbook.tasks.io.redis_connection import is_permission_error
from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.io.resp import run_encoded
from om_runbook.tasks.readers.server_facts import read_redis_version

# One key's compare-and-set, ARGV[first..last] in fours: field, expected, new, absence ('e': expected is "no field",
# 'n': new is "no field", '': neither)
_CAS_FUNCTION = """
local function cas(key, first, last)
  local out = {}
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'hash' and kind ~= 'none' then
    for i = first, last, 4 do out[#out + 1] = 0 end
    return out
  end
  for i = first, last, 4 do
    local current = redis.call('HGET', key, ARGV[i])
    local absence = ARGV[i + 3]
    local expected
    if absence == 'e' then expected = current == false else expected = current == ARGV[i + 1] end
    if expected and absence == 'n' then
      redis.call('HDEL', key, ARGV[i])
      out[#out + 1] = 1
    elseif expected then
      WRITE
      out[#out + 1] = 1
    elseif (absence == 'n' and current == false) or (absence ~= 'n' and current == ARGV[i + 2]) then
      out[#out + 1] = 2
    elseif current == false then
      out[#out + 1] = 3
    else
      out[#out + 1] = 0
    end
  end
  return out
end
"""
_ONE_KEY = "return cas(KEYS[1], 1, #ARGV)\n"
# Several keys in one call, on a server without cluster (a script's keys may then lie in any slot): for each key of
# KEYS, ARGV holds its count of fours, then the fours. A key whose write Redis refuses (OOM, NOPERM) gets that error
# in its place, as it would from a call of its own, and the next keys go on.
_SEVERAL_KEYS = """
local replies, at = {}, 1
for k = 1, #KEYS do
  local last = at + 4 * tonumber(ARGV[at])
  local ok, reply = pcall(cas, KEYS[k], at + 1, last)
  if ok then
    replies[k] = reply
  else
    replies[k] = redis.error_reply(type(reply) == 'table' and reply.err or tostring(reply))
  end
  at = last + 1
end
return replies
"""
_WRITE = "redis.call('HSET', key, ARGV[i], ARGV[i + 2])"
# From Redis 7.4 HSET clears a field's own TTL: its absolute expiry time is read before the write and set again after
_WRITE_KEEPING_FIELD_TTL = """local expires = redis.call('HPEXPIRETIME', key, 'FIELDS', 1, ARGV[i])[1]
      redis.call('HSET', key, ARGV[i], ARGV[i + 2])
      if expires > 0 then redis.call('HPEXPIREAT', key, expires, 'FIELDS', 1, ARGV[i]) end"""
CAS_SCRIPT = (_CAS_FUNCTION.replace("WRITE", _WRITE) + _ONE_KEY).encode()
CAS_SCRIPT_KEEPING_FIELD_TTL = (_CAS_FUNCTION.replace("WRITE", _WRITE_KEEPING_FIELD_TTL) + _ONE_KEY).encode()
SEVERAL_KEYS_CAS_SCRIPT = (_CAS_FUNCTION.replace("WRITE", _WRITE) + _SEVERAL_KEYS).encode()
SEVERAL_KEYS_CAS_SCRIPT_KEEPING_FIELD_TTL = (
    _CAS_FUNCTION.replace("WRITE", _WRITE_KEEPING_FIELD_TTL) + _SEVERAL_KEYS
).encode()
# Keys per script call on a server without cluster: a call per key spends about a fifth more of Redis's CPU
KEYS_PER_CALL = 50
# A JSON document (RedisJSON) is written whole or not at all. ARGV[1]: the sha1 the document must still have (migrate),
# or '' (rollback: every value must still hold what the migration wrote); then ARGV in threes: a concrete JSONPath,
# its expected JSON, its new JSON. Values compare as text, or as numbers (RedisJSON prints a float its own way).
JSON_CAS_SCRIPT = b"""
local out = {}
local count = (#ARGV - 1) / 3
local function reply(code)
  for i = 1, count do out[i] = code end
  return out
end
local function holds(path, want)
  local current = redis.call('JSON.GET', KEYS[1], path)
  if not current then return false end
  local inner = string.sub(current, 2, -2)
  if inner == want then return true end
  local a, b = tonumber(inner), tonumber(want)
  return a ~= nil and b ~= nil and a == b
end
local function all_hold(offset)
  for i = 2, #ARGV, 3 do
    if not holds(ARGV[i], ARGV[i + offset]) then return false end
  end
  return true
end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'ReJSON-RL' and kind ~= 'none' then return reply(0) end
local document = redis.call('JSON.GET', KEYS[1])
if not document then return reply(3) end
local expected
if ARGV[1] ~= '' then expected = redis.sha1hex(document) == ARGV[1] else expected = all_hold(1) end
if expected then
  for i = 2, #ARGV, 3 do redis.call('JSON.SET', KEYS[1], ARGV[i], ARGV[i + 2]) end
  return reply(1)
end
if all_hold(2) then return reply(2) end
return reply(0)
"""
Line: TypeAlias = Sequence[str | None]  # a backup line's items, as `parse_line` gives them


@dataclass(frozen=True)
class CasScript:
    text: bytes
    sha: str
    json_sha: str = ""  # the JSON document script's
    several_text: bytes = b""  # the same compare-and-set for several keys in one call (no cluster)
    several_sha: str = ""

    @property
    def texts(self) -> tuple[bytes, ...]:
        return tuple(text for text in (self.text, JSON_CAS_SCRIPT, self.several_text) if text)


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


def cas_scripts_for(nodes: RedisNodes) -> tuple[bytes, bytes]:
    """The scripts for one key and for several keys: keeping field TTLs when every master has them, else plain."""
    if all(supports_field_ttl(read_redis_version(c)) for c in nodes.clients):
        return CAS_SCRIPT_KEEPING_FIELD_TTL, SEVERAL_KEYS_CAS_SCRIPT_KEEPING_FIELD_TTL
    return CAS_SCRIPT, SEVERAL_KEYS_CAS_SCRIPT


def load_cas_script(nodes: RedisNodes) -> CasScript:
    """SCRIPT LOAD the CAS scripts (for hashes, fitting the server, one key and several keys; the JSON one) on every
    master (a sha1 is the script's digest, the same everywhere)."""
    one, several = cas_scripts_for(nodes)
    several = b"" if nodes.is_cluster else several  # a cluster script's keys must share a slot: a call per key
    script = CasScript(one, _sha(one), _sha(JSON_CAS_SCRIPT), several, _sha(several) if several else "")
    for client in nodes.clients:
        for text in script.texts:
            client.script_load(text)
    return script


def _sha(text: bytes) -> str:
    return hashlib.sha1(text).hexdigest()


def json_cas_command_text(sha: str, items: Line, forward: bool) -> str:
    """EVALSHA of the JSON script for one backup line of a JSON document (see JSON_CAS_SCRIPT)."""
    key, digest = items[0], split_digest(items[1])[0] if forward else ""
    parts = [
        f"*{5 + len(items) - 2}\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}\r\n$1\r\n1\r\n${len(key)}\r\n{key}\r\n"
        f"${len(digest)}\r\n{digest}\r\n"
    ]
    for i in range(2, len(items), 3):
        path, expected, new = items[i], items[i + 1], items[i + 2]
        if not forward:
            expected, new = new, expected
        parts.append(f"${len(path)}\r\n{path}\r\n${len(expected)}\r\n{expected}\r\n${len(new)}\r\n{new}\r\n")
    return "".join(parts)


def cas_command_text(sha: str, items: Line, forward: bool) -> str:
    """EVALSHA for one backup line's items ([key, digest, field, original, target, ...], latin-1 strings; a None
    target removes the field), as RESP text: latin-1 maps each character to one byte, so lengths in characters are
    lengths in bytes."""
    key = items[0]
    arguments = 4 + (len(items) - 2) // 3 * 4
    head = f"*{arguments}\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}\r\n$1\r\n1\r\n${len(key)}\r\n{key}\r\n"
    return head + _fours(items, forward)


def several_keys_command_text(sha: str, lines: Sequence[Line], forward: bool) -> str:
    """One EVALSHA of the several-keys script for the lines' keys: KEYS, then for each key its count of fours and
    the fours."""
    count = str(len(lines))
    arguments = 3 + sum(2 + (len(items) - 2) // 3 * 4 for items in lines)
    parts = [f"*{arguments}\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}\r\n${len(count)}\r\n{count}\r\n"]
    parts += [f"${len(items[0])}\r\n{items[0]}\r\n" for items in lines]
    for items in lines:
        fours = str((len(items) - 2) // 3)
        parts.append(f"${len(fours)}\r\n{fours}\r\n" + _fours(items, forward))
    return "".join(parts)


def _fours(items: Line, forward: bool) -> str:
    """A line's fields as the scripts' fours: field, expected, new, absence."""
    parts = []
    for i in range(2, len(items), 3):
        name, expected, new = items[i], items[i + 1], items[i + 2]
        if not forward:
            expected, new = new, expected
        absence = "n" if new is None else "e" if expected is None else ""
        expected, new = expected or "", new or ""
        parts.append(
            f"${len(name)}\r\n{name}\r\n${len(expected)}\r\n{expected}\r\n${len(new)}\r\n{new}\r\n"
            f"${len(absence)}\r\n{absence}\r\n"
        )
    return "".join(parts)


def _commands(script: CasScript, lines: Sequence[Line], forward: bool) -> tuple[list[str], list[int]]:
    """The batch's commands in the lines' order, and how many lines each covers: runs of hash lines go several keys
    to a call when the script for that is loaded (no cluster), a JSON document's line is a call of its own."""
    commands: list[str] = []
    spans: list[int] = []
    start = 0
    while start < len(lines):
        if is_json_digest(lines[start][1]):
            commands.append(json_cas_command_text(script.json_sha, lines[start], forward))
            spans.append(1)
            start += 1
            continue
        end = start + 1
        while (
            script.several_text
            and end < len(lines)
            and end - start < KEYS_PER_CALL
            and not is_json_digest(lines[end][1])
        ):
            end += 1
        if end - start == 1:
            commands.append(cas_command_text(script.sha, lines[start], forward))
        else:
            commands.append(several_keys_command_text(script.several_sha, lines[start:end], forward))
        spans.append(end - start)
        start = end
    return commands, spans


def _per_line(replies: list[object], spans: list[int]) -> list[object]:
    """One reply per line: a several-keys call's list is its keys' replies; its refusal as a whole (an error) is
    each of its keys'."""
    per_line: list[object] = []
    for reply, span in zip(replies, spans, strict=True):
        if span == 1:
            per_line.append(reply)
        elif isinstance(reply, list) and len(reply) == span:
            per_line += reply
        elif isinstance(reply, ResponseError):
            per_line += [reply] * span
        else:
            raise RuntimeError(f"unexpected compare-and-set reply {reply!r} for {span} keys")
    return per_line


_OUTCOME_NAMES = {outcome.value: outcome.name.lower() for outcome in Outcome}


def apply_batch_on(nodes: RedisNodes, script: CasScript, lines: Sequence[Line], forward: bool) -> BatchResult:
    """`apply_batch` with the lines grouped by the master owning their key: one round trip per master."""
    if not nodes.is_cluster:
        return apply_batch(nodes.nodes[0].client, script, lines, forward)
    result = BatchResult()
    for client, positions in nodes.split([items[0].encode("latin-1") for items in lines]):
        part = apply_batch(client, script, [lines[position] for position in positions], forward)
        result.outcomes.update(part.outcomes)
        result.conflicts += part.conflicts
        result.errors += part.errors
    return result


def apply_batch(client: redis.Redis, script: CasScript, lines: Sequence[Line], forward: bool) -> BatchResult:
    """Run the CAS for every backup line in one round trip; reloads the script once if the server lost it."""
    commands, spans = _commands(script, lines, forward)
    payload = "".join(commands).encode("latin-1")
    replies = run_encoded(client, payload, len(commands))
    if any(isinstance(reply, NoScriptError) for reply in replies):
        for text in script.texts:  # server restarted or SCRIPT FLUSH: replaying is safe
            client.script_load(text)
        replies = run_encoded(client, payload, len(commands))
    result = BatchResult()
    outcomes = result.outcomes
    for items, reply in zip(lines, _per_line(replies, spans), strict=True):
        if isinstance(reply, ResponseError) and is_permission_error(reply):
            raise RedisAccessError(
                f"Redis refused the write for lack of permission ({reply}); grant it and run again: the run "
                "resumes from its checkpoints, and no key holds a half-applied change"
            )
        if isinstance(reply, ResponseError):
            result.errors.append((items[0].encode("latin-1"), str(reply)))
            continue
        if len(reply) * 3 != len(items) - 2:
            raise RuntimeError(f"unexpected compare-and-set reply {reply!r}")
        for position, code in enumerate(reply):
            name = _OUTCOME_NAMES[code]
            outcomes[name] += 1
            if code == Outcome.CONFLICT or code == Outcome.MISSING:
                field = items[2 + 3 * position].encode("latin-1")
                result.conflicts.append((items[0].encode("latin-1"), field, name))
    return result
