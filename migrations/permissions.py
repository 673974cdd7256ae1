"""The Redis commands a run needs, and what to tell the DBA when the Redis user may not run one (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PROBE_KEY_SUFFIX = "om-runbook-permission-check"


@dataclass(frozen=True)
class NeededCommand:
    args: tuple[str, ...]
    purpose: str
    key_pattern: str | None = None  # the ACL key pattern that covers the command's key
    without: str = ""  # the option that does without the command, when there is one

    @property
    def label(self) -> str:
        return " ".join(self.args[:2]) if self.args[0] in ("SCRIPT", "INFO") else self.args[0]


SNAPSHOT_COMMAND = NeededCommand(
    ("SYNC",),
    "the full RDB snapshot through the replication stream (redis-cli --rdb)",
    without="--no-rdb-snapshot (the logical backup still guarantees the exact rollback), after taking the "
    "provider's own snapshot: --snapshot-reference ID records it as the run's full backup",
)


def search_commands(index_names: Sequence[str], alias: bool) -> list[NeededCommand]:
    """What the schema step and its rollback run on each model's index: FT.INFO records what stands, FT.DROPINDEX and
    FT.CREATE replace it (and put it back), FT.SEARCH counts what queries see; the alias mode builds beside it and
    switches an alias."""
    commands = []
    for name in index_names:
        commands += [
            NeededCommand(("FT.INFO", name), f"recording the index {name} before the schema step"),
            NeededCommand(("FT.DROPINDEX", name), f"replacing the index {name} (and putting it back on rollback)"),
            NeededCommand(
                ("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", PROBE_KEY_SUFFIX, "SCHEMA", "f", "NUMERIC"),
                f"creating the 1.x index {name} (and the previous one on rollback)",
            ),
            NeededCommand(("FT.SEARCH", name, "*", "LIMIT", "0", "0"), f"counting what queries of {name} see"),
        ]
        if alias:
            commands += [
                NeededCommand(("FT.ALIASUPDATE", name, name + "-new"), f"switching {name} to the new index"),
                NeededCommand(("FT.ALIASDEL", name), f"switching {name} back on rollback"),
            ]
    return commands


def needed_commands(
    key_prefixes: Sequence[str],
    lease_key: str,
    marker_key: str = "om-runbook:unfinished-run",
    field_ttl: bool = False,
    json_prefixes: Sequence[str] = (),
    index_names: Sequence[str] = (),
    alias: bool = False,
    snapshot: bool = False,
) -> list[NeededCommand]:
    """With `snapshot`, SYNC for the RDB snapshot through the replication stream (redis-cli --rdb).
    Every command (with a key of each model's key space) that assess, backup, migrate and rollback run; with
    `field_ttl` (Redis 7.4+), the commands that keep a hash field's own TTL across the compare-and-set; for the
    JsonModel prefixes (`json_prefixes`, on a server with RedisJSON), JSON.GET and JSON.SET; for the indexes the
    schema step replaces (`index_names`, on a server with RediSearch), the FT.* commands of `search_commands`."""
    commands = [
        NeededCommand(("PING",), "connection check"),
        NeededCommand(("INFO", "memory"), "server facts and resource probe"),
        NeededCommand(("SCAN", "0"), "finding the model keys"),
        NeededCommand(("SCRIPT", "LOAD", "return 1"), "loading the compare-and-set script"),
        NeededCommand(("SET", lease_key, "x", "NX", "PX", "1"), "taking the run lease", lease_key),
        NeededCommand(("EVAL", "return 1", "1", lease_key), "renewing and releasing the run lease", lease_key),
        NeededCommand(("GET", marker_key), "reading the unfinished-run marker", marker_key),
        NeededCommand(("SET", marker_key, "x"), "recording an unfinished run", marker_key),
    ]
    if snapshot:
        commands.append(SNAPSHOT_COMMAND)
    for prefix in key_prefixes:
        key, pattern = prefix + PROBE_KEY_SUFFIX, prefix + "*"
        commands += [
            NeededCommand(("TYPE", key), f"reading keys under {prefix}", pattern),
            NeededCommand(("HGETALL", key), f"reading hashes under {prefix}", pattern),
            NeededCommand(("EVALSHA", "0" * 40, "1", key), f"compare-and-set under {prefix}", pattern),
            NeededCommand(("HGET", key, "f"), f"compare-and-set reads under {prefix}", pattern),
            NeededCommand(("HSET", key, "f", "v"), f"compare-and-set writes under {prefix}", pattern),
            NeededCommand(("HDEL", key, "f"), f"removing the '' redis-om 0.2.x wrote for None under {prefix}", pattern),
        ]
        if field_ttl:
            commands += [
                NeededCommand(("HPEXPIRETIME", key, "FIELDS", "1", "f"), f"keeping field TTLs under {prefix}", pattern),
                NeededCommand(
                    ("HPEXPIREAT", key, "1", "FIELDS", "1", "f"), f"keeping field TTLs under {prefix}", pattern
                ),
            ]
    for prefix in json_prefixes:
        key, pattern = prefix + PROBE_KEY_SUFFIX, prefix + "*"
        commands += [
            NeededCommand(("TYPE", key), f"reading keys under {prefix}", pattern),
            NeededCommand(("EVALSHA", "0" * 40, "1", key), f"compare-and-set under {prefix}", pattern),
            NeededCommand(("JSON.GET", key), f"reading JSON documents under {prefix}", pattern),
            NeededCommand(("JSON.SET", key, "$.f", "1"), f"compare-and-set of JSON documents under {prefix}", pattern),
        ]
    return commands + search_commands(index_names, alias)


def is_key_denial(reason: str) -> bool:
    return "access the" in reason or "access one of the keys" in reason


def is_missing_command(reason: str) -> bool:
    """The server has no such command: renamed or disabled (rename-command), as managed Redis services do."""
    lowered = reason.lower()
    return "not found" in lowered or "unknown command" in lowered


def denial_message(user: str, denials: Sequence[tuple[NeededCommand, str]]) -> str:
    """One message naming what is refused (commands, key patterns), what it is for, and what fixes it: the grant,
    or the option that does without it (a renamed or disabled command cannot be granted)."""
    commands = {command.label: command.purpose for command, reason in denials if not is_key_denial(reason)}
    missing = {command.label for command, reason in denials if is_missing_command(reason)}
    patterns = sorted({c.key_pattern for c, reason in denials if is_key_denial(reason) and c.key_pattern})
    parts = []
    if commands:
        parts.append(
            "commands "
            + ", ".join(
                f"{label} ({purpose}{'; renamed or disabled on this server' if label in missing else ''})"
                for label, purpose in commands.items()
            )
        )
    if patterns:
        parts.append("keys matching " + ", ".join(patterns))
    grants = [f"+{label.lower().replace(' ', '|')}" for label in commands if label not in missing]
    grants += [f"~{p}" for p in patterns]
    remedies = [f"grant them (ACL SETUSER {user} {' '.join(grants)}) and run again"] if grants else []
    remedies += sorted({f"or run with {c.without}" for c, _reason in denials if c.without})
    remedy = "; ".join(remedies)
    return (
        f"the Redis user {user!r} may not use what the migration needs: {'; '.join(parts)}. "
        f"{remedy[:1].upper()}{remedy[1:]}; nothing was written"
    )


def restore_commands(
    key_prefixes: Sequence[str], json_prefixes: Sequence[str], index_names: Sequence[str], delete_extra: bool
) -> list[NeededCommand]:
    """What `restore-snapshot` runs on the target: the reads that compare each key, RESTORE (and DEL with
    --delete-extra) under each prefix ("" for every key), and what puts the recorded indexes back."""
    commands = [NeededCommand(("SCAN", "0"), "finding the keys to compare")]
    for prefix in key_prefixes:
        key, pattern = prefix + PROBE_KEY_SUFFIX, prefix + "*"
        where = f"under {prefix}" if prefix else "(every key)"
        commands += [
            NeededCommand(("TYPE", key), f"comparing keys {where}", pattern),
            NeededCommand(("PEXPIRETIME", key), f"comparing TTLs {where}", pattern),
            NeededCommand(("HGETALL", key), f"comparing hashes {where}", pattern),
            NeededCommand(("RESTORE", key, "0", "x", "REPLACE", "ABSTTL"), f"writing keys back {where}", pattern),
        ]
        if delete_extra:
            commands.append(NeededCommand(("DEL", key), f"deleting keys absent from the snapshot {where}", pattern))
    for prefix in json_prefixes:
        key = prefix + PROBE_KEY_SUFFIX
        commands.append(NeededCommand(("JSON.GET", key), f"comparing JSON documents under {prefix}", prefix + "*"))
    for command in search_commands(index_names, alias=True):
        if command.args[0] in ("FT.INFO", "FT.DROPINDEX", "FT.CREATE", "FT.ALIASDEL"):
            commands.append(command)
    return commands
