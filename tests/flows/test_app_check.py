"""`--app-check CMD`: the application's own smoke test runs after the verification, before the acceptance gate, in
the application's directory with REDIS_OM_URL set to the run's Redis. Passing, it ticks "Application started and
tested with migrated data"; failing, it is the rollback criterion and the run rolls back exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.communication import Contact
from tests.flows.helpers import keyspace, seed, settings_for
from tests.webhook_server import Webhook

pytestmark = pytest.mark.usefixtures("prefect_harness")

# the application's smoke test: it finds its Redis as redis-om applications do, prints its settings (the URL with
# the password, as careless scripts do), and checks that an order's placed_at is now a Unix timestamp (an order: a
# hash; with RediSearch the prefix also holds redis-om's index bookkeeping key, a string SCAN may return first)
SMOKE_TEST = """
import os, sys
import redis
url = os.environ["REDIS_OM_URL"]
print("settings: REDIS_OM_URL =", url)
client = redis.Redis.from_url(url)
key = next(client.scan_iter(match=":om_runbook.migrations.sample_models.Order:*", _type="HASH"))
placed_at = client.hget(key, "placed_at").decode()
print("order placed_at:", placed_at)
float(placed_at)
if os.path.exists("break-the-orders-page"):
    print("orders page: 500 Internal Server Error")
    sys.exit(3)
print("orders page: ok")
"""


def _application(tmp_path: Path, broken: bool) -> Path:
    app = tmp_path / "shop"
    app.mkdir()
    (app / "smoke_test.py").write_text(SMOKE_TEST)
    if broken:
        (app / "break-the-orders-page").write_text("")
    return app


def test_a_passing_application_check_ticks_the_item_and_shows_in_the_acceptance_record(redis_server_factory, tmp_path):
    server = redis_server_factory(password="app-pw-s3cret")
    client = server.client()
    seed(client, 300)
    app = _application(tmp_path, broken=False)
    settings = settings_for(
        server.url, tmp_path / "b", rdb_snapshot=False, app_check=f"{sys.executable} smoke_test.py", app_dir=app
    )
    report = migration_flow(settings)
    assert report.status == "succeeded", report.messages
    details = report.phases["app_check"].details
    assert details["exit_code"] == 0 and details["seconds"] > 0
    assert details["output_tail"][-1] == "orders page: ok"
    assert any(line.startswith("settings: REDIS_OM_URL = redis://:***@127.0.0.1") for line in details["output_tail"])
    checklist = (settings.backup_dir / "archive" / "checklist.md").read_text()
    assert "- [x] Application started and tested with migrated data: --app-check `" in checklist
    assert "smoke_test.py` passed (exit 0) in " in checklist
    archived = (settings.backup_dir / "archive" / "run-report.json").read_text()
    assert "s3cret" not in archived and "s3cret" not in checklist


def test_a_failing_application_check_is_the_rollback_criterion_and_the_run_rolls_back_exactly(
    any_redis_server, tmp_path
):
    client = any_redis_server.client()
    seed(client, 300)
    before = keyspace(client)
    app = _application(tmp_path, broken=True)
    webhook = Webhook()
    settings = settings_for(
        any_redis_server.url,
        tmp_path / "b",
        rdb_snapshot=False,
        app_check=f"{sys.executable} smoke_test.py",
        app_dir=app,
        notify_webhook=webhook.url,
        contacts=[Contact(role="Operations Manager", name="Grace", contact="+1 555 0100")],
    )
    try:
        report = migration_flow(settings)
    finally:
        webhook.close()
    texts = [body["text"] for body in webhook.bodies]
    assert [text.splitlines()[0] for text in texts] == [
        "om-runbook: migration started",
        "om-runbook: migration rolled back (rolled_back)",
        "om-runbook: performance summary",
    ]
    assert "Why: application functionality severely impacted: the application's check" in texts[1]
    assert "Outcome: every changed field was given back exactly" in texts[1]
    assert all(text.endswith("Escalation contacts: Operations Manager: Grace, +1 555 0100") for text in texts)
    assert report.status == "rolled_back", report.messages
    assert any(
        m.startswith("rollback criterion met: application functionality severely impacted: the application's check `")
        and "FAILED (exit 3)" in m
        for m in report.messages
    ), report.messages
    assert report.phases["app_check"].details["output_tail"][-1] == "orders page: 500 Internal Server Error"
    assert not any(s.gate == "acceptance" for s in report.signoffs)  # rolled back before the acceptance gate
    assert keyspace(client) == before
    checklist = (settings.backup_dir / "archive" / "checklist.md").read_text()
    assert "- [ ] Application started and tested with migrated data: not confirmed: the acceptance gate was not" in (
        checklist
    )


def test_an_application_check_that_does_not_end_is_stopped_and_rolls_back(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 100)
    before = keyspace(client)
    settings = settings_for(
        redis_server.url,
        tmp_path / "b",
        rdb_snapshot=False,
        app_check="echo starting; sleep 60 & sleep 60",
        app_check_timeout_seconds=2,
        app_dir=tmp_path,
    )
    report = migration_flow(settings)
    assert report.status == "rolled_back", report.messages
    assert report.phases["app_check"].details["seconds"] < 20
    assert report.phases["app_check"].details["output_tail"] == ["starting"]
    assert any("did not end within 2 s (stopped)" in m for m in report.messages), report.messages
    assert keyspace(client) == before
