"""What each `om-runbook` subcommand does, given its parsed arguments (returns the exit code)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from flows.report_view import print_report
from migrations.config import RunSettings, build_settings
from migrations.errors import RunbookError
from migrations.redaction import redact_url
from migrations.report import RunReport

console = Console(stderr=False)


def seed(args: argparse.Namespace) -> int:
    from migrations.sample_data import generate_legacy_records
    from tasks.redis_connection import open_client
    from tasks.seed import write_legacy_records

    if args.count < 0:
        raise RunbookError("--count must be >= 0")
    if not 0.0 <= args.dirty_share <= 1.0:
        raise RunbookError("--dirty-share must be between 0 and 1")
    client = open_client(args.redis_url)
    records = generate_legacy_records(args.count, args.dirty_share, args.seed)
    summary = write_legacy_records(client, records)
    console.print(
        f"seeded {summary.records} legacy records ({summary.dirty} dirty) into {redact_url(args.redis_url)} "
        f"in {summary.seconds:.2f} s ({summary.records_per_second:,.0f} records/s)"
    )
    for prefix, count in sorted(summary.per_prefix.items()):
        console.print(f"  {prefix}*  {count}")
    return 0


def _settings(args: argparse.Namespace, **extra: object) -> RunSettings:
    return build_settings(
        redis_url=args.redis_url,
        models=args.models,
        naive_timezone=args.naive_timezone,
        report_json=Path(args.report_json) if args.report_json else None,
        **extra,
    )


def _exit_code(report: RunReport, ok: set[str]) -> int:
    print_report(console, report)
    return 0 if report.status in ok else 1


def run(args: argparse.Namespace) -> int:
    from flows.migration_flow import migration_flow

    settings = _settings(
        args,
        backup_dir=Path(args.backup_dir),
        chunks=args.chunks,
        parallel=args.parallel,
        batch_size=args.batch_size,
        failure_mode=args.failure_mode,
        max_errors=args.max_errors,
        rdb_snapshot=not args.no_rdb_snapshot,
    )
    return _exit_code(migration_flow(settings), {"succeeded"})


def assess(args: argparse.Namespace) -> int:
    from flows.migration_flow import assessment_flow

    return _exit_code(assessment_flow(_settings(args)), {"assessed"})


def verify(args: argparse.Namespace) -> int:
    from flows.rollback_flow import verification_flow

    report_json = Path(args.report_json) if args.report_json else None
    return _exit_code(verification_flow(SecretStr(args.redis_url), Path(args.backup_dir), report_json), {"verified"})


def rollback(args: argparse.Namespace) -> int:
    from flows.rollback_flow import rollback_flow

    report_json = Path(args.report_json) if args.report_json else None
    report = rollback_flow(SecretStr(args.redis_url), Path(args.backup_dir), report_json=report_json)
    return _exit_code(report, {"rolled_back"})


def rehearse(args: argparse.Namespace) -> int:
    raise RunbookError("rehearse is not implemented yet")


def approve(args: argparse.Namespace) -> int:
    raise RunbookError("approve is not implemented yet: sign-off gates come with the checklist flow")
