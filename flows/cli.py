"""`om-runbook`: the command-line edge. Parses flags, reads the environment once, prints errors once."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence

from om_runbook.flows.run_options import add_run_options
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.errors import RunbookError
from om_runbook.migrations.redaction import redact_text, url_secrets
from om_runbook.migrations.signoff import CONFIRMATION_GATE, CONFIRMATIONS, ROLES

DEFAULT_URL = "redis://localhost:6379"


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis URL (redis://, rediss://, unix://). Default: $REDIS_OM_URL, else " + DEFAULT_URL,
    )


def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-json", metavar="PATH", help="write the outcome as JSON to PATH")


APP_DIR_HELP = "the application's directory, first on the import path (default: the current directory)"


def _add_app_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-dir", default=None, metavar="DIR", help=APP_DIR_HELP)


def _add_other_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--other-server", action="store_true", help=RunSettings.model_fields["other_server"].description
    )


def _add_migration_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        required=True,
        action="append",
        metavar="MODULE",
        help="module or package of the application's redis-om 1.x models (a package: every module in it); repeatable",
    )
    _add_app_dir(parser)
    parser.add_argument(
        "--naive-timezone",
        default="UTC",
        metavar="TZ",
        help="IANA zone in which naive legacy datetimes are read (default UTC)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="om-runbook",
        description="Migrate redis-om 0.x datetime fields (ISO strings) to redis-om 1.x (timestamps), "
        "as a Prefect workflow with backups, verification and exact rollback.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rehearse = commands.add_parser(
        "rehearse", help="full rehearsal on a throwaway local redis-server: seed, migrate, verify, roll back"
    )
    rehearse.add_argument("--count", type=int, default=100_000, help="legacy records to seed (100000)")
    rehearse.add_argument("--dirty-share", type=float, default=0.001, help="share of dirty records (0.001)")
    rehearse.add_argument("--seed", type=int, default=0, help="random seed of the sample data (0)")
    rehearse.add_argument("--parallel", type=int, default=2, help="chunks migrated at the same time (2)")
    rehearse.add_argument("--chunks", type=int, default=None, help="key-range chunks (default: one per 250k keys)")
    _add_report(rehearse)
    rehearse.add_argument(
        "--archive-dir",
        metavar="DIR",
        help="copy the throwaway backup directory's archive (reports with charts, checklist) to DIR before it goes",
    )

    run = commands.add_parser("run", help="assess, back up, migrate, verify (the production run)")
    _add_url(run)
    _add_migration_options(run)
    add_run_options(run)
    _add_report(run)

    tune = commands.add_parser("tune", help="change a running migration's batch size, parallelism or throttle")
    tune.add_argument("--backup-dir", required=True, metavar="DIR", help="the running migration's --backup-dir")
    tune.add_argument("--batch-size", type=int, default=None, help="keys per batch from the next batch on")
    tune.add_argument("--parallel", type=int, default=None, help="chunks at the same time, as chunks start")
    tune.add_argument("--max-latency-ms", type=float, default=None, help="new throttle limit (0 = off)")

    assess = commands.add_parser("assess", help="read-only assessment of what a run would change")
    _add_url(assess)
    _add_migration_options(assess)
    _add_report(assess)

    verify = commands.add_parser("verify", help="read-only check of a migration against its backup")
    _add_url(verify)
    verify.add_argument("--backup-dir", required=True, metavar="DIR")
    _add_other_server(verify)
    _add_app_dir(verify)
    _add_report(verify)

    rollback = commands.add_parser("rollback", help="put back the exact original bytes from a backup")
    _add_url(rollback)
    rollback.add_argument("--backup-dir", required=True, metavar="DIR")
    _add_other_server(rollback)
    _add_app_dir(rollback)
    _add_report(rollback)

    restore = commands.add_parser(
        "restore-snapshot",
        help="the manual way back: compare with the run's RDB snapshot (dry run), --confirm to write back what differs",
    )
    _add_url(restore)
    restore.add_argument("--backup-dir", required=True, metavar="DIR", help="the run's --backup-dir")
    restore.add_argument(
        "--target-url",
        default=None,
        metavar="URL",
        help="restore into this Redis although it is not the server the backup was taken from (said in red)",
    )
    restore.add_argument("--confirm", action="store_true", help="write (default: a dry run that changes nothing)")
    restore.add_argument(
        "--all-keys", action="store_true", help="every key of the snapshot (default: the migrated models' prefixes)"
    )
    restore.add_argument(
        "--delete-extra", action="store_true", help="with --confirm, delete keys the snapshot lacks (default: listed)"
    )
    restore.add_argument("--batch-size", type=int, default=1000, help="keys per round trip (1000)")
    restore.add_argument("--rdb-tools-dir", default=None, metavar="DIR", help="a redis-server that reads the snapshot")
    restore.add_argument("--module-dir", default=None, metavar="DIR", help="the modules the snapshot's data needs")
    _add_report(restore)

    approve = commands.add_parser("approve", help="sign a paused run's gate from a terminal")
    approve.add_argument("flow_run_id", metavar="FLOW_RUN_ID")
    approve.add_argument("--role", required=True, choices=ROLES)
    approve.add_argument("--name", required=True)
    approve.add_argument("--reject", action="store_true", help="reject (after the migration: exact rollback)")
    approve.add_argument("--comment", default="")
    approve.add_argument("--issues", default="", help="final sign-off: issues encountered")
    approve.add_argument("--lessons", default="", help="final sign-off: lessons learned")
    approve.add_argument("--recommendations", default="", help="final sign-off: recommendations")
    approve.add_argument(
        "--confirm",
        action="append",
        default=[],
        choices=list(CONFIRMATION_GATE),
        metavar="ITEM",
        help="tick a checklist item only a person can do, in the gate where it is due (repeatable): "
        + "; ".join(f"{gate}: {', '.join(key for key, _ in items)}" for gate, items in CONFIRMATIONS.items()),
    )

    status = commands.add_parser(
        "status", help="where a run is, from any terminal: exit 0 healthy, 3 a person must act, 1 failed or crashed"
    )
    status.add_argument("--backup-dir", required=True, metavar="DIR", help="the run's --backup-dir")
    status.add_argument("--watch", action="store_true", help="redraw until the run ends or crashes")
    status.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="--watch redraw period (2)")
    _add_app_dir(status)

    notifications = commands.add_parser(
        "setup-notifications",
        help="deployment set-up: a Prefect automation that posts each waiting sign-off gate to a webhook",
    )
    notifications.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help='gets {"text": ...} (Slack-compatible); default $OM_RUNBOOK_NOTIFY_WEBHOOK',
    )

    seed = commands.add_parser("seed", help="write legacy (redis-om 0.x format) sample records")
    _add_url(seed)
    seed.add_argument("--count", type=int, required=True)
    seed.add_argument("--dirty-share", type=float, default=0.0, help="share of records with a dirty value")
    seed.add_argument("--seed", type=int, default=0, help="random seed (same seed, same records)")
    return parser


PASSWORD_IN_ARGV_NOTE = (
    "om-runbook: note: a password in --redis-url shows in the process list (ps -ef) while the command runs; "
    "pass the URL in $REDIS_OM_URL to keep it out"
)


def resolve_url(args: argparse.Namespace) -> str:
    return args.redis_url or os.environ.get("REDIS_OM_URL") or DEFAULT_URL


def _url_secrets_of(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(
        secret for name in ("redis_url", "target_url") for secret in url_secrets(getattr(args, name, "") or "")
    )


def resume_command(argv: list[str], args: argparse.Namespace) -> str:
    """This very command, to run again after a crash (as `status` shows it): the same flags, secrets as ***."""
    webhook = getattr(args, "notify_webhook", None) or getattr(args, "webhook_url", None) or ""
    secrets = (*_url_secrets_of(args), webhook)
    return redact_text("om-runbook " + shlex.join(argv), secrets)


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    from om_runbook.flows import commands

    return {
        "rehearse": commands.rehearse,
        "run": commands.run,
        "assess": commands.assess,
        "verify": commands.verify,
        "rollback": commands.rollback,
        "restore-snapshot": commands.restore_snapshot,
        "approve": commands.approve,
        "tune": commands.tune,
        "seed": commands.seed,
        "status": commands.status,
        "setup-notifications": commands.setup_notifications,
    }


def main(argv: Sequence[str] | None = None) -> int:
    # Prefect's telemetry job in the embedded server prints a "database is locked" traceback on SQLite; set before
    # Prefect is imported (the commands import it), and only as a default: a user's own setting wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")  # and its client's usage notice, printed over the first run's output
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if hasattr(args, "redis_url"):
        if args.redis_url and url_secrets(args.redis_url):
            print(PASSWORD_IN_ARGV_NOTE, file=sys.stderr)
        args.redis_url = resolve_url(args)
    for name in ("notify_webhook", "webhook_url"):
        if hasattr(args, name):
            setattr(args, name, getattr(args, name) or os.environ.get("OM_RUNBOOK_NOTIFY_WEBHOOK") or None)
    args.resume_command = resume_command(argv, args)
    try:
        if hasattr(args, "app_dir"):
            from om_runbook.tasks.io.app_dir import put_app_dir_first

            put_app_dir_first(args.app_dir)
        return _commands()[args.command](args)
    except RunbookError as exc:
        secrets = _url_secrets_of(args)
        print(f"om-runbook {args.command}: error: {redact_text(str(exc), secrets)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"om-runbook {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
