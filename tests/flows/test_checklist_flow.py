"""The checklist flow: sign-off pauses answered through the Prefect API, artifacts, automatic rollback."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

import om_runbook.flows.migration_flow as migration_module
from om_runbook.flows.migration_flow import migration_flow
from om_runbook.migrations.checklist import CHECKLIST
from om_runbook.migrations.signoff import GateRoles
from tests.flows.helpers import keyspace, running_probe_processes, seed, settings_for

pytestmark = pytest.mark.usefixtures("prefect_harness")
ONE_ROLE_PER_GATE = GateRoles(
    go_no_go=["Database Administrator"], acceptance=["Technical Lead"], final=["Operations Manager"]
)

# the checklist item the go/no-go box `stakeholders_informed` ticks
INFORMED = next(text for _section, items in CHECKLIST for text, key in items if key == "stakeholders_informed")


class FlowInThread:
    """Runs migration_flow in a thread, so the test can answer its pauses like a person would."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.report = None
        self.error: BaseException | None = None
        self.stale = set(_paused_run_ids())  # paused runs of other tests are not ours
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.report = migration_flow(self.settings)
        except BaseException as exc:  # re-raised in the test thread by join()
            self.error = exc

    def wait_paused(self, timeout: float = 60) -> UUID:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [run_id for run_id in _paused_run_ids() if run_id not in self.stale]
            if fresh:
                return fresh[0]
            if not self.thread.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"the flow did not pause (report: {self.report}, error: {self.error!r})")

    def join(self, timeout: float = 120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the flow did not finish"
        if self.error is not None:
            raise self.error
        return self.report


def _paused_run_ids() -> list[UUID]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            )
        )
    return [run.id for run in runs]


def _answer(run_id: UUID, role: str, decision: str = "approve", **notes: str | bool) -> None:
    resume_flow_run(run_id, run_input={"name": "Ada", "role": role, "decision": decision, "comment": "ok", **notes})


def _wait_and_answer(flow: FlowInThread, role: str, decision: str = "approve", **notes: str | bool) -> UUID:
    run_id = flow.wait_paused()
    _answer(run_id, role, decision, **notes)
    _wait_until_not_paused(run_id)
    return run_id


