"""One chunk of the logical backup against what Redis holds now (reads only): every backed-up field holds its
expected bytes (the conversion after migrate, the original after rollback) and the rest of each record is as backed
up. CPU-bound per key (backup line decoding, digests), so it is kept free of Prefect: worker processes import it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from redis.exceptions import ResponseError

from om_runbook.migrations.backup_format import ChunkBackup, FieldChange, KeyBackup, Problem, digest_other_fields
from om_runbook.migrations.codec import describe_raw
from om_runbook.migrations.json_plan import document_sha1, is_json_digest, others_digest, split_digest
from om_runbook.migrations.json_plan import field_state as json_field_state
from om_runbook.migrations.report import PROBLEM_LIST_LIMIT
from om_runbook.migrations.verification import ChunkCheck, Expect
from om_runbook.tasks.backup_store.backup_format import read_chunk
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.worker_pool import count_done
from om_runbook.tasks.readers.keyspace import read_documents_on, read_hashes_on

SAMPLE_PER_CHUNK = 8  # per model (key prefix), so that every model of a chunk is loaded through the application
SAMPLE_LIMIT = 64  # per chunk, whatever the number of prefixes


def _field_state(current: bytes | None, change, expect: Expect) -> str:
    wanted, other = (change.target, change.original) if expect == "target" else (change.original, change.target)
    if current == wanted:
        return "as_expected"
    if current == other:
        return "not_applied"
    return "missing" if current is None else "changed_by_others"


def _read_back(nodes: RedisNodes, batch: list[KeyBackup]) -> list[object]:
    """Each entry's record as stored now: a hash's fields, or a JSON document's text (by the line's kind)."""
    documents = [position for position, entry in enumerate(batch) if is_json_digest(entry.digest)]
    if not documents:
        return read_hashes_on(nodes, [entry.key for entry in batch])
    replies: list[object] = [None] * len(batch)
    hashes = [position for position, entry in enumerate(batch) if not is_json_digest(entry.digest)]
    for positions, read in ((documents, read_documents_on), (hashes, read_hashes_on)):
        if positions:
            for position, reply in zip(positions, read(nodes, [batch[p].key for p in positions]), strict=True):
                replies[position] = reply
    return replies


def _states_and_rest(entry: KeyBackup, stored: object, expect: Expect) -> tuple[list[str], bool]:
    """Each changed value's state, and whether the rest of the record is as backed up (hash: digest of the other
    fields; JSON: digest of the document without the changed values, or after a rollback its exact sha1)."""
    if is_json_digest(entry.digest):
        if stored is None:
            return ["missing"] * len(entry.changes), True
        document = json.loads(stored)
        states = [json_field_state(document, change, expect) for change in entry.changes]
        sha1, others = split_digest(entry.digest)
        if expect == "original":
            return states, document_sha1(stored) == sha1
        return states, others_digest(document, [change.field.decode() for change in entry.changes]) == others
    states = [_field_state(stored.get(change.field), change, expect) for change in entry.changes]
    rest = not stored or digest_other_fields(stored, (c.field for c in entry.changes)) == entry.digest
    return states, rest


def check_chunk(
    nodes: RedisNodes,
    backup_dir: Path,
    chunk: ChunkBackup,
    expect: Expect,
    batch_size: int,
    advance: Callable[[int], None] = METER.advance,
) -> ChunkCheck:
    """Compare every backed-up key of a chunk with the backup (changed values, and a digest of the rest)."""
    result = ChunkCheck(index=chunk.index)
    counts: Counter[str] = Counter()
    sampled: Counter[bytes] = Counter()  # sampled keys per key prefix
    batch: list[KeyBackup] = []

    def flush() -> None:
        for entry, stored in zip(batch, _read_back(nodes, batch), strict=True):
            result.key_count += 1
            if isinstance(stored, ResponseError) and "WRONGTYPE" in str(stored):
                # re-created as another type since the backup: the application's key now, as the writes left it
                counts["changed_by_others"] += len(entry.changes)
                message = "re-created with another type since the backup: the application's key, left alone"
                _note(result, Problem(kind="changed_by_others", key=describe_raw(entry.key), message=message))
                continue
            if isinstance(stored, ResponseError):
                counts["wrong_type"] += 1
                _note(result, Problem(kind="wrong_type", key=describe_raw(entry.key), message=str(stored)))
                continue
            states, rest_unchanged = _states_and_rest(entry, stored, expect)
            for change, state in zip(entry.changes, states, strict=True):
                counts[state] += 1
                if state != "as_expected":
                    _note(
                        result,
                        Problem(
                            kind=state,
                            key=describe_raw(entry.key),
                            field=change.field.decode("latin-1"),
                            message=f"field is {state.replace('_', ' ')} (expected the {expect})",
                        ),
                    )
            if not rest_unchanged:
                counts["other_fields_changed"] += 1
                _note(
                    result,
                    Problem(
                        kind="other_fields_changed",
                        key=describe_raw(entry.key),
                        message="fields outside the migration differ from the backup",
                    ),
                )
            prefix = entry.key[: entry.key.rfind(b":") + 1]
            if sampled[prefix] < SAMPLE_PER_CHUNK and len(result.sample) < SAMPLE_LIMIT and "as_expected" in states:
                if _add_to_sample(result, entry, entry.changes[states.index("as_expected")]):
                    sampled[prefix] += 1
                else:
                    counts["sample_skipped_not_utf8"] += 1
        advance(len(batch))
        batch.clear()

    for _number, entry in read_chunk(backup_dir, chunk):
        batch.append(entry)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    result.counts = dict(counts)
    return result


def check_chunk_at(redis_url: str, backup_dir: Path, chunk: ChunkBackup, expect: Expect, batch_size: int) -> ChunkCheck:
    """`check_chunk` on connections of its own (a worker process's job)."""
    return check_chunk(open_nodes(redis_url), backup_dir, chunk, expect, batch_size, count_done)


def _add_to_sample(result: ChunkCheck, entry: KeyBackup, change: FieldChange) -> bool:
    """Only fields holding our value are sampled (one the application rewrote has another expected value), and only
    keys redis-om can address: it encodes a pk as UTF-8, so a key that is not UTF-8 text is out of its reach."""
    try:
        key, field = entry.key.decode("utf-8"), change.field.decode("utf-8")
    except UnicodeDecodeError:
        return False
    result.sample.append((key, field, change.original.decode("latin-1")))
    return True


def _note(result: ChunkCheck, problem: Problem) -> None:
    if len(result.problems) < PROBLEM_LIST_LIMIT:
        result.problems.append(problem)
