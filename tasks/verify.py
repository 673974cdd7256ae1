"""Checklist phase "Migration verification" (reads only), and the check after a rollback.

- every backed-up field holds its expected bytes (the conversion after migrate, the original after
  rollback), and every other field of the key is unchanged (digest);
- no legacy value is left except the reported ones;
- a sample loads through the application's redis-om 1.x model equal to the original instant.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import NamedTuple

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import SecretStr, ValidationError

from om_runbook.migrations.backup_format import ChunkBackup, Problem
from om_runbook.migrations.codec import ValueClass, classify_value, describe_raw, expected_value, same_instant
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.index_visibility import (
    IndexTally,
    IndexVerdict,
    RangeTally,
    numeric_fields,
    range_cuts,
    sortable_fields,
)
from om_runbook.migrations.json_plan import (
    json_path_of,
    model_path,
    model_value_at,
    numeric_view,
    plan_document,
)
from om_runbook.migrations.report import PROBLEM_LIST_LIMIT
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget, Storage
from om_runbook.migrations.verification import ChunkCheck, Expect
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_connection import open_client
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.io.worker_pool import WorkerPool
from om_runbook.tasks.readers.chunk_check import check_chunk_at
from om_runbook.tasks.readers.inventory import planned_keys
from om_runbook.tasks.readers.keyspace import keys_in_database
from om_runbook.tasks.readers.model_reads import models_reading_from, resolved, run_coroutine
from om_runbook.tasks.schema import index_plans, visible_documents


def count_legacy_left(
    nodes: RedisNodes,
    targets: list[ModelTarget],
    zone: tzinfo,
    batch_size: int,
    indexes: dict[str, IndexTally] | None = None,
) -> tuple[int, list[Problem]]:
    """Rescan every target: how many legacy (still convertible) values remain, with examples; each target's search
    index (in `indexes`, by target name) counts the documents it should hold and the ones it cannot."""
    tally = Tally()
    METER.begin("verify: rescan for legacy values", keys_in_database(nodes))
    left, examples = 0, []
    for target in targets:
        index = (indexes or {}).get(target.name)
        for planned in planned_keys(nodes, target, zone, batch_size, tally):
            if index is not None:
                stored = planned.stored
                view = numeric_view(stored, index.numeric) if isinstance(stored, bytes) else stored
                index.add(planned.key, view, PROBLEM_LIST_LIMIT)
            for change in planned.plan.changes:
                left += 1
                if len(examples) < PROBLEM_LIST_LIMIT:
                    examples.append(
                        Problem(
                            kind="legacy_left",
                            key=describe_raw(planned.key),
                            field=change.field.decode("latin-1"),
                            value=describe_raw(change.original),
                            message="legacy value still present after the migration",
                        )
                    )
    return left, examples


def _refused_fields(exc: Exception, stored: dict[bytes, bytes]) -> set[str]:
    """The fields a failed load names: pydantic's error locations, else the values that are not UTF-8 text (redis-py
    cannot decode them); empty when the failure names no field."""
    if isinstance(exc, ValidationError):
        locations = [error.get("loc") or () for error in exc.errors()]
        return {str(location[0]) for location in locations} if all(locations) else set()
    # any other error: redis-py fails to decode a value that is not UTF-8 text (the exception differs by parser)
    return {name.decode("latin-1") for name, value in stored.items() if not _is_utf8(name + value)}


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _refused_unchanged(key: str, field: str, reason: str, refused: set[str]) -> Problem:
    return Problem(
        kind="model_load_refused_unchanged_data",
        key=key,
        field=field,
        message=f"{reason}; refused values the migration did not change ({', '.join(sorted(refused))})",
    )


def _json_load_failure(
    raw_reader: redis.Redis, key: str, field: str, target: ModelTarget, zone: tzinfo, exc: Exception, reason: str
) -> Problem:
    """A JSON document: refused data the migration did not change when every location pydantic names holds a value
    the migration reported unconvertible and left alone."""
    raw = raw_reader.execute_command("JSON.GET", key.encode("utf-8"))
    if raw is None:
        return Problem(kind="sample_key_gone", key=key, field=field, message="deleted or expired since its check")
    left_alone = {problem.field for problem in plan_document(key.encode("utf-8"), raw, target.fields, zone).problems}
    if isinstance(exc, ValidationError):
        refused = {json_path_of(error.get("loc") or ()) for error in exc.errors()}
        if refused and refused <= left_alone and field not in refused:
            return _refused_unchanged(key, field, reason, refused)
    return Problem(kind="model_load_failed", key=key, field=field, message=reason)


def _load_failure(
    raw_reader: redis.Redis, key: str, field: str, target: ModelTarget, zone: tzinfo, exc: Exception
) -> Problem:
    """A failed Model.get(). A key gone since its check, or a failure that names only fields holding no converted
    timestamp (a required field missing, a value reported unconvertible, binary data), is reported as such: the model
    refuses data the migration did not change. Anything else fails the verification."""
    reason = f"{target.name}.get() failed: {type(exc).__name__}: {exc}"[:500]
    if target.storage is Storage.JSON:
        return _json_load_failure(raw_reader, key, field, target, zone, exc, reason)
    stored = raw_reader.hgetall(key.encode("utf-8"))
    if not stored:
        return Problem(kind="sample_key_gone", key=key, field=field, message="deleted or expired since its check")
    classes = {
        datetime_field.name: classify_value(
            stored.get(datetime_field.name.encode()), datetime_field.kind, zone
        ).value_class
        for datetime_field in target.fields
    }
    refused = _refused_fields(exc, stored)
    if not refused and not isinstance(exc, ValidationError):
        # redis-om's own converter raised outside pydantic (OverflowError on a value like '2' * 1,000,000): the
        # failure names no field, so it is put on the values the migration reported unconvertible and left alone;
        # never on the sampled field, which the migration wrote
        refused = {name for name, value_class in classes.items() if value_class is ValueClass.UNPARSEABLE} - {field}
    if refused:
        converted = {name for name, value_class in classes.items() if value_class is ValueClass.CONVERTED}
        if not refused & converted:
            return _refused_unchanged(key, field, reason, refused)
    return Problem(kind="model_load_failed", key=key, field=field, message=reason)


def check_sample_with_models(
    redis_url: str,
    targets: list[ModelTarget],
    sample: list[tuple[str, str, str]],
    zone: tzinfo,
    cluster: bool = False,
) -> tuple[int, int, list[Problem]]:
    """Load sampled keys with the application's own redis-om 1.x models (sync or async), through the run's
    connection; compare with the originals. Returns (loaded, equal, problems)."""
    raw_reader = open_client(redis_url, cluster=cluster, ping=False)
    loaded = equal = 0
    problems: list[Problem] = []
    for target in targets:
        mine = [item for item in sample if item[0].startswith(target.key_prefix)]
        if not mine:
            continue
        model = target.load_class()
        answers = run_coroutine(_load_sample(model, target, mine, redis_url, cluster))
        kinds = {datetime_field.name: datetime_field.kind for datetime_field in target.fields}
        kinds |= {datetime_field.json_path: datetime_field.kind for datetime_field in target.fields}
        is_json = target.storage is Storage.JSON
        for (key, field, original), answer in zip(mine, answers, strict=True):
            if isinstance(answer, Exception):  # the application's model refusing the data is exactly the finding
                problems.append(_load_failure(raw_reader, key, field, target, zone, answer))
                continue
            loaded += 1
            value = answer.value
            legacy = _sampled_text(original, target.storage)
            kind = kinds[model_path(field)] if is_json else kinds[field]
            # an original '' (0.2.x's None) was removed: the model must read None
            expected = expected_value(legacy, kind, zone) if legacy else None
            if value is None if expected is None else same_instant(value, expected):
                equal += 1
            else:
                problems.append(
                    Problem(
                        kind="model_value_differs",
                        key=key,
                        field=field,
                        value=str(value),
                        message=f"expected {expected.isoformat() if expected else None}",
                    )
                )
    return loaded, equal, problems


class _Loaded(NamedTuple):
    value: object


async def _load_sample(
    model: type, target: ModelTarget, sample: list[tuple[str, str, str]], url: str, cluster: bool
) -> list[_Loaded | Exception]:
    """Each sampled field's value as `Model.get()` reads it, or the exception it raised."""
    answers: list[_Loaded | Exception] = []
    async with models_reading_from(model, url, cluster):
        for key, field, _original in sample:
            try:
                record = await resolved(model.get(key[len(target.key_prefix) :]))
                value = model_value_at(record, field) if target.storage is Storage.JSON else getattr(record, field)
            except Exception as exc:  # reported by the caller, with what the stored data says
                answers.append(exc)
                continue
            answers.append(_Loaded(value))
    return answers


