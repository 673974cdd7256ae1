"""A Model.get() failure in the verification sample: put on unconvertible data the migration left alone only when
the record holds such data; otherwise it fails the verification."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from om_runbook.migrations.targets import discover_targets
from om_runbook.tasks.verify import _load_failure

KEY = ":om_runbook.migrations.sample_models.Customer:sample"
CONVERTED = b"1701734400.0"


def _customer():
    return next(t for t in discover_targets("om_runbook.migrations.sample_models") if t.name.endswith("Customer"))


def test_an_overflow_on_a_value_reported_unconvertible_is_refused_unchanged_data(redis_server):
    client = redis_server.client()
    client.hset(KEY, mapping={b"pk": b"sample", b"signed_up": b"2" * 1_000_000, b"last_login": CONVERTED})
    problem = _load_failure(client, KEY, "last_login", _customer(), ZoneInfo("UTC"), OverflowError("out of range"))
    assert problem.kind == "model_load_refused_unchanged_data"
    assert "signed_up" in problem.message


def test_the_same_failure_on_a_record_of_converted_values_fails_the_verification(redis_server):
    client = redis_server.client()
    client.hset(KEY, mapping={b"pk": b"sample", b"signed_up": CONVERTED, b"last_login": CONVERTED})
    problem = _load_failure(client, KEY, "last_login", _customer(), ZoneInfo("UTC"), OverflowError("out of range"))
    assert problem.kind == "model_load_failed"


def test_the_same_failure_when_the_sampled_field_itself_is_unconvertible_fails_the_verification(redis_server):
    client = redis_server.client()
    client.hset(KEY, mapping={b"pk": b"sample", b"signed_up": b"1.5e400", b"last_login": CONVERTED})
    problem = _load_failure(client, KEY, "signed_up", _customer(), ZoneInfo("UTC"), OverflowError("out of range"))
    assert problem.kind == "model_load_failed"
