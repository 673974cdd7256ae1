"""An application writing during the migration (new legacy records, updates before and after conversion,
other-field updates, deletions): every datetime field ends right, no application write is lost, conflicts
are counted, and the rollback keeps the application's own later writes."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

import om_runbook.flows.migrate_phase as migration_module
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from om_runbook.migrations.sample_data import generate_legacy_records
from tests.flows.helpers import application_keys, keyspace, migrate_lines_done, seed, settings_for
from tests.flows.test_migration_flow import DATETIME_FIELDS, expected_bytes

pytestmark = pytest.mark.usefixtures("prefect_harness")


class Application:
    """Writes like a redis-om 0.x application would, and keeps the state it expects to find (legacy form)."""

    def __init__(self, client, before: dict) -> None:
        self.client = client
        self.expected = {key: dict(fields) for key, (_kind, fields, _ttl) in before.items()}
        self.rng = random.Random(11)
        self.writes = 0

    def wave(self, keys: list[bytes], new_records: int, new_seed: int) -> None:
        for record in generate_legacy_records(new_records, 0.0, seed=new_seed):
            assert record.key not in self.expected
            self.client.hset(record.key, mapping=record.fields)
            self.expected[record.key] = dict(record.fields)
        for key in keys[:60]:  # a datetime field re-saved with a new legacy value
            model = "Customer" if b"Customer" in key else "Order"
            field = DATETIME_FIELDS[model][0].encode()
            value = f"2024-02-29T12:{self.rng.randrange(60):02d}:00.{self.rng.randrange(10**6):06d}".encode()
            self.client.hset(key, field, value)
            self.expected[key][field] = value
        for key in keys[60:90]:  # another field changed
            field = next(name for name in self.expected[key] if name.decode() not in _all_datetime_fields())
            self.client.hset(key, field, b"changed by the application")
            self.expected[key][field] = b"changed by the application"
        for key in keys[90:110]:
            self.client.delete(key)
            del self.expected[key]
        self.writes += len(keys[:110]) + new_records


def _all_datetime_fields() -> set[str]:
    return {name for names in DATETIME_FIELDS.values() for name in names}


def _application_on(server, records: int, shuffle_seed: int) -> tuple[Application, list[bytes]]:
    """`records` seeded legacy records and the application that writes to them; its keys in a random order."""
    seed(server.client(), records)
    before = keyspace(server.client())
    keys = sorted(before)
    random.Random(shuffle_seed).shuffle(keys)
    return Application(server.client(), before), keys


def test_application_writes_during_the_run_are_converted_kept_and_survive_rollback(
    any_redis_server, tmp_path, monkeypatch
):
    client = any_redis_server.client()
    app, keys = _application_on(any_redis_server, 8_000, shuffle_seed=5)
    settings = settings_for(any_redis_server.url, tmp_path / "b", batch_size=20, live_traffic=True)

    def application() -> None:
        deadline = time.monotonic() + 120
        while migrate_lines_done(settings.backup_dir) == 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        app.wave(keys[:110], 40, new_seed=101)  # mostly keys not converted yet
        while migrate_lines_done(settings.backup_dir) < 3_000 and time.monotonic() < deadline:
            time.sleep(0.002)
        app.wave(keys[110:220], 40, new_seed=202)  # mostly keys already converted

    writer = threading.Thread(target=application, daemon=True)
    real_catch_up = migration_module.catch_up_task

    def catch_up_after_the_application_stopped(*args, **kwargs):
        writer.join(60)  # the application's writes all land before the catch-up scan (none after the run)
        return real_catch_up(*args, **kwargs)

    monkeypatch.setattr(migration_module, "catch_up_task", catch_up_after_the_application_stopped)
    writer.start()
    report = migration_flow(settings)
    writer.join(30)
    assert app.writes == 300
    assert report.status == "succeeded", json.dumps([report.problem_counts, report.phases["verify"].details])
    manifest = json.loads((settings.backup_dir / "manifest.json").read_text())
    assert any(chunk["kind"] == "catch-up" for chunk in manifest["chunks"])
    assert report.kpis.conflicts + report.kpis.fields_missing > 0

    after = application_keys(keyspace(client))
    assert set(after) == set(app.expected)  # deleted keys stay deleted, new ones are there
    for key, fields in app.expected.items():
        model = "Customer" if b"Customer" in key else "Order"
        assert set(after[key][1]) == set(fields)
        for name, value in fields.items():
            if name.decode() in DATETIME_FIELDS[model]:
                assert after[key][1][name] == expected_bytes(value), (key, name, value)
            else:
                assert after[key][1][name] == value, (key, name)

    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    restored = keyspace(client)
    assert {key: restored[key][1] for key in restored} == app.expected


def test_writes_during_the_catch_up_scan_and_after_the_run_are_converted_or_kept(
    any_redis_server, tmp_path, monkeypatch
):
    client = any_redis_server.client()
    app, keys = _application_on(any_redis_server, 3_000, shuffle_seed=8)
    settings = settings_for(any_redis_server.url, tmp_path / "b", batch_size=50, live_traffic=True)
    writer = threading.Thread(target=app.wave, args=(keys[:110], 40, 303), daemon=True)
    real_catch_up = migration_module.catch_up_task
    rounds = []

    def catch_up_while_the_application_writes(*args, **kwargs):
        rounds.append(len(rounds))
        if len(rounds) == 1:
            writer.start()  # the first catch-up scan runs while these writes land
        else:
            writer.join(60)
        return real_catch_up(*args, **kwargs)

    monkeypatch.setattr(migration_module, "catch_up_task", catch_up_while_the_application_writes)
    report = migration_flow(settings)
    assert report.status == "succeeded", json.dumps([report.problem_counts, report.phases["verify"].details])
    assert len(rounds) >= 2 and app.writes == 150
    after = keyspace(client)
    for key, fields in app.expected.items():
        model = "Customer" if b"Customer" in key else "Order"
        for name, value in fields.items():
            wanted = expected_bytes(value) if name.decode() in DATETIME_FIELDS[model] else value
            assert after[key][1][name] == wanted, (key, name, value)

    app.wave(keys[110:220], 40, new_seed=404)  # a 0.x application still writing after the run
    rolled_back = rollback_flow(settings.redis_url, settings.backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    restored = keyspace(client)
    assert {key: restored[key][1] for key in restored} == app.expected  # every application write kept