@task(name="verify-chunk", cache_policy=NONE, **IO_TASK_OPTIONS)
def verify_chunk_task(
    redis_url: SecretStr, backup_dir: Path, chunk: ChunkBackup, expect: Expect, batch_size: int, workers: WorkerPool
) -> ChunkCheck:
    """Read-only comparison of one chunk's keys with the backup (in a worker process when the phase opened them)."""
    return workers.run(check_chunk_at, redis_url.get_secret_value(), backup_dir, chunk, expect, batch_size)


def _index_tallies(
    settings: RunSettings, targets: list[ModelTarget], has_search: bool, sample: list[tuple[str, str, str]]
) -> dict[str, IndexTally]:
    """The 1.x index of each target, when the schema step applied them (search module, database 0), with range
    tallies for its indexed datetime fields, cut at sampled values."""
    if not has_search or settings.schema_mode == "skip":
        return {}
    plans = {plan.model: plan for plan in index_plans(targets)}
    tallies = {}
    for target in targets:
        plan = plans.get(target.name)
        if plan is None:
            continue
        numeric, sortable = numeric_fields(plan.schema), sortable_fields(plan.schema)
        ranges = []
        for field in target.fields:
            stored_as = field.json_path if target.storage is Storage.JSON else field.name
            if len(field.path) != 1 or stored_as not in numeric:
                continue  # range queries on top-level indexed fields
            originals = [
                _sampled_text(raw, target.storage)
                for key, name, raw in sample
                if name == stored_as and key.startswith(target.key_prefix)
            ]
            cuts = range_cuts(originals, field.kind, settings.zone)
            ranges.append(RangeTally(field.name, cuts, stored_as in sortable, stored_as.encode()))
        tallies[target.name] = IndexTally(plan.index_name, tuple(name.encode() for name in numeric), ranges=ranges)
    return tallies


