"""Pure checklist logic: gates, KPI targets, rollback criteria, the checklist markdown, keyspace diffs."""

from __future__ import annotations

import pytest

from om_runbook.migrations.checklist import CHECKLIST, checklist_markdown
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.fingerprint import compare_fingerprints, hash_fingerprint
from om_runbook.migrations.kpi_targets import (
    evaluate_kpis,
    performance_impact,
    rollback_reasons,
    summarize_latencies,
)
from om_runbook.migrations.report import Kpis, LatencySummary, SystemMetrics
from om_runbook.migrations.signoff import GateRoles, SignOff, gate_outcome, missing_roles, parse_gate_roles

# the checklist item the go/no-go box `stakeholders_informed` ticks
INFORMED = next(text for _section, items in CHECKLIST for text, key in items if key == "stakeholders_informed")


def _signoff(role: str, decision: str = "approve", gate: str = "go-no-go") -> SignOff:
    return SignOff(gate=gate, role=role, name="n", decision=decision, at="2026-11-24T00:00:00+00:00")


def test_a_gate_opens_only_when_every_required_role_approved():
    required = ["Technical Lead", "Database Administrator"]
    assert gate_outcome(required, [], "go-no-go") is None
    one = [_signoff("Technical Lead")]
    assert gate_outcome(required, one, "go-no-go") is None
    assert missing_roles(required, one, "go-no-go") == ["Database Administrator"]
    both = one + [_signoff("Database Administrator")]
    assert gate_outcome(required, both, "go-no-go") == "approved"
    assert gate_outcome(required, both, "acceptance") is None  # answers count only for their own gate


def test_one_required_rejection_rejects_and_other_roles_do_not_count():
    required = ["Database Administrator"]
    assert gate_outcome(required, [_signoff("Database Administrator", "reject")], "go-no-go") == "rejected"
    assert gate_outcome(required, [_signoff("Business Stakeholder", "reject")], "go-no-go") is None
    assert gate_outcome(required, [_signoff("Business Stakeholder")], "go-no-go") is None
    assert gate_outcome([], [], "final") == "approved"


def test_gate_roles_from_the_command_line():
    roles = parse_gate_roles(["go-no-go=Technical Lead", "final="])
    assert roles.go_no_go == ["Technical Lead"]
    assert roles.final == []
    assert roles.acceptance == GateRoles().acceptance
    with pytest.raises(ConfigurationError, match="GATE one of go-no-go, acceptance, final"):
        parse_gate_roles(["launch=Technical Lead"])
    with pytest.raises(ConfigurationError, match="unknown role 'CEO'"):
        parse_gate_roles(["final=CEO"])


def test_nearest_rank_percentiles():
    summary = summarize_latencies([float(v) for v in range(1, 101)])
    assert (summary.samples, summary.p50_ms, summary.p99_ms, summary.max_ms) == (100, 50.0, 99.0, 100.0)
    assert summarize_latencies([]).samples == 0
    assert summarize_latencies([3.0]).p99_ms == 3.0


def test_performance_impact_is_the_growth_of_the_median():
    base = LatencySummary(samples=10, p50_ms=0.2, p99_ms=0.4, max_ms=1)
    assert performance_impact(base, LatencySummary(samples=10, p50_ms=0.25)) == pytest.approx(0.25)
    assert performance_impact(base, LatencySummary(samples=10, p50_ms=0.1)) == 0.0
    assert performance_impact(LatencySummary(), base) is None


def test_kpis_are_marked_against_the_checklist_targets():
    kpis = Kpis(keys_migrated=1234, error_rate=0.012, success_rate=0.988, duration_seconds=75.5)
    system = SystemMetrics(
        downtime_seconds=3 * 3600,
        baseline_latency=LatencySummary(samples=5, p50_ms=1.0),
        migration_latency=LatencySummary(samples=5, p50_ms=1.05),
        memory_peak_share=0.5,
        cpu_peak_share=None,
    )
    checks = {c.name: c for c in evaluate_kpis(kpis, system)}
    assert checks["total keys migrated"].value == "1,234"
    assert checks["migration duration"].value == "1 min 15.5 s"
    assert (checks["error rate"].value, checks["error rate"].met) == ("1.20%", False)
    assert checks["success rate"].met is False
    assert checks["application downtime (go to acceptance)"].met is False
    assert checks["performance impact (median PING, before vs during)"].met is True
    assert checks["resource peak: memory of maxmemory (or of system memory)"].met is True
    assert checks["resource peak: Redis CPU (one core)"].met is None
    good = {c.name: c.met for c in evaluate_kpis(Kpis(error_rate=0.0099, success_rate=0.9901), SystemMetrics())}
    assert good["error rate"] is True and good["success rate"] is True


