"""The verification's verdict (pure): the chunk read-back checks, the rescan, the application's model sample and the
index counts combined into one pass or fail, for the verify phase and the rollback's check alike."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from om_runbook.migrations.backup_format import Problem
from om_runbook.migrations.index_visibility import IndexVerdict
from om_runbook.migrations.report import PROBLEM_LIST_LIMIT

Expect = Literal["target", "original"]  # what a changed field must hold: the conversion, or the original after rollback


class ChunkCheck(BaseModel):
    index: int
    key_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    problems: list[Problem] = Field(default_factory=list)
    sample: list[tuple[str, str, str]] = Field(default_factory=list)  # key, field, original (latin-1)


class Verification(BaseModel):
    passed: bool
    expect: str
    keys_checked: int
    field_counts: dict[str, int]
    legacy_left: int | None = None
    sample_loaded: int = 0
    sample_equal: int = 0
    sample_failed: int = 0  # Model.get() raised: the application could not read the record
    sample_connection: str = ""  # which connection the models read through
    search_checks: str = ""
    index_checks: list[str] = Field(default_factory=list)  # per index: documents visible to queries, and why not
    index_shortfall: int = 0  # documents missing from queries with no reason found
    problems: list[Problem] = Field(default_factory=list)
    problem_counts: dict[str, int] = Field(default_factory=dict)
    duration_seconds: float = 0.0


def summarize(
    checks: list[ChunkCheck],
    expect: Expect,
    duration_seconds: float,
    legacy_left: tuple[int, list[Problem]] | None = None,
    sample: tuple[int, int, list[Problem]] | None = None,
    search_checks: str = "",
    tolerate_other_fields: bool = False,
    indexes: tuple[list[IndexVerdict], list[Problem]] | None = None,
) -> Verification:
    """Combine chunk checks (and the rescan and model sample, after a migration) into one verdict."""
    counts: Counter[str] = Counter()
    problems: list[Problem] = []
    for check in checks:
        counts.update(check.counts)
        problems.extend(check.problems)
    left, left_examples = legacy_left or (None, [])
    loaded, equal, sample_problems = sample or (0, 0, [])
    verdicts, invisible = indexes or ([], [])
    load_failures = sum(1 for p in sample_problems if p.kind == "model_load_failed")
    problems += left_examples + sample_problems + invisible
    problem_counts = Counter(p.kind for p in problems)
    # Fields someone else changed or deleted were reported as conflicts; they are not our failures,
    # but a field still holding the value from before our write is. Other fields changed since the backup
    # fail a migration's verification (traffic should be stopped); after a rollback they are the
    # application's own later writes, which the rollback keeps: reported, not failed; the same during a
    # migration the user declared as running with live traffic.
    conflicts_left = counts["changed_by_others"]
    # every backed-up field gone is never a pass: most likely another server or database than the backup's
    all_missing = counts["missing"] > 0 and not (counts["as_expected"] or counts["changed_by_others"])
    passed = (
        not all_missing
        and counts["not_applied"] == 0
        and (counts["other_fields_changed"] == 0 or expect == "original" or tolerate_other_fields)
        and counts["wrong_type"] == 0
        and (left is None or left <= conflicts_left)
        and equal == loaded
        and load_failures == 0
        and (tolerate_other_fields or not any(v.unexplained_shortfall for v in verdicts))
        and (tolerate_other_fields or not search_checks.startswith("FAILED"))
    )
    return Verification(
        passed=passed,
        expect=expect,
        keys_checked=sum(c.key_count for c in checks),
        field_counts=dict(counts),
        legacy_left=left,
        sample_loaded=loaded,
        sample_equal=equal,
        sample_failed=load_failures,
        search_checks=search_checks,
        index_checks=[verdict.line() for verdict in verdicts],
        index_shortfall=sum(verdict.unexplained_shortfall for verdict in verdicts),
        problems=problems[:PROBLEM_LIST_LIMIT],
        problem_counts=dict(problem_counts),
        duration_seconds=duration_seconds,
    )


def nothing_found_refusal(chunk_counts: list[dict[str, int]], backup_dir: object) -> str | None:
    """A rollback that found none of the backed-up fields (every one missing) restored nothing: never a success,
    most likely another server or database than the backup's."""
    missing = sum(counts.get("missing", 0) for counts in chunk_counts)
    found = sum(counts.get(name, 0) for counts in chunk_counts for name in ("written", "already", "conflict"))
    if missing and not found:
        return (
            f"none of the {missing:,} backed-up fields of {backup_dir} exists on this Redis: nothing was restored, "
            "and the backup is not marked rolled back. Check --redis-url (server and database) against the run's"
        )
    return None
