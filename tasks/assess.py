"""Checklist phase "Migration impact assessment" (reads only): what would change, risks, estimates."""

from __future__ import annotations

import shutil
import time
from datetime import tzinfo
from pathlib import Path

import redis
from prefect import task
from prefect.cache_policies import NONE
from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import Problem, TargetInfo
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.index_schema import attribute_types, datetime_index_mismatches
from om_runbook.migrations.redaction import redact_url
from om_runbook.migrations.server_facts import ServerFacts
from om_runbook.migrations.tally import Tally
from om_runbook.migrations.targets import ModelTarget, Storage
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS
from om_runbook.tasks.readers.keyspace import keys_in_database
from om_runbook.tasks.readers.record_scan import scan_records
from om_runbook.tasks.readers.server_facts import read_nodes_facts

# Passes over the keys after the assessment (whose scan also writes the backup), each at about the measured read
# rate: migrate (CAS writes), verify (read back the changed keys).
PASSES_AFTER_ASSESSMENT = 2


class Assessment(BaseModel):
    redis: str
    server: ServerFacts
    targets: list[TargetInfo]
    notes: list[str] = Field(default_factory=list)
    keys_scanned: int
    keys_to_change: int
    fields_to_change: int
    value_counts: dict[str, dict[str, int]]
    problems: list[Problem]
    problem_counts: dict[str, int]
    unreadable_values: int
    read_keys_per_second: float
    estimated_seconds: float
    logical_backup_bytes: int
    rdb_snapshot_bytes_estimate: int
    backup_disk_free_bytes: int | None
    duration_seconds: float


def _as_mapping(reply: object) -> dict:
    if isinstance(reply, dict):
        return reply
    items = list(reply) if isinstance(reply, list | tuple) else []
    return dict(zip(items[::2], items[1::2], strict=False))


def index_findings(client: redis.Redis, targets: list[ModelTarget]) -> list[str]:
    """With the search module: each target's index, and datetime fields indexed other than NUMERIC."""
    findings = []
    for target in targets:
        index_name = target.load_class()._meta.index_name
        try:
            info = _as_mapping(client.execute_command("FT.INFO", index_name))
        except redis.ResponseError as exc:
            findings.append(f"{target.name}: no search index {index_name!r} ({exc}); redis-om 1.x creates it")
            continue
        fields = [field.name for field in target.fields]
        mismatches = datetime_index_mismatches(attribute_types(info), fields)
        for field, kind in sorted(mismatches.items()):
            findings.append(
                f"{target.name}.{field} is indexed {kind} in {index_name!r}; redis-om 1.x expects NUMERIC "
                "(range queries and sorting fail until the index is rebuilt)"
            )
    return findings


def migratable_targets(targets: list[ModelTarget], facts: ServerFacts) -> tuple[list[ModelTarget], list[str]]:
    """Hash targets always; JSON targets need RedisJSON (without it no JSON document can exist)."""
    keep, notes = [], []
    for target in targets:
        if target.storage is Storage.JSON and not facts.has_json:
            notes.append(f"{target.name}: JsonModel skipped, no RedisJSON module on this server (no documents)")
        else:
            keep.append(target)
    return keep, notes


def target_info(target: ModelTarget) -> TargetInfo:
    return TargetInfo(
        name=target.name,
        storage=target.storage.value,
        key_prefix=target.key_prefix,
        fields=[f"{field.name} ({field.kind.value})" for field in target.fields],
    )


def disk_free(directory: Path) -> int | None:
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def assess_keyspace(
    nodes: RedisNodes,
    targets: list[ModelTarget],
    facts: ServerFacts,
    zone: tzinfo,
    batch_size: int,
    backup_dir: Path,
    safe_url: str,
) -> Assessment:
    """Scan every target's keys and classify every datetime value; writes nothing (the assessment of a resumed run,
    whose backup exists: a first run assesses within its one scan, see tasks/first_scan.py)."""
    started = time.perf_counter()
    migratable, _notes = migratable_targets(targets, facts)
    tally = Tally()
    METER.begin("assess: scan", keys_in_database(nodes))
    scan_records(nodes, migratable, zone, batch_size, tally)
    return build_assessment(nodes, targets, facts, tally, time.perf_counter() - started, backup_dir, safe_url)


def build_assessment(
    nodes: RedisNodes,
    targets: list[ModelTarget],
    facts: ServerFacts,
    tally: Tally,
    seconds: float,
    backup_dir: Path,
    safe_url: str,
) -> Assessment:
    """The assessment from what a scan counted, with the notes on targets, bookkeeping keys and indexes."""
    migratable, notes = migratable_targets(targets, facts)
    rate = tally.keys_scanned / seconds if seconds > 0 else 0.0
    if tally.bookkeeping_keys:
        notes.append(
            f"{tally.bookkeeping_keys} redis-om index bookkeeping key(s) ({{index}}:hash, {{index}}:schema) under the "
            "model prefixes: not records, left to the schema step"
        )
    if facts.has_search:
        notes += index_findings(nodes.clients[0], migratable)
    else:
        notes.append("search module absent: no index to check (redis-om 1.x NUMERIC indexes need RediSearch)")
    return Assessment(
        redis=safe_url,
        server=facts,
        targets=[target_info(t) for t in targets],
        notes=notes,
        keys_scanned=tally.keys_scanned,
        keys_to_change=tally.keys_with_changes,
        fields_to_change=tally.fields_to_change,
        value_counts=tally.plain_value_counts(),
        problems=tally.problems,
        problem_counts=dict(tally.problem_counts),
        unreadable_values=tally.unreadable,
        read_keys_per_second=rate,
        estimated_seconds=PASSES_AFTER_ASSESSMENT * tally.keys_scanned / rate if rate else 0.0,
        logical_backup_bytes=tally.bytes_to_back_up,
        rdb_snapshot_bytes_estimate=facts.snapshot_bytes_estimate,
        backup_disk_free_bytes=disk_free(backup_dir),
        duration_seconds=seconds,
    )


@task(name="server-facts", cache_policy=NONE, **IO_TASK_OPTIONS)
def server_facts_task(settings: RunSettings) -> tuple[ServerFacts, int]:
    """Read-only: the server's facts, and the keys of the database (DBSIZE over every master: the scan's size)."""
    nodes = open_nodes(settings.redis_url.get_secret_value())
    return read_nodes_facts(nodes), keys_in_database(nodes)


@task(name="assess", cache_policy=NONE, **IO_TASK_OPTIONS)
def assess_task(settings: RunSettings, targets: list[ModelTarget]) -> Assessment:
    """Read-only: server facts and the classification of every datetime value."""
    url = settings.redis_url.get_secret_value()
    nodes = open_nodes(url)
    facts = read_nodes_facts(nodes)
    return assess_keyspace(
        nodes, targets, facts, settings.zone, settings.batch_size, settings.backup_dir, redact_url(url)
    )
