"""One pass over a model's keys: read each record (a hash, or a JsonModel's JSON document) and plan its changes
(shared by assess, backup and verification's rescan)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from om_runbook.migrations.backup_format import Problem, digest_other_fields
from om_runbook.migrations.codec import describe_raw
from om_runbook.migrations.json_plan import document_digest, plan_document
from om_runbook.migrations.key_plan import KeyPlan, field_specs, plan_hash, wrong_type_problem
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget, Storage
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes
from om_runbook.tasks.readers.keyspace import key_type, read_documents, read_hashes, scan_key_batches


@dataclass(frozen=True, slots=True)
class PlannedKey:
    key: bytes
    stored: dict[bytes, bytes] | bytes  # a hash's fields, or a JSON document's text
    plan: KeyPlan

    @property
    def backup_digest(self) -> str:
        """The backup line's digest: of a hash's other fields, or of a JSON document (see migrations/json_plan.py)."""
        if isinstance(self.stored, bytes):
            return document_digest(self.stored, self.plan.changes)
        return digest_other_fields(self.stored, (change.field for change in self.plan.changes))


def planned_keys(
    nodes: RedisNodes,
    target: ModelTarget,
    zone: tzinfo,
    batch_size: int,
    tally: Tally,
    keep: Callable[[bytes], bool] | None = None,
    advance: Callable[[int], None] = METER.advance,
) -> Iterator[PlannedKey]:
    """Every record (a hash, or a JsonModel's JSON document) under the target's prefix, on every master, with its plan;
    wrong types and vanished keys go to `tally`. With `keep`, only the keys it accepts (a worker's share)."""
    if target.storage is Storage.JSON:
        kind = RecordKind(
            "a JSON document", read_documents, lambda key, raw: plan_document(key, raw, target.fields, zone)
        )
    else:
        specs = field_specs(target.fields)
        kind = RecordKind("a hash", read_hashes, lambda key, stored: plan_hash(key, stored, specs, zone))
    for client in nodes.clients:
        yield from _planned_records_on(client, target, kind, batch_size, tally, keep, advance)


@dataclass(frozen=True)
class RecordKind:
    """How one kind of record store is read and planned: hashes (HGETALL) or JSON documents (JSON.GET)."""

    name: str
    read: Callable[[Redis, list[bytes]], list]
    plan: Callable[[bytes, Any], KeyPlan]


def _planned_records_on(
    client: Redis,
    target: ModelTarget,
    kind: RecordKind,
    batch_size: int,
    tally: Tally,
    keep: Callable[[bytes], bool] | None,
    advance: Callable[[int], None],
) -> Iterator[PlannedKey]:
    bookkeeping = target.bookkeeping_keys
    for batch in scan_key_batches(client, target.key_prefix, batch_size):
        found = batch if keep is None else [key for key in batch if keep(key)]
        advance(len(found))
        keys = [key for key in found if key not in bookkeeping]
        tally.bookkeeping_keys += len(found) - len(keys)
        for key, stored in zip(keys, kind.read(client, keys), strict=True):
            tally.keys_scanned += 1
            if isinstance(stored, ResponseError):
                tally.add_problem(wrong_type_problem(key, key_type(client, key), kind.name))
                continue
            if not stored:  # {} from HGETALL, None from JSON.GET
                tally.add_problem(
                    Problem(kind="vanished", key=describe_raw(key), message="key deleted during the scan")
                )
                continue
            plan = kind.plan(key, stored)
            tally.add_classes(target.name, plan.classes)
            for problem in plan.problems:
                tally.add_problem(problem)
            yield PlannedKey(key, stored, plan)