def test_rollback_criteria():
    assert rollback_reasons(Kpis(error_rate=0.01), 0.01, True) == []
    reasons = rollback_reasons(Kpis(error_rate=0.0101), 0.01, False)
    assert reasons == [
        "error rate 1.01% is above the threshold of 1%",
        "verification failed: data integrity issues discovered",
    ]


def test_checklist_ticks_proven_items_and_shows_who_confirmed_or_left_open_a_persons_item():
    confirming = _signoff("Technical Lead").model_copy(update={"confirmed": ["stakeholders_informed"]})
    signoffs = [confirming, _signoff("Database Administrator"), _signoff("Operations Manager", "reject", "final")]
    markdown = checklist_markdown({"targets": "Customer (signed_up)"}, signoffs, "rolled_back")
    assert "- [x] Identified all models with datetime fields: Customer (signed_up)" in markdown
    assert "- [ ] Estimated migration time: not proved by this run" in markdown
    at = "2026-11-24T00:00:00+00:00"
    assert f"- [x] {INFORMED}: confirmed by n (Technical Lead) at {at}" in markdown
    assert (
        "- [ ] Staging environment mirrors production: not confirmed: left open by "
        f"n (Technical Lead) at {at}; n (Database Administrator) at {at}" in markdown
    )
    assert "- [ ] Application started and tested with migrated data: not confirmed: the acceptance gate was not" in (
        markdown
    )
    assert (
        "- [ ] Monitoring thresholds restored, alerting rules updated: not confirmed: left open by n (Operations"
        in (markdown)
    )
    assert "only a person can do this" not in markdown
    assert "- [x] Technical Lead: n, approve at gate go-no-go" in markdown
    assert "- [ ] Operations Manager: n, reject at gate final" in markdown
    assert "- [ ] Business Stakeholder: not signed" in markdown
    assert "Migration completed successfully: No" in markdown
    items = [(section, text) for section, entries in CHECKLIST for text, _key in entries]
    assert len(items) == len(set(items))  # one fact may prove several items; each item is listed once


def test_keyspace_diff_counts_changed_missing_and_added_keys():
    same = hash_fingerprint({b"a": b"1", b"b": b"2"})
    assert same == hash_fingerprint({b"b": b"2", b"a": b"1"})
    assert same != hash_fingerprint({b"a": b"1", b"b": b"2 "})
    before = {b"k1": same, b"k2": same, b"k3": same}
    after = {b"k1": same, b"k2": hash_fingerprint({}), b"k4": same}
    diff = compare_fingerprints(before, after)
    assert (diff.changed, diff.missing, diff.added, diff.identical) == (1, 1, 1, False)
    assert sorted(diff.examples) == ["added: k4", "changed: k2", "missing: k3"]
    assert compare_fingerprints(before, dict(before)).identical


def test_headroom_refuses_a_full_disk_and_a_nearly_full_redis():
    from om_runbook.migrations.headroom import headroom_findings

    ok = headroom_findings(used_memory=10, maxmemory=0, disk_free=10_000, backup_bytes=100)
    assert ok == ([], [])
    refusals, _ = headroom_findings(used_memory=10, maxmemory=0, disk_free=110, backup_bytes=100)
    assert "need about 0.0 MB" in refusals[0] and "use another --backup-dir" in refusals[0]
    refusals, warnings = headroom_findings(used_memory=85, maxmemory=100, disk_free=None, backup_bytes=1)
    assert refusals == [] and "85% of maxmemory" in warnings[0]
    refusals, _ = headroom_findings(used_memory=95, maxmemory=100, disk_free=None, backup_bytes=1)
    assert "raise maxmemory" in refusals[0]


