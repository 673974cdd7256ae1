"""Odd but legal data under a model's prefix: names with spaces and braces, a hash with thousands of fields,
a megabyte value, keys expiring mid-run, whitespace. Converted where convertible, reported where not,
nothing else touched, and the rollback gives every surviving key back byte for byte."""

from __future__ import annotations

import time

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.flows.rollback_flow import rollback_flow
from tests.flows.helpers import keyspace, seed, settings_for
from tests.flows.test_migration_flow import expected_bytes

pytestmark = pytest.mark.usefixtures("prefect_harness")
CUSTOMER = b":om_runbook.migrations.sample_models.Customer:"


def test_odd_keys_and_values(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 500)
    legacy = b"2021-06-30T23:59:59.999999"
    odd = {
        CUSTOMER + b"name with spaces {and} braces": {b"signed_up": legacy, b"name": b"x"},
        CUSTOMER + b"{tag}\xff\xfe binary pk": {b"signed_up": legacy, b"name": b"y"},
        CUSTOMER + b"wide": {b"signed_up": legacy, **{f"extra_{i}".encode(): b"v" * 20 for i in range(5000)}},
        CUSTOMER + b"huge": {b"signed_up": b"9" * 1_000_000, b"last_login": legacy},
        CUSTOMER + b"padded": {b"signed_up": b" " + legacy, b"last_login": b"\t"},
    }
    for key, fields in odd.items():
        client.hset(key, mapping=fields)
    expiring = [CUSTOMER + f"expiring-{i}".encode() for i in range(20)]
    for key in expiring:
        client.hset(key, mapping={b"signed_up": legacy})
        client.pexpire(key, 2500)
    before = keyspace(client)

    settings = settings_for(redis_server.url, tmp_path / "b")
    report = migration_flow(settings)
    assert report.status == "succeeded", report.messages
    converted = expected_bytes(legacy)
    assert client.hget(CUSTOMER + b"name with spaces {and} braces", b"signed_up") == converted
    assert client.hget(CUSTOMER + b"{tag}\xff\xfe binary pk", b"signed_up") == converted
    wide = client.hgetall(CUSTOMER + b"wide")
    assert wide[b"signed_up"] == converted and len(wide) == 5001 and wide[b"extra_4999"] == b"v" * 20
    huge = client.hgetall(CUSTOMER + b"huge")
    assert huge[b"signed_up"] == b"9" * 1_000_000 and huge[b"last_login"] == converted
    padded = client.hgetall(CUSTOMER + b"padded")
    assert padded == {b"signed_up": b" " + legacy, b"last_login": b"\t"}
    reported = {(p.key, p.field, p.kind) for p in report.problems}
    assert ("huge", "signed_up", "unparseable") in {(k.rsplit(":", 1)[-1], f, kind) for k, f, kind in reported}
    assert max(len(p.value or "") for p in report.problems) < 200  # a megabyte value is described, not copied

    while any(client.exists(key) for key in expiring):
        time.sleep(0.1)
    rolled_back = rollback_flow(settings.redis_url, settings.backup_dir)
    assert rolled_back.status == "rolled_back", rolled_back.messages
    after = keyspace(client)
    assert after == {key: value for key, value in before.items() if key not in expiring}
