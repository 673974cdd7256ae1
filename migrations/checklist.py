"""The production deployment checklist as a markdown artifact: what the run proved, ticked with its evidence, and
what only a person can do, ticked with the name of who confirmed it in a gate's form or shown open with who left it
open (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from om_runbook.migrations.communication import Contact
from om_runbook.migrations.report import KpiCheck
from om_runbook.migrations.signoff import CONFIRMATION_GATE, ROLES, SignOff, confirmation_status

# Every item of the seed checklist, in its sections: (section, [(item, evidence key)]). Evidence keys are filled in
# by the flow as it proves them; one fact may prove several items. A key that is also a gate's confirmation
# (signoff.CONFIRMATIONS) is ticked by the run's evidence or, failing that, by a person's tick in that gate's form.
CHECKLIST: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Pre-Migration: Planning and Assessment",
        [
            ("Identified all models with datetime fields", "targets"),
            ("Estimated migration time", "estimate"),
            ("Calculated required resources (memory, CPU, disk)", "resources"),
            ("Identified potential data quality issues", "data_quality"),
        ],
    ),
    (
        "Pre-Migration: Stakeholder Communication",
        [
            (
                "Development team notified of breaking changes, operations briefed, business stakeholders informed of "
                "the maintenance window, support prepared",
                "stakeholders_informed",
            ),
        ],
    ),
    (
        "Pre-Migration: Environment Preparation",
        [
            ("Staging environment mirrors production", "staging_mirrors_production"),
            ("Test environment available for rollback testing (the snapshot's restore test)", "restore_test"),
            ("Monitoring systems configured for migration metrics", "monitoring"),
            ("Alerting thresholds adjusted for the migration period", "alerting_adjusted"),
        ],
    ),
    (
        "Pre-Migration: Technical Preparation",
        [
            ("Upgraded to Redis OM Python 1.0+ (the models load their migrated records under it)", "redis_om_upgrade"),
            ("Verified application compatibility with the new version (in staging)", "upgraded_in_staging"),
            (
                "Updated dependencies and requirements files (the versions the models were imported with)",
                "redis_om_upgrade",
            ),
            ("Tested application functionality in staging", "staging_rehearsed"),
            ("Full Redis backup created and verified", "rdb_backup"),
            ("Backup restoration procedure tested", "restore_test"),
            ("Recovery time objective (RTO) documented", "rto"),
            ("Backup storage location confirmed accessible", "backup_location"),
            ("Redis memory limits reviewed", "memory"),
            ("Redis configuration optimized for bulk operations", "bulk_settings"),
            ("Redis persistence settings documented", "persistence"),
            ("Connection pool settings optimized", "bulk_settings"),
        ],
    ),
    (
        "Pre-Migration: Testing and Validation",
        [
            (
                "Migration executed, application tested, performance measured and rollback verified in staging",
                "staging_rehearsed",
            ),
            ("Sample data, integrity, edge cases and migration statistics validated in staging", "staging_rehearsed"),
            ("Migration performance benchmarked (the measured rate behind the estimate)", "estimate"),
            ("Resource usage patterns documented", "resources"),
            ("Optimal batch size determined", "bulk_settings"),
            ("Error handling strategy validated", "error_strategy"),
        ],
    ),
    (
        "Migration: Pre-Migration Execution",
        [
            ("Maintenance window started, application traffic stopped or redirected", "traffic_stopped"),
            ("Final backup created (logical backup of every field that changes)", "logical_backup"),
            ("Migration team assembled and ready (the go/no-go sign-off)", "signoff_go-no-go"),
            ("Redis server health verified", "health"),
            ("System resources available (memory, disk)", "resources_available"),
            ("Network connectivity confirmed (baseline latency)", "baseline_latency"),
            ("Monitoring systems active", "monitoring"),
            ("Migration commands prepared and tested (in staging)", "staging_rehearsed"),
            ("Error handling strategy confirmed", "error_strategy"),
            ("Rollback plan reviewed and ready", "rollback_ready"),
            ("Communication channels established (the start notice delivered)", "notice_start"),
            ("Go/no-go sign-off", "signoff_go-no-go"),
        ],
    ),
    (
        "Migration: Schema Migration",
        [
            ("Schema migration (index definitions)", "schema"),
            ("New indices created, old ones removed or updated, index status verified", "index_visibility"),
        ],
    ),
    (
        "Migration: Data Migration",
        [
            ("Migration started successfully", "migration_started"),
            ("Progress monitored, tracked and logged (progress artifact, per-chunk checkpoints)", "progress"),
            ("Error rates within acceptable limits", "error_rate"),
            ("Resource usage within expected ranges, monitored continuously", "resource_usage"),
            ("Performance metrics monitored (latency against the throttle's limit)", "pace"),
            ("Error logs reviewed (every problem in the report, by kind)", "problems_reported"),
        ],
    ),
    (
        "Migration: Verification",
        [
            ("Migration completed without critical errors", "no_critical_errors"),
            ("Data integrity checks passed", "integrity"),
            ("Sample data verification completed (redis-om 1.x Model.get)", "sample"),
            ("Every convertible document visible to queries (search index counts)", "index_visibility"),
            ("Migration statistics reviewed (the acceptance sign-off)", "signoff_acceptance"),
        ],
    ),
    (
        "Migration: Application Testing",
        [
            ("Application started and tested with migrated data", "application_tested"),
            ("Datetime queries functioning correctly, range queries and sorting working", "range_queries"),
            ("Performance within acceptable limits during the run (the application's read)", "performance_during"),
            ("Acceptance sign-off", "signoff_acceptance"),
        ],
    ),
    (
        "Post-Migration: Validation and Testing",
        [
            (
                "Full application functionality, datetime field operations, business logic and user acceptance tested",
                "acceptance_testing",
            ),
            ("Performance benchmarks met (latency after vs before)", "performance_after"),
            ("Random sample data verification", "sample"),
            (
                "Edge case data handling verified (every unconvertible value reported and left as it was)",
                "data_quality",
            ),
            ("Data consistency checks passed", "integrity"),
        ],
    ),
    (
        "Post-Migration: Performance and Monitoring",
        [
            ("Application response times measured (the application's read before and after)", "performance_after"),
            ("Database query performance verified", "range_queries"),
            ("Resource usage patterns documented", "resource_usage"),
            ("Baseline metrics established", "baseline_latency"),
            ("Redis configuration restored to normal", "config_restored"),
            ("Connection pool settings back to normal (the run's connections closed)", "config_restored"),
            ("Monitoring thresholds restored, alerting rules updated", "monitoring_restored"),
        ],
    ),
    (
        "Post-Migration: Documentation and Cleanup",
        [
            ("Migration execution log documented, performance metrics recorded (archived report)", "archive"),
            ("Issues, resolutions and lessons learned documented (the Final Notes)", "final_notes"),
            ("Migration progress state cleared", "progress_cleared"),
            ("Temporary configuration changes reverted", "config_restored"),
            ("Old backup files archived (the backup directory is the archive)", "archive"),
        ],
    ),
    (
        "Communication Plan",
        [
            ("Migration start notification sent", "notice_start"),
            ("Progress updates provided (every --progress-every minutes while keys move)", "notice_progress"),
            ("Completion notification sent", "notice_completion"),
            ("Stakeholders notified of a rollback", "notice_rollback"),
            ("Performance summary provided", "notice_summary"),
        ],
    ),
    (
        "Rollback Procedures: Decision Criteria (evaluated by the run)",
        [
            (
                "Unrecoverable errors, data integrity, application functionality, performance, sign-offs checked",
                "rollback_decision",
            ),
        ],
    ),
    (
        "Rollback Procedures: Execution",
        [
            ("Automatic rollback (exact, from the logical backup), data restored and verified", "rollback_result"),
            ("Manual rollback ready (`om-runbook restore-snapshot` from the RDB snapshot)", "rdb_backup"),
            ("Stakeholders notified of the rollback", "notice_rollback"),
        ],
    ),
]


# The seed checklist's Success Criteria, each judged by the item of the checklist above that proves it.
SUCCESS_CRITERIA: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Technical success",
        [
            ("Migration completed without critical errors", "no_critical_errors"),
            ("Data integrity verification passed", "integrity"),
            ("Application functionality restored", "application_tested"),
            ("Performance within acceptable limits", "performance_after"),
        ],
    ),
    (
        "Business success",
        [
            ("Datetime queries working as expected", "range_queries"),
            ("No data loss or corruption (every changed field checked against its backup)", "integrity"),
            ("Minimal downtime achieved (go to acceptance under the 2-hour target)", "downtime"),
        ],
    ),
]
# The seed checklist's Post-Migration Actions, after the run: (heading, days after the run, [(item, evidence key)]);
# an item without a key is a person's, open with its due date.
POST_MIGRATION_ACTIONS: list[tuple[str, int, list[tuple[str, str | None]]]] = [
    (
        "Immediate Actions (within 24 hours)",
        1,
        [
            ("Monitor application performance", None),
            ("Review error logs and metrics", None),
            ("Validate business-critical operations", None),
            ("Document any issues or anomalies", None),
        ],
    ),
    (
        "Short-term Actions (within 1 week)",
        7,
        [
            ("Conduct post-migration review meeting (the run report in the archive)", None),
            ("Update operational procedures", None),
            ("Plan for future migrations", None),
            ("Archive migration artifacts", "archive"),
        ],
    ),
    (
        "Long-term Actions (within 1 month)",
        30,
        [
            ("Optimize application for new datetime capabilities", None),
            ("Update documentation and training materials", None),
            ("Review and improve migration procedures", None),
            ("Plan deprecation of legacy datetime handling", None),
        ],
    ),
]


def _item(text: str, key: str, evidence: dict[str, str], signoffs: list[SignOff]) -> str:
    """`- [x] text: evidence`, a person's confirmation (or who left it open), or `not proved by this run`."""
    if key in evidence:
        return f"- [x] {text}: {evidence[key]}"
    if key in CONFIRMATION_GATE:
        confirmed, words = confirmation_status(key, signoffs)
        return f"- [{'x' if confirmed else ' '}] {text}: {words}"
    return f"- [ ] {text}: not proved by this run"