def _sampled_text(original: str, storage: Storage) -> bytes:
    """A sampled original as the legacy text: hash values are the bytes, JSON values their JSON text."""
    if storage is Storage.JSON:
        value = json.loads(original.encode("latin-1"))
        return value.encode("utf-8") if isinstance(value, str) else b""
    return original.encode("latin-1")


def check_range_queries(
    url: str, targets: list[ModelTarget], tallies: dict[str, IndexTally]
) -> tuple[str, list[Problem]]:
    """redis-om 1.x range queries (`find(field >= t).count()`) and sorts (`sort_by(field).first()`) through the
    application's models (sync or async), against the counts and the smallest value read from the keys."""
    asked, problems = 0, []
    for target in targets:
        tally = tallies.get(target.name)
        if tally is None or not tally.ranges:
            continue
        model = target.load_class()
        try:
            asked += run_coroutine(_ask_range_queries(target, model, tally.ranges, problems, url))
        except Exception as exc:  # a query the application's models cannot run is exactly the finding
            asked += 1
            problems.append(_range_problem(target, "-", "query", f"{type(exc).__name__}: {exc}"[:300], "an answer"))
    if not asked:
        return "no indexed datetime field with sampled values: range queries not run", problems
    if problems:
        return f"FAILED: {len(problems)} of {asked} range queries and sorts differ from the stored values", problems
    return f"passed: {asked} range queries and sorts through the models match the stored values", problems


