"""What each `om-runbook` subcommand does, given its parsed arguments (returns the exit code)."""

from __future__ import annotations

import argparse

from rich.console import Console

from migrations.errors import RunbookError
from migrations.redaction import redact_url

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


def _not_yet(name: str) -> int:
    raise RunbookError(f"{name} is not implemented yet")


def rehearse(args: argparse.Namespace) -> int:
    return _not_yet("rehearse")


def run(args: argparse.Namespace) -> int:
    return _not_yet("run")


def assess(args: argparse.Namespace) -> int:
    return _not_yet("assess")


def verify(args: argparse.Namespace) -> int:
    return _not_yet("verify")


def rollback(args: argparse.Namespace) -> int:
    return _not_yet("rollback")


def approve(args: argparse.Namespace) -> int:
    return _not_yet("approve")
