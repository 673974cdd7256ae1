"""Checklist phase "Schema migration": the redis-om 1.x indexes, applied as redis-om does (`recreate`) or with
no query downtime (`alias`: build under a new name, switch an alias once complete), the previous definitions
saved in the backup directory first so that rollback puts them back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis
from prefect import task
from prefect.cache_policies import NONE
from redis.commands.search.query import Query
from redis.exceptions import ResponseError

from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.errors import MigrationAborted
from om_runbook.migrations.index_plan import (
    NEW_INDEX_SUFFIX,
    IndexPlan,
    PreviousIndex,
    create_args_from_info,
    index_name_of,
    index_plan,
    indexing_done,
    ready_to_switch,
)
from om_runbook.migrations.targets import ModelTarget
from om_runbook.tasks.backup_store.backup_format import write_atomically
from om_runbook.tasks.io.redis_connection import open_client
from om_runbook.tasks.io.retry_policy import IO_TASK_OPTIONS


def previous_path(backup_dir: Path) -> Path:
    return backup_dir / "schema" / "previous.json"


def load_previous_indexes(backup_dir: Path) -> list[PreviousIndex] | None:
    """The definitions saved before the schema step, or None when it never ran in this backup directory."""
    path = previous_path(backup_dir)
    if not path.exists():
        return None
    return [PreviousIndex.model_validate(item) for item in json.loads(path.read_text(encoding="utf-8"))]


def _info(client: redis.Redis, name: str) -> object | None:
    try:
        return client.execute_command("FT.INFO", name)
    except ResponseError:
        return None  # unknown index (or alias)


def _is_real_index(client: redis.Redis, name: str) -> bool:
    """FT.INFO answers for an alias too, with the aliased index's name."""
    info = _info(client, name)
    return info is not None and index_name_of(info) == name


def _text(value: object) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def save_previous_indexes(client: redis.Redis, plans: list[IndexPlan], backup_dir: Path) -> list[PreviousIndex]:
    """Record what stands under each index name now (kept if already recorded: a resumed run keeps the first)."""
    saved = load_previous_indexes(backup_dir)
    if saved is not None:
        return saved
    previous = []
    for plan in plans:
        info = _info(client, plan.index_name)
        previous.append(
            PreviousIndex(
                index_name=plan.index_name,
                existed=info is not None,
                create_args=create_args_from_info(plan.index_name, info) if info is not None else [],
                schema_hash=_text(client.get(f"{plan.index_name}:hash")),
                schema_text=_text(client.get(f"{plan.index_name}:schema")),
            )
        )
    write_atomically(previous_path(backup_dir), json.dumps([p.model_dump() for p in previous], indent=2))
    return previous


def visible_documents(client: redis.Redis, name: str, timeout_seconds: float, poll_seconds: float = 0.2) -> int:
    """How many documents queries of index (or alias) `name` see, once its background indexing is done."""
    deadline = time.monotonic() + timeout_seconds
    while not indexing_done(_info(client, name) or {}) and time.monotonic() < deadline:
        time.sleep(poll_seconds)
    return int(client.ft(name).search(Query("*").paging(0, 0)).total)


def _record_hash(client: redis.Redis, plan: IndexPlan) -> None:
    """The keys redis-om's own `om migrate` compares, so that it sees nothing left to do."""
    client.set(f"{plan.index_name}:hash", plan.schema_hash)
    client.set(f"{plan.index_name}:schema", plan.schema)


def apply_recreate(client: redis.Redis, plans: list[IndexPlan]) -> list[str]:
    """As `om migrate` does: drop the index (never its documents) and create it from the 1.x schema."""
    done = []
    for plan in plans:
        if _text(client.get(f"{plan.index_name}:hash")) == plan.schema_hash and _info(client, plan.index_name):
            done.append(f"{plan.index_name}: already the 1.x definition")
            continue
        if _is_real_index(client, plan.index_name):
            client.execute_command("FT.DROPINDEX", plan.index_name)
        client.execute_command(*plan.create_args())
        _record_hash(client, plan)
        done.append(f"{plan.index_name}: recreated with the 1.x definition")
    return done