def test_datetime_fields_indexed_as_tag_are_found_in_an_ft_info_reply():
    from om_runbook.migrations.index_schema import attribute_types, datetime_index_mismatches

    # the shape RediSearch 2.x returns over RESP2 (redis-py leaves attributes as nested lists)
    resp2 = {
        "index_name": "idx",
        "attributes": [
            [b"identifier", b"placed_at", b"attribute", b"placed_at", b"type", b"TAG", b"SEPARATOR", b"|"],
            [b"identifier", b"total", b"attribute", b"total", b"type", b"NUMERIC"],
            [b"identifier", b"$.shipped_on", b"attribute", b"shipped_on", b"type", b"NUMERIC", b"SORTABLE"],
        ],
    }
    types = attribute_types(resp2)
    assert types == {"placed_at": "TAG", "total": "NUMERIC", "shipped_on": "NUMERIC"}
    assert datetime_index_mismatches(types, ["placed_at", "shipped_on", "delivered_at"]) == {"placed_at": "TAG"}
    resp3 = {b"attributes": [{b"identifier": b"$.signed_up", b"type": b"TEXT", b"flags": []}]}
    assert attribute_types(resp3) == {"signed_up": "TEXT"}


def test_the_runs_own_evidence_ticks_an_item_a_person_could_also_confirm():
    evidence = {"application_tested": "--app-check `pytest smoke` passed (exit 0) in 1.0 s against the migrated data"}
    markdown = checklist_markdown(evidence, [], "succeeded")
    assert "- [x] Application started and tested with migrated data: --app-check `pytest smoke` passed" in markdown


def test_each_gate_asks_for_its_own_confirmations_and_only_ticked_boxes_count():
    from om_runbook.migrations.signoff import CONFIRMATION_GATE, CONFIRMATIONS, confirmations_ticked

    assert [key for key, _ in CONFIRMATIONS["acceptance"]] == ["application_tested"]
    assert CONFIRMATION_GATE["monitoring_restored"] == "final"
    answer = {"stakeholders_informed": True, "traffic_stopped": False, "application_tested": True, "x": True}
    assert confirmations_ticked("go-no-go", answer) == ["stakeholders_informed"]
    assert confirmations_ticked("acceptance", {"application_tested": "yes"}) == []  # only a real tick
    checklist_keys = {key for _section, items in CHECKLIST for _text, key in items}
    assert set(CONFIRMATION_GATE) <= checklist_keys  # every box ticks an item of the checklist


def test_performance_impact_is_the_applications_read_with_a_noise_floor_stated_and_applied():
    from om_runbook.migrations.kpi_targets import performance_check

    def system(before: float, during: float, app: bool = True) -> SystemMetrics:
        ping = (LatencySummary(samples=60, p50_ms=0.1, p99_ms=0.2), LatencySummary(samples=60, p50_ms=9.0, p99_ms=9.0))
        read = (LatencySummary(samples=60, p50_ms=before, p99_ms=2 * before), LatencySummary(samples=90, p50_ms=during))
        if not app:
            return SystemMetrics(baseline_latency=ping[0], migration_latency=ping[1])
        return SystemMetrics(
            baseline_latency=ping[0],
            migration_latency=ping[1],
            baseline_app_latency=read[0],
            migration_app_latency=read[1],
        )

    idle = performance_check(system(0.10, 0.13))  # a loopback read: +30%, +0.03 ms
    assert idle.name == "performance impact (median application read, before vs during)"
    assert idle.target == "< 10% (a median rise under 0.5 ms is noise)"
    assert idle.value == "30.00% (p50 0.100 -> 0.130 ms, +0.030 ms; p99 0.200 -> 0.000 ms), under the noise floor"
    assert idle.met is True
    assert performance_check(system(1.0, 1.05)).met is True  # 5%: within the target, the floor not needed
    slow = performance_check(system(1.0, 1.6))  # +60%, +0.6 ms: above the target and the floor
    assert slow.met is False and "under the noise floor" not in slow.value
    ping_only = performance_check(system(0, 0, app=False))  # no model key: PING, 0.1 -> 9 ms
    assert ping_only.name == "performance impact (median PING, before vs during)" and ping_only.met is False
    unmeasured = performance_check(SystemMetrics())
    assert (unmeasured.value, unmeasured.met) == ("not measured", None)


def test_performance_after_the_run_is_ticked_only_within_the_target_or_the_noise_floor():
    from om_runbook.flows.evidence import after_the_run

    before = LatencySummary(samples=60, p50_ms=0.1)
    text, ok = after_the_run("median HGETALL of a model key", before, LatencySummary(samples=60, p50_ms=0.2))
    assert ok and text.endswith("(+0.100 ms): under the 0.5 ms noise floor")
    text, ok = after_the_run("median PING", before, LatencySummary(samples=60, p50_ms=0.9))
    assert not ok and text.endswith("ABOVE the 10% target")
    assert after_the_run("median PING", None, before) == ("median PING: not measured", False)
