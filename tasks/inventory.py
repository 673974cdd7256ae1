"""One pass over a model's keys: read each record (a hash, or a JsonModel's JSON document) and plan its changes
(shared by assess, backup and verification's rescan)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo

from redis import Redis
from redis.exceptions import ResponseError

from migrations.backup_format import Problem, digest_other_fields
from migrations.codec import describe_raw
from migrations.json_plan import document_digest, plan_document
from migrations.key_plan import FieldSpecs, KeyPlan, field_specs, plan_hash, wrong_type_problem
from migrations.tally import Tally
from migrations.targets import ModelTarget, Storage
from tasks.keyspace import key_type, read_documents, read_hashes, scan_key_batches
from tasks.progress_meter import METER
from tasks.redis_io.redis_nodes import RedisNodes


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
    nodes: RedisNodes, target: ModelTarget, zone: tzinfo, batch_size: int, tally: Tally
) -> Iterator[PlannedKey]:
    """Every hash under the target's prefix (on every master) with its plan; wrong types and vanished keys go to
    `tally`."""
    specs = field_specs(target.fields)
    for client in nodes.clients:
        if target.storage is Storage.JSON:
            yield from _planned_documents_on(client, target, batch_size, tally, zone)
        else:
            yield from _planned_keys_on(client, target, specs, batch_size, tally, zone)


def _planned_keys_on(
    client: Redis, target: ModelTarget, specs: FieldSpecs, batch_size: int, tally: Tally, zone: tzinfo
) -> Iterator[PlannedKey]:
    bookkeeping = target.bookkeeping_keys
    for found in scan_key_batches(client, target.key_prefix, batch_size):
        METER.advance(len(found))
        keys = [key for key in found if key not in bookkeeping]
        tally.bookkeeping_keys += len(found) - len(keys)
        for key, stored in zip(keys, read_hashes(client, keys), strict=True):
            tally.keys_scanned += 1
            if isinstance(stored, ResponseError):
                tally.add_problem(wrong_type_problem(key, key_type(client, key)))
                continue
            if not stored:
                tally.add_problem(
                    Problem(kind="vanished", key=describe_raw(key), message="key deleted during the scan")
                )
                continue
            plan = plan_hash(key, stored, specs, zone)
            tally.add_classes(target.name, plan.classes)
            for problem in plan.problems:
                tally.add_problem(problem)
            yield PlannedKey(key, stored, plan)


def _planned_documents_on(
    client: Redis, target: ModelTarget, batch_size: int, tally: Tally, zone: tzinfo
) -> Iterator[PlannedKey]:
    bookkeeping = target.bookkeeping_keys
    for found in scan_key_batches(client, target.key_prefix, batch_size):
        METER.advance(len(found))
        keys = [key for key in found if key not in bookkeeping]
        tally.bookkeeping_keys += len(found) - len(keys)
        for key, document in zip(keys, read_documents(client, keys), strict=True):
            tally.keys_scanned += 1
            if isinstance(document, ResponseError):
                tally.add_problem(wrong_type_problem(key, key_type(client, key), "a JSON document"))
                continue
            if document is None:
                tally.add_problem(
                    Problem(kind="vanished", key=describe_raw(key), message="key deleted during the scan")
                )
                continue
            plan = plan_document(key, document, target.fields, zone)
            tally.add_classes(target.name, plan.classes)
            for problem in plan.problems:
                tally.add_problem(problem)
            yield PlannedKey(key, document, plan)