def wait_until_ready(client: redis.Redis, name: str, timeout_seconds: float, poll_seconds: float = 0.5) -> str:
    deadline = time.monotonic() + timeout_seconds
    while True:
        ready, state = ready_to_switch(_info(client, name) or {})
        if ready:
            return state
        if time.monotonic() > deadline:
            raise MigrationAborted(
                f"the new index {name} is not ready after {timeout_seconds:.0f} s ({state}); the alias was not "
                "switched, queries still use the previous index"
            )
        time.sleep(poll_seconds)


def apply_alias(client: redis.Redis, plans: list[IndexPlan], timeout_seconds: float) -> list[str]:
    """Zero downtime: build `{index}:om1`, wait until complete with no failures, then in one MULTI drop the old
    index (not its documents) and point the alias `{index}` at the new one."""
    done = []
    for plan in plans:
        if _info(client, plan.build_name) is None:
            client.execute_command(*plan.create_args(plan.build_name))
        state = wait_until_ready(client, plan.build_name, timeout_seconds)
        pipe = client.pipeline(transaction=True)
        if (
            _info(client, plan.index_name) is not None
            and _text(client.get(f"{plan.index_name}:hash")) != plan.schema_hash
        ):
            pipe.execute_command("FT.DROPINDEX", plan.index_name)
        pipe.execute_command("FT.ALIASUPDATE", plan.index_name, plan.build_name)
        pipe.execute()
        _record_hash(client, plan)
        done.append(f"{plan.index_name}: alias to {plan.build_name} ({state})")
    return done


def restore_previous_indexes(client: redis.Redis, backup_dir: Path) -> list[str]:
    """Rollback: remove what the schema step created and put back each previous definition and its keys."""
    return [restore_previous_index(client, previous) for previous in load_previous_indexes(backup_dir) or []]


def restore_previous_index(client: redis.Redis, previous: PreviousIndex) -> str:
    """Drop what stands under the name (an alias, the index, the alias mode's new index) and put back the recorded
    definition and redis-om's `{index}:hash` / `{index}:schema` keys."""
    name = previous.index_name
    try:
        client.execute_command("FT.ALIASDEL", name)
    except ResponseError:
        pass  # not an alias
    for built in (name, name + NEW_INDEX_SUFFIX):
        if _info(client, built) is not None:
            client.execute_command("FT.DROPINDEX", built)
    if previous.existed:
        client.execute_command(*previous.create_args)
    for suffix, value in ((":hash", previous.schema_hash), (":schema", previous.schema_text)):
        if value is None:
            client.delete(name + suffix)
        else:
            client.set(name + suffix, value)
    return f"{name}: previous definition restored" if previous.existed else f"{name}: removed (none before)"


def index_plans(targets: list[ModelTarget]) -> list[IndexPlan]:
    plans = [index_plan(target.load_class()) for target in targets]
    return [plan for plan in plans if plan is not None]


def schema_index_names(targets: list[ModelTarget], schema_mode: str) -> list[str]:
    """The indexes the schema step will replace (none with --schema-mode skip), for the permission check."""
    return [] if schema_mode == "skip" else [plan.index_name for plan in index_plans(targets)]


@task(name="schema-migration", cache_policy=NONE, **IO_TASK_OPTIONS)
def schema_task(settings: RunSettings, targets: list[ModelTarget], stage: str) -> list[str]:
    """`prepare`: save the previous definitions, then (recreate) apply the 1.x ones; `switch` (alias): build the
    new indexes on the converted data and switch the aliases."""
    client = open_client(settings.redis_url.get_secret_value())
    plans = index_plans(targets)
    if stage == "prepare":
        previous = save_previous_indexes(client, plans, settings.backup_dir)
        saved = [
            f"previous definition of {p.index_name} saved ({'existed' if p.existed else 'none'})" for p in previous
        ]
        if settings.schema_mode == "recreate":
            return saved + apply_recreate(client, plans)
        return saved + ["alias mode: the new indexes are built and switched after the data migration"]
    return apply_alias(client, plans, settings.schema_timeout_seconds)


@task(name="schema-rollback", cache_policy=NONE, **IO_TASK_OPTIONS)
def schema_rollback_task(url: str, backup_dir: Path) -> list[str]:
    return restore_previous_indexes(open_client(url), backup_dir)