def _wait_until_not_paused(run_id: UUID, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while run_id in _paused_run_ids() and time.monotonic() < deadline:
        time.sleep(0.1)


def _artifacts(run_id: UUID) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {artifact.key: artifact for artifact in found if artifact.key}


def _gated(url, path, **extra):
    values = {"auto_approve": False, "signoff_roles": ONE_ROLE_PER_GATE, "gate_poll_seconds": 1} | extra
    return settings_for(url, path, **values)


def test_every_gate_approved_through_pauses_and_artifacts_carry_the_kpis(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 400)
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b"))
    run_id = _wait_and_answer(flow, "Database Administrator", stakeholders_informed=True, traffic_stopped=True)
    assert client.hget(next(client.scan_iter(match=b":om_runbook.migrations.sample_models.Order:*")), "placed_at")
    _wait_and_answer(flow, "Technical Lead")
    _wait_and_answer(
        flow,
        "Operations Manager",
        issues_encountered="none",
        lessons_learned="rehearse",
        recommendations="keep",
        monitoring_restored=True,
    )
    report = flow.join()
    assert report.status == "succeeded", report.messages
    assert [(s.gate, s.role, s.name) for s in report.signoffs] == [
        ("go-no-go", "Database Administrator", "Ada"),
        ("acceptance", "Technical Lead", "Ada"),
        ("final", "Operations Manager", "Ada"),
    ]
    assert report.system.downtime_seconds is not None and report.system.downtime_seconds > 0

    artifacts = _artifacts(UUID(report.flow_run_id))
    assert UUID(report.flow_run_id) == run_id
    assert {"migration-assessment", "migration-backup-manifest", "migration-kpis", "migration-checklist"} <= set(
        artifacts
    )
    kpis = {row["kpi"]: row for row in _table_rows(artifacts["migration-kpis"])}
    assert kpis["error rate"]["met"] == "met"
    assert kpis["success rate"]["met"] == "met"
    assert kpis["total keys migrated"]["value"] == f"{report.kpis.keys_migrated:,}"
    for way_back in ("RTO: logical rollback", "RTO: snapshot restore"):  # estimated from this run's own figures
        assert kpis[way_back]["value"] != "not available" and kpis[way_back]["met"] == "met", kpis[way_back]
    snapshot = report.phases["backup"].details["snapshot"]
    assert snapshot["load_seconds"] > 0 and snapshot["restore_keys_per_second"] > 0
    checklist = artifacts["migration-checklist"].data
    assert "- [x] Recovery time objective (RTO) documented: logical rollback " in checklist
    assert "the same compare-and-set)" in checklist and "keys/s (compare, DUMP/RESTORE, check" in checklist
    assert "- [x] Go/no-go sign-off: Database Administrator: Ada" in checklist
    assert "- [x] Data integrity checks passed" in checklist
    assert "- [x] Upgraded to Redis OM Python 1.0+ (the models load their migrated records under it): the models " in (
        checklist
    )
    assert "imported with redis-om 1." in checklist and "migrated records load equal through Model.get()" in checklist
    assert "Lessons learned (Operations Manager): rehearse" in checklist
    assert "- [x] " + INFORMED + ": confirmed by Ada (Database Administrator)" in (checklist)
    assert "- [x] Maintenance window started, application traffic stopped or redirected: confirmed by Ada" in checklist
    assert (
        "- [x] Monitoring thresholds restored, alerting rules updated: confirmed by Ada (Operations Manager)"
        in checklist
    )
    # a box left unticked: the gate accepted the answer, the checklist says who left it open
    assert "- [ ] Staging environment mirrors production: not confirmed: left open by Ada (Database Administrator)" in (
        checklist
    )
    assert (
        "- [ ] Application started and tested with migrated data: not confirmed: left open by Ada (Technical Lead)"
        in (checklist)
    )
    assert [s.confirmed for s in report.signoffs] == [
        ["stakeholders_informed", "traffic_stopped"],
        [],
        ["monitoring_restored"],
    ]


def _table_rows(artifact) -> list[dict]:
    import json

    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data


def test_a_go_no_go_rejection_ends_the_run_before_any_write(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 200)
    before = keyspace(client)
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b"))
    _wait_and_answer(flow, "Database Administrator", "reject")
    report = flow.join()
    assert report.status == "not_approved"
    assert "sign-off go-no-go: rejected" in report.messages
    assert keyspace(client) == before
    assert "migrate" not in report.phases
    assert running_probe_processes() == []  # the probe started ahead for the chunks was ended unused


def test_an_unanswered_gate_times_out_as_not_approved_with_nothing_written(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 100)
    before = keyspace(client)
    report = FlowInThread(_gated(redis_server.url, tmp_path / "b", gate_timeout_seconds=2)).join()
    assert report.status == "not_approved"
    assert "sign-off go-no-go: not answered in time" in report.messages
    assert keyspace(client) == before


def test_an_acceptance_rejection_rolls_back_every_byte(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 300, dirty_share=0.01)
    before = keyspace(client)
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b"))
    _wait_and_answer(flow, "Database Administrator")
    _wait_and_answer(flow, "Technical Lead", "reject")
    report = flow.join()
    assert report.status == "rolled_back", report.messages
    assert "rollback criterion met: acceptance sign-off not given" in report.messages
    assert report.phases["rollback"].details["check"]["passed"] is True
    assert keyspace(client) == before


def test_an_answer_for_a_role_the_gate_does_not_wait_for_does_not_open_it(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 50)
    before = keyspace(client)
    flow = FlowInThread(_gated(redis_server.url, tmp_path / "b", gate_timeout_seconds=8))
    run_id = flow.wait_paused()
    with pytest.raises(RuntimeError, match="Validation failed"):  # go/no-go's form offers the waiting role alone
        _answer(run_id, "Business Stakeholder")
    with pytest.raises(RuntimeError, match="Validation failed"):  # lessons learned belong to the final gate
        _answer(run_id, "Database Administrator", lessons_learned="too early")
    report = flow.join()
    assert report.status == "not_approved"
    assert keyspace(client) == before


def test_an_error_rate_above_the_threshold_rolls_back_automatically(redis_server, tmp_path):
    client = redis_server.client()
    seed(client, 400, dirty_share=0.2)
    before = keyspace(client)
    report = migration_flow(settings_for(redis_server.url, tmp_path / "b", max_error_rate=0.01))
    assert report.status == "rolled_back", report.messages
    assert any("error rate" in m and "above the threshold of 1%" in m for m in report.messages)
    assert keyspace(client) == before
    checks = {c.name: c.met for c in report.kpi_checks}
    assert checks["error rate"] is False


def test_a_failed_verification_rolls_back_automatically(redis_server, tmp_path, monkeypatch):
    client = redis_server.client()
    seed(client, 300)
    before = keyspace(client)
    key = next(client.scan_iter(match=b":om_runbook.migrations.sample_models.Order:*"))
    real_verify = migration_module.verify_migration

    def application_writes_then_verify(*args, **kwargs):
        client.hset(key, "total", "0.01")  # the application changes another field mid-run
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(migration_module, "verify_migration", application_writes_then_verify)
    report = migration_flow(settings_for(redis_server.url, tmp_path / "b"))
    assert report.status == "rolled_back", report.messages
    assert "rollback criterion met: verification failed: data integrity issues discovered" in report.messages
    after = keyspace(client)
    changed = {k for k in before if after[k] != before[k]}
    assert changed == {key}  # only the application's own write remains
    assert after[key][1] == {**before[key][1], b"total": b"0.01"}


def test_a_redis_near_its_maxmemory_is_refused_before_any_write(redis_server, tmp_path):
    from om_runbook.migrations.errors import MigrationAborted

    client = redis_server.client()
    seed(client, 100)
    client.config_set("maxmemory", int(client.info("memory")["used_memory"] * 1.05))
    before = keyspace(client)
    with pytest.raises(MigrationAborted, match="raise maxmemory"):
        migration_flow(settings_for(redis_server.url, tmp_path / "b"))
    assert keyspace(client) == before


def test_a_second_run_refuses_while_another_holds_the_lease_and_starts_once_it_lapsed(any_redis_server, tmp_path):
    from om_runbook.flows.rollback_flow import rollback_flow
    from om_runbook.migrations.errors import MigrationAborted
    from om_runbook.tasks.guards.lease import LEASE_KEY, RunLease

    client = any_redis_server.client()
    seed(client, 60)
    before = keyspace(client)
    with RunLease(any_redis_server.url, "migration"):
        with pytest.raises(MigrationAborted, match="another om-runbook migration .* holds the lease"):
            migration_flow(settings_for(any_redis_server.url, tmp_path / "b"))
        assert keyspace(client) == before | {LEASE_KEY: keyspace(client)[LEASE_KEY]}
        assert not (tmp_path / "b" / "manifest.json").exists()  # refused before its scan: no backup was written
    assert client.exists(LEASE_KEY) == 0  # released on exit

    client.set(LEASE_KEY, b'{"purpose": "migration"}', px=4000)  # a crashed run's lease, never renewed
    with pytest.raises(MigrationAborted, match="holds the lease"):
        migration_flow(settings_for(any_redis_server.url, tmp_path / "c"))
    while client.exists(LEASE_KEY):  # it lapses by itself
        time.sleep(0.1)
    settings = settings_for(any_redis_server.url, tmp_path / "d")
    assert migration_flow(settings).status == "succeeded"
    assert client.exists(LEASE_KEY) == 0

    with RunLease(any_redis_server.url, "migration"):
        with pytest.raises(MigrationAborted, match="holds the lease"):
            rollback_flow(settings.redis_url, settings.backup_dir)
    assert rollback_flow(settings.redis_url, settings.backup_dir).status == "rolled_back"
    assert keyspace(client) == before