def checklist_markdown(
    evidence: dict[str, str],
    signoffs: list[SignOff],
    status: str,
    contacts: list[Contact] | None = None,
    kpi_checks: list[KpiCheck] | None = None,
    ended_at: datetime | None = None,
) -> str:
    """Markdown with every section of the checklist: each item ticked with the run's evidence or a person's name,
    or open with why (not proved, left open by whom, a person's task after the run and when it is due)."""
    lines = [f"# Production deployment checklist: run {status}", ""]
    for section, items in CHECKLIST:
        lines += [f"## {section}", ""]
        lines += [_item(text, key, evidence, signoffs) for text, key in items]
        lines.append("")
    lines += _contact_lines(contacts or [])
    lines += ["## Success Criteria", ""]
    for heading, criteria in SUCCESS_CRITERIA:
        lines += [f"### {heading}", ""]
        lines += [_item(text, key, evidence, signoffs) for text, key in criteria]
        lines.append("")
    if kpi_checks:
        marks = {True: "met", False: "NOT MET", None: "not measured"}
        lines += ["### Key Performance Indicators", ""]
        lines += [f"- {c.name}: {c.value} (target {c.target.replace('>', '&gt;')}, {marks[c.met]})" for c in kpi_checks]
        lines.append("")
    lines += ["## Post-Migration Actions (a person's, after the run)", ""]
    for heading, days, actions in POST_MIGRATION_ACTIONS:
        due = f", due by {(ended_at + timedelta(days=days)).date().isoformat()}" if ended_at else ""
        lines += [f"### {heading}", ""]
        lines += [_item(text, key, evidence, signoffs) if key else f"- [ ] {text} (open{due})" for text, key in actions]
        lines.append("")
    lines += ["## Sign-off", ""]
    for role in ROLES:
        signed = [s for s in signoffs if s.role == role]
        if not signed:
            lines.append(f"- [ ] {role}: not signed")
        for s in signed:
            mark = "x" if s.decision == "approve" else " "
            comment = f" ({s.comment})" if s.comment else ""
            lines.append(f"- [{mark}] {role}: {s.name}, {s.decision} at gate {s.gate}, {s.at}{comment}")
    notes = [s for s in signoffs if s.gate == "final" and (s.issues_encountered or s.lessons_learned)]
    lines += ["", "## Final Notes", "", f"Migration completed successfully: {'Yes' if status == 'succeeded' else 'No'}"]
    for s in notes or [s for s in signoffs if s.gate == "final"][:1]:
        lines += [
            f"- Issues encountered ({s.role}): {s.issues_encountered or '-'}",
            f"- Lessons learned ({s.role}): {s.lessons_learned or '-'}",
            f"- Recommendations ({s.role}): {s.recommendations or '-'}",
        ]
    return "\n".join(lines) + "\n"


def _contact_lines(contacts: list[Contact]) -> list[str]:
    """The checklist's Escalation Contacts: each role's contact as given, or how to give it."""
    lines = ["## Escalation Contacts", ""]  # no **bold** in a task list item: the Prefect UI shows the asterisks
    for role in ROLES:
        given = [contact for contact in contacts if contact.role == role]
        lines += [f"- [x] {role}: {c.name}, {c.contact}" for c in given] or [
            f"- [ ] {role}: not given (--contact '{role}=NAME,CONTACT')"
        ]
    return [*lines, ""]
