"""The run's parameters, declared once as RunSettings' fields, read here by the command line (`om-runbook run`'s
flags) and the production deployment (its UI form): types, bounds, defaults and descriptions come from the field.

The flag names are a contract with our users' automation, so a field whose flag is not `--field-name` says so here."""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo

from om_runbook.migrations.communication import parse_contact
from om_runbook.migrations.config import RunSettings
from om_runbook.migrations.signoff import ROLES, GateRoles, parse_gate_roles

# a field whose flag is not --field-name; a "--no-" flag turns off a field that defaults to True
RENAMED_FLAGS = {
    "rdb_snapshot": "--no-rdb-snapshot",
    "auto_rollback": "--no-auto-rollback",
    "signoff_roles": "--roles",
    "gate_timeout_seconds": "--gate-timeout",
    "gate_poll_seconds": "--gate-poll",
    "contacts": "--contact",
    "progress_every_minutes": "--progress-every",
}
# fields with a flag of their own elsewhere (shared by several commands), or set by the command line itself
NOT_RUN_FLAGS = {"redis_url", "models", "naive_timezone", "report_json", "resume_command", "app_dir"}
# what the production deployment does not offer, and why
NOT_DEPLOYMENT_PARAMETERS = {
    "redis_url": "read from the Secret block named by redis_url_secret, never a plain parameter",
    "auto_approve": "rehearsals only: the production deployment's gates are answered by people",
    "notify_webhook": "a secret URL: deployments notify through the automation of `om-runbook setup-notifications`",
    "resume_command": "set by the command line; a deployment run is resumed by running it again",
}
METAVARS = {
    "chunk_deployment": "FLOW/DEPLOYMENT",
    "redis_url_secret": "BLOCK",
    "notify_webhook": "URL",
    "snapshot_reference": "ID",
    "snapshot_taken_at": "TIME",
    "app_check": "CMD",
    "progress_every_minutes": "MINUTES",
}
ENVIRONMENT_DEFAULTS = {"notify_webhook": "$OM_RUNBOOK_NOTIFY_WEBHOOK (keeps the URL out of the process list)"}


def run_fields() -> dict[str, FieldInfo]:
    return {name: info for name, info in RunSettings.model_fields.items() if name not in NOT_RUN_FLAGS}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """One flag per RunSettings field of a production run."""
    for name, info in run_fields().items():
        flag = RENAMED_FLAGS.get(name, "--" + name.replace("_", "-"))
        default = info.get_default(call_default_factory=True)
        described = info.description or ""
        if name in ENVIRONMENT_DEFAULTS:
            described += f"; default {ENVIRONMENT_DEFAULTS[name]}"
        if info.annotation is bool:
            described = f"turn off: {described}" if default else described
            parser.add_argument(flag, dest=name, action="store_false" if default else "store_true", help=described)
            continue
        if name == "signoff_roles":
            parser.add_argument(
                flag, dest=name, action="append", default=[], metavar="GATE=ROLE[,ROLE]",
                help='roles that must approve a gate (go-no-go, acceptance, final); repeatable; "final=" for none. '
                "Roles: " + ", ".join(ROLES),
            )  # fmt: skip
            continue
        if name == "contacts":
            parser.add_argument(
                flag, dest=name, action="append", default=[], metavar="ROLE=NAME,CONTACT",
                help=f"{described}; repeatable. Roles: " + ", ".join(ROLES),
            )  # fmt: skip
            continue
        kind, choices = _scalar(info.annotation)
        shown = "" if default is None or name in ENVIRONMENT_DEFAULTS else f" (default {default})"
        metavar = None if choices else METAVARS.get(name, _metavar(kind))
        parser.add_argument(
            flag, dest=name, type=kind, choices=choices, default=default, metavar=metavar, help=described + shown
        )


def run_option_values(args: argparse.Namespace) -> dict[str, Any]:
    """The RunSettings values the run's flags gave."""
    values = {name: getattr(args, name) for name in run_fields()}
    values["signoff_roles"] = parse_gate_roles(values["signoff_roles"])
    values["contacts"] = [parse_contact(spec) for spec in values["contacts"]]
    return values


def deployment_parameter(name: str) -> Any:
    """A RunSettings field as `Annotated[type, its bounds, Field(description)]`, for a deployment flow's signature."""
    info = RunSettings.model_fields[name]
    annotation = Any if info.annotation is None else info.annotation
    if name == "signoff_roles":
        annotation = GateRoles | None  # the form leaves it empty: the default roles
    return Annotated[(annotation, *info.metadata, Field(description=info.description))]


def with_parameter_docs(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function, its docstring given an Args section (what Prefect's form shows beside each field) from the
    descriptions in its parameters' `Annotated[..., Field(description=...)]`, which the form does not read itself."""
    lines = []
    for name, parameter in inspect.signature(function).parameters.items():
        metadata = getattr(parameter.annotation, "__metadata__", ())
        described = [item.description for item in metadata if isinstance(item, FieldInfo) and item.description]
        if described:
            lines.append(f"    {name}: {described[-1]}\n")
    function.__doc__ = (function.__doc__ or "").rstrip() + "\n\nArgs:\n" + "".join(lines)
    return function


def deployment_default(name: str) -> Any:
    return None if name == "signoff_roles" else RunSettings.model_fields[name].get_default(call_default_factory=True)


def _scalar(annotation: Any) -> tuple[type, tuple[str, ...] | None]:
    """argparse's type (and choices, for a Literal) of a field's type, Optional unwrapped."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return str, tuple(arguments)
    if arguments and len(arguments) == 1 and typing.get_origin(annotation) is not typing.Literal:
        return _scalar(arguments[0])
    if annotation is SecretStr:
        return str, None
    return annotation, None


def _metavar(kind: type) -> str | None:
    return {Path: "DIR", int: "N", float: "X"}.get(kind)
