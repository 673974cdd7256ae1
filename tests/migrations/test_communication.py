"""The communication plan's pure parts: contacts given on the command line, and each notice's text (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from om_runbook.migrations.checklist import checklist_markdown
from om_runbook.migrations.communication import (
    Contact,
    completion_lines,
    contacts_text,
    notice,
    parse_contact,
    rollback_lines,
    summary_lines,
)
from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.report import KpiCheck, Kpis, LatencySummary, PhaseReport, RunReport, SystemMetrics

ADA = Contact(role="Technical Lead", name="Ada Lovelace", contact="+44 20 7946 0000")


def test_a_contact_is_role_name_and_contact_and_the_contact_may_hold_commas():
    assert parse_contact("Technical Lead=Ada Lovelace,+44 20 7946 0000") == ADA
    assert (
        parse_contact(" Database Administrator = Codd , codd@example.com, ext. 4").contact == "codd@example.com, ext. 4"
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("Technical Lead", "expected ROLE=NAME,CONTACT"),
        ("Technical Lead=Ada", "expected ROLE=NAME,CONTACT"),
        ("Technical Lead=,+44", "expected ROLE=NAME,CONTACT"),
        ("Technical Lead=Ada,  ", "expected ROLE=NAME,CONTACT"),
        ("CTO=Ada,+44", "unknown role 'CTO'"),
    ],
)
def test_a_malformed_contact_is_refused_with_the_form_expected(spec, words):
    with pytest.raises(ConfigurationError, match=words):
        parse_contact(spec)


def test_every_notice_carries_the_link_and_the_contacts_and_no_secret():
    text = notice(
        "migration started",
        ["Redis: redis://:hunter2@db:6379/0", "", "webhook https://hooks.example/T0/B0/tok3n"],
        "http://prefect/runs/flow-run/1",
        [ADA],
        ("hunter2", "https://hooks.example/T0/B0/tok3n"),
    )
    assert text.splitlines() == [
        "om-runbook: migration started",
        "Redis: redis://:***@db:6379/0",
        "webhook ***",
        "Run: http://prefect/runs/flow-run/1",
        "Escalation contacts: Technical Lead: Ada Lovelace, +44 20 7946 0000",
    ]
    assert contacts_text([]) == "Escalation contacts: none given (--contact ROLE=NAME,CONTACT)"
    assert "Run: see the Prefect UI" in notice("x", [], None, [], ())


def _report(status: str, messages: list[str]) -> RunReport:
    return RunReport(
        status=status,
        redis="redis://db",
        messages=messages,
        kpis=Kpis(keys_migrated=1200, fields_converted=2400, fields_failed=1, duration_seconds=12.5),
        kpi_checks=[KpiCheck(name="error rate", value="0.04%", target="< 1%", met=True)],
        phases={
            "backup": PhaseReport(duration_seconds=2.0, details={"keys_scanned": 1000}),
            "migrate": PhaseReport(duration_seconds=4.0, details={"chunks": [{"key_count": 600}, {"key_count": 600}]}),
            "verify": PhaseReport(duration_seconds=1.5),
        },
        system=SystemMetrics(
            baseline_latency=LatencySummary(p50_ms=0.1, p99_ms=0.2, samples=100),
            migration_latency=LatencySummary(p50_ms=0.2, p99_ms=0.9, samples=100),
            memory_peak_share=0.25,
            throttled_seconds=3.0,
        ),
    )


def test_completion_says_the_status_the_figures_and_the_kpis_against_their_targets():
    lines = completion_lines(_report("succeeded", ["ok"]))
    assert lines[0] == "Status: succeeded; keys migrated: 1,200; fields converted: 2,400; failed: 1"
    assert lines[-1] == "- error rate: 0.04% (target < 1%, met)"
    failed = completion_lines(_report("failed", ["keys evicted: 3 keys"]))
    assert failed[1] == "Last message: keys evicted: 3 keys"


def test_the_rollback_notice_says_why_and_how_it_ended():
    report = _report("rolled_back", ["x", "rollback criterion met: verification failed: data integrity issues"])
    assert rollback_lines(report) == [
        "Why: verification failed: data integrity issues",
        "Outcome: every changed field was given back exactly",
    ]
    incomplete = rollback_lines(_report("rollback_incomplete", []))
    assert incomplete[0] == "Why: see the run" and "run `om-runbook rollback`" in incomplete[1]


def test_the_performance_summary_has_each_phase_its_rate_latency_and_peaks():
    lines = summary_lines(_report("succeeded", []))
    assert lines[0] == (
        "Duration: about 12 s (12.5 s); phases: backup 2.0 s, 500 keys/s; migrate 4.0 s, 300 keys/s; verify 1.5 s"
    )
    assert lines[1] == "PING p99 before 0.20 ms, during 0.90 ms, memory peak 25.0%"
    assert lines[2] == "Throttled for 3.0 s"


def test_the_checklist_has_every_section_of_the_seed_checklist():
    ended = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)
    evidence = {"notice_start": "sent 2026-12-05T09:00:00+00:00 (Prefect event)", "integrity": "all keys equal"}
    checks = [KpiCheck(name="success rate", value="99.97%", target="> 99%", met=True)]
    markdown = checklist_markdown(evidence, [], "succeeded", [ADA], checks, ended)
    for heading in (
        "## Communication Plan",
        "## Escalation Contacts",
        "## Success Criteria",
        "### Technical success",
        "### Business success",
        "### Key Performance Indicators",
        "### Immediate Actions (within 24 hours)",
        "### Short-term Actions (within 1 week)",
        "### Long-term Actions (within 1 month)",
        "## Sign-off",
        "## Final Notes",
    ):
        assert heading in markdown, heading
    assert "- [x] Migration start notification sent: sent 2026-12-05T09:00:00+00:00 (Prefect event)" in markdown
    assert "- [ ] Completion notification sent: not proved by this run" in markdown
    assert "- [x] Technical Lead: Ada Lovelace, +44 20 7946 0000" in markdown
    assert "- [ ] Business Stakeholder: not given (--contact 'Business Stakeholder=NAME,CONTACT')" in markdown
    assert "- [x] Data integrity verification passed: all keys equal" in markdown
    assert "- success rate: 99.97% (target &gt; 99%, met)" in markdown  # not a block quote in the UI
    assert "- [ ] Monitor application performance (open, due by 2026-12-06)" in markdown
    assert "- [ ] Plan deprecation of legacy datetime handling (open, due by 2027-01-04)" in markdown
    assert "- [ ] Archive migration artifacts: not proved by this run" in markdown