async def _ask_range_queries(
    target: ModelTarget, model: type, ranges_of_fields: list[RangeTally], problems: list[Problem], url: str
) -> int:
    asked = 0
    async with models_reading_from(model, url):
        for ranges in ranges_of_fields:
            column = getattr(model, ranges.field)
            for cut, expected in zip(ranges.cuts, ranges.at_or_after, strict=True):
                asked += 1
                answer = await resolved(model.find(column >= datetime.fromtimestamp(cut, timezone.utc)).count())
                if answer != expected:
                    problems.append(_range_problem(target, ranges.field, f">= {cut!r}", answer, expected))
            if ranges.sortable and ranges.smallest is not None:
                asked += 1
                first = getattr(await resolved(model.find().sort_by(ranges.field).first()), ranges.field)
                if not same_instant(first, datetime.fromtimestamp(ranges.smallest, timezone.utc)):
                    problems.append(_range_problem(target, ranges.field, "sort_by first", first, ranges.smallest))
    return asked


def _range_problem(target: ModelTarget, field: str, query: str, answer: object, expected: object) -> Problem:
    return Problem(
        kind="range_query_differs",
        key=target.name,
        field=field,
        value=str(answer),
        message=f"{target.name}.find() {field} {query}: answered {answer}, the stored values say {expected}",
    )


def _index_verdicts(
    client: redis.Redis, tallies: dict[str, IndexTally], timeout_seconds: float
) -> tuple[list[IndexVerdict], list[Problem]]:
    verdicts, problems = [], []
    for tally in tallies.values():
        visible = visible_documents(client, tally.index_name, timeout_seconds)
        verdicts.append(IndexVerdict(tally.index_name, tally.documents, tally.invisible, visible))
        problems += tally.examples
    return verdicts, problems


@task(name="verify-leftovers-and-models", cache_policy=NONE, **IO_TASK_OPTIONS)
def verify_leftovers_task(
    settings: RunSettings,
    targets: list[ModelTarget],
    sample: list[tuple[str, str, str]],
    has_search: bool,
    rescan: bool,
) -> tuple[
    tuple[int, list[Problem]] | None, tuple[int, int, list[Problem]], str, tuple[list[IndexVerdict], list[Problem]]
]:
    """Read-only: count what queries see, load a sample through the application's models; a rescan for legacy values
    left (counting what each index should hold) when an index is to be counted or `rescan` (the application may have
    written since the scan: --live-traffic, a later stand-alone verification). Without either, every legacy value
    the run's scan found is in the backup and the chunk checks read each back: a rescan would find nothing they do
    not (None)."""
    url = settings.redis_url.get_secret_value()
    nodes = open_nodes(url)
    tallies = _index_tallies(settings, targets, has_search, sample)
    left = None
    if tallies or rescan:
        left = count_legacy_left(nodes, targets, settings.zone, settings.batch_size, tallies)
    verdicts, invisible = _index_verdicts(nodes.nodes[0].client, tallies, settings.schema_timeout_seconds)
    sample_result = check_sample_with_models(url, targets, sample, settings.zone, nodes.is_cluster)
    if not has_search:
        search, range_problems = "search module absent on this server: range-query and sort checks skipped", []
    elif not tallies:
        search, range_problems = "schema step skipped: range-query and sort checks not run", []
    else:
        search, range_problems = check_range_queries(url, targets, tallies)
    return left, sample_result, search, (verdicts, invisible + range_problems)
