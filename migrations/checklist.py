"""The production deployment checklist as a markdown artifact: what the run proved, ticked with its evidence, and
what only a person can do, ticked with the name of who confirmed it in a gate's form or shown open with who left it
open (pure)."""

from __future__ import annotations

from om_runbook.migrations.signoff import CONFIRMATION_GATE, ROLES, SignOff, confirmation_status

# (section, [(item, evidence key)]); evidence keys are filled in by the flow as it proves them. A key that is also a
# gate's confirmation (signoff.CONFIRMATIONS) is ticked by the run's evidence or, failing that, by a person's tick.
CHECKLIST: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Pre-Migration: Planning and Assessment",
        [
            ("Identified all models with datetime fields", "targets"),
            ("Estimated migration time", "estimate"),
            ("Calculated required resources (memory, CPU, disk)", "resources"),
            ("Identified potential data quality issues", "data_quality"),
            ("Stakeholders, operations and support teams informed", "stakeholders_informed"),
            ("Staging environment mirrors production", "staging_mirrors_production"),
        ],
    ),
    (
        "Pre-Migration: Technical Preparation",
        [
            ("Upgraded to Redis OM Python 1.0+ (the models load their migrated records under it)", "redis_om_upgrade"),
            ("Verified application compatibility with the new version (in staging)", "upgraded_in_staging"),
            ("Full Redis backup created and verified", "rdb_backup"),
            ("Backup restoration procedure tested", "restore_test"),
            ("Recovery time objective (RTO) documented", "rto"),
            ("Backup storage location confirmed accessible", "backup_location"),
            ("Redis memory limits reviewed", "memory"),
            ("Redis persistence settings documented", "persistence"),
        ],
    ),
    (
        "Migration: Pre-Migration Execution",
        [
            ("Maintenance window started, application traffic stopped or redirected", "traffic_stopped"),
            ("Final backup created (logical backup of every field that changes)", "logical_backup"),
            ("Redis server health verified", "health"),
            ("System resources available (memory, disk)", "resources_available"),
            ("Network connectivity confirmed (baseline latency)", "baseline_latency"),
            ("Error handling strategy confirmed", "error_strategy"),
            ("Rollback plan reviewed and ready", "rollback_ready"),
            ("Go/no-go sign-off", "signoff_go-no-go"),
        ],
    ),
    (
        "Migration: Schema and Data",
        [
            ("Schema migration (index definitions)", "schema"),
            ("Migration started successfully", "migration_started"),
            ("Progress monitored (progress artifact, per-chunk checkpoints)", "progress"),
            ("Error rates within acceptable limits", "error_rate"),
            ("Resource usage within expected ranges", "resource_usage"),
        ],
    ),
    (
        "Migration: Verification",
        [
            ("Migration completed without critical errors", "no_critical_errors"),
            ("Data integrity checks passed", "integrity"),
            ("Sample data verification completed (redis-om 1.x Model.get)", "sample"),
            ("Every convertible document visible to queries (search index counts)", "index_visibility"),
            ("Range queries and sorting working", "range_queries"),
            ("Application started and tested with migrated data", "application_tested"),
            ("Acceptance sign-off", "signoff_acceptance"),
        ],
    ),
    (
        "Post-Migration",
        [
            ("Performance within acceptable limits (latency after vs before)", "performance_after"),
            ("Redis configuration restored to normal", "config_restored"),
            ("Migration progress state cleared", "progress_cleared"),
            ("Migration execution log and metrics recorded (archived report)", "archive"),
            ("Monitoring thresholds and alerting rules restored", "monitoring_restored"),
            ("Final sign-off", "signoff_final"),
        ],
    ),
    (
        "Rollback Decision Criteria (evaluated by the run)",
        [
            ("Unrecoverable errors, error rate, verification and rejections checked", "rollback_decision"),
        ],
    ),
]


def checklist_markdown(evidence: dict[str, str], signoffs: list[SignOff], status: str) -> str:
    """Markdown with every checklist item: [x] with evidence, [ ] not proved by this run, or a human's task."""
    lines = [f"# Production deployment checklist: run {status}", ""]
    for section, items in CHECKLIST:
        lines += [f"## {section}", ""]
        for text, key in items:
            if key in evidence:
                lines.append(f"- [x] {text}: {evidence[key]}")
            elif key in CONFIRMATION_GATE:
                confirmed, words = confirmation_status(key, signoffs)
                lines.append(f"- [{'x' if confirmed else ' '}] {text}: {words}")
            else:
                lines.append(f"- [ ] {text}: not proved by this run")
        lines.append("")
    lines += ["## Sign-off", ""]
    for role in ROLES:
        signed = [s for s in signoffs if s.role == role]
        if not signed:
            lines.append(f"- [ ] **{role}**: not signed")
        for s in signed:
            mark = "x" if s.decision == "approve" else " "
            comment = f" ({s.comment})" if s.comment else ""
            lines.append(f"- [{mark}] **{role}**: {s.name}, {s.decision} at gate {s.gate}, {s.at}{comment}")
    notes = [s for s in signoffs if s.gate == "final" and (s.issues_encountered or s.lessons_learned)]
    lines += ["", "## Final Notes", "", f"Migration completed successfully: {'Yes' if status == 'succeeded' else 'No'}"]
    for s in notes or [s for s in signoffs if s.gate == "final"][:1]:
        lines += [
            f"- Issues encountered ({s.role}): {s.issues_encountered or '-'}",
            f"- Lessons learned ({s.role}): {s.lessons_learned or '-'}",
            f"- Recommendations ({s.role}): {s.recommendations or '-'}",
        ]
    return "\n".join(lines) + "\n"
