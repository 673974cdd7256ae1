"""The run's parameters are declared once (RunSettings): the `run` flags and the production deployment's form are
read from its fields, so a field added there reaches both, with its bounds and default."""

from __future__ import annotations

import inspect

import pytest

from om_runbook.flows.cli import build_parser
from om_runbook.flows.deployment_flows import production_migration
from om_runbook.flows.run_options import NOT_DEPLOYMENT_PARAMETERS, NOT_RUN_FLAGS, run_option_values
from om_runbook.migrations.config import RunSettings

pytestmark = pytest.mark.pure


def _run_args(*flags: str):
    return build_parser().parse_args(["run", "--models", "app.models", *flags])


def test_every_run_setting_has_a_flag_of_the_run_command():
    args = vars(_run_args())
    assert set(RunSettings.model_fields) - NOT_RUN_FLAGS <= set(args)
    assert NOT_RUN_FLAGS - {"resume_command"} <= set(args)  # the shared flags: --redis-url, --models, ...


def test_flag_defaults_are_the_settings_defaults():
    values = run_option_values(_run_args())
    for name, value in values.items():
        assert value == RunSettings.model_fields[name].get_default(call_default_factory=True), name


def test_the_contract_flags_keep_their_names_and_meaning():
    values = run_option_values(
        _run_args(
            "--no-rdb-snapshot", "--no-auto-rollback", "--gate-timeout", "60", "--gate-poll", "2",
            "--roles", "final=", "--schema-mode", "alias", "--parallel", "8", "--live-traffic",
            "--backup-dir", "/tmp/b", "--failure-mode", "fail", "--max-latency-ms", "2.5",
        )
    )  # fmt: skip
    assert values["rdb_snapshot"] is False and values["auto_rollback"] is False
    assert values["gate_timeout_seconds"] == 60 and values["gate_poll_seconds"] == 2
    assert values["signoff_roles"].final == [] and values["schema_mode"] == "alias"
    assert values["parallel"] == 8 and values["live_traffic"] is True and values["failure_mode"] == "fail"
    assert str(values["backup_dir"]) == "/tmp/b" and values["max_latency_ms"] == 2.5


def test_the_communication_and_application_check_flags():
    values = run_option_values(
        _run_args(
            "--contact", "Technical Lead=Ada,+44 20 7946 0000",
            "--contact", "Operations Manager=Grace,grace@example.com",
            "--progress-every", "15", "--app-check", "pytest tests/smoke -x", "--app-check-timeout-seconds", "90",
        )
    )  # fmt: skip
    assert [(c.role, c.name, c.contact) for c in values["contacts"]] == [
        ("Technical Lead", "Ada", "+44 20 7946 0000"),
        ("Operations Manager", "Grace", "grace@example.com"),
    ]
    assert values["progress_every_minutes"] == 15 and values["app_check"] == "pytest tests/smoke -x"
    assert values["app_check_timeout_seconds"] == 90


def test_a_choice_outside_the_literal_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _run_args("--schema-mode", "drop")
    assert "invalid choice: 'drop'" in capsys.readouterr().err


def test_the_production_deployment_offers_every_parameter_of_a_production_run():
    offered = set(inspect.signature(production_migration.fn).parameters)
    assert offered == set(RunSettings.model_fields) - set(NOT_DEPLOYMENT_PARAMETERS) | {"redis_url_secret", "app_dir"}


def test_the_deployment_form_carries_the_settings_bounds_defaults_and_descriptions():
    schema = production_migration.parameters.model_dump()
    assert sorted(schema["required"]) == ["backup_dir", "models", "redis_url_secret"]
    batch = schema["properties"]["batch_size"]
    assert (batch["minimum"], batch["maximum"], batch["default"]) == (1, 100_000, 1000)
    assert batch["description"] == RunSettings.model_fields["batch_size"].description
    assert schema["properties"]["parallel"]["maximum"] == 64
    assert schema["properties"]["schema_mode"]["enum"] == ["recreate", "alias", "skip"]
    assert schema["properties"]["live_traffic"]["default"] is False


def test_the_deployment_refuses_a_value_outside_the_settings_bounds():
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError):
        production_migration.validate_parameters(
            {"redis_url_secret": "s", "models": "m", "backup_dir": "/b", "parallel": 65}
        )
    accepted = production_migration.validate_parameters({"redis_url_secret": "s", "models": "m", "backup_dir": "/b"})
    assert accepted["models"] == "m" and accepted["parallel"] == RunSettings.model_fields["parallel"].default


@pytest.mark.parametrize("command", ["assess", "run"])
def test_models_is_repeatable_and_app_dir_defaults_to_the_current_directory(command):
    args = build_parser().parse_args([command, "--models", "app.models", "--models", "app.legacy"])
    assert args.models == ["app.models", "app.legacy"] and args.app_dir is None


@pytest.mark.parametrize("command", ["verify", "rollback", "status"])
def test_the_commands_that_read_a_backup_take_app_dir(command):
    assert build_parser().parse_args([command, "--backup-dir", "b", "--app-dir", "/srv/app"]).app_dir == "/srv/app"


def test_every_deployment_flow_takes_the_application_directory():
    from om_runbook.flows.deployment_flows import key_range_on_worker, production_rollback, staging_rehearsal

    for deployed in (production_migration, key_range_on_worker, production_rollback, staging_rehearsal):
        app_dir = deployed.parameters.model_dump()["properties"]["app_dir"]
        assert app_dir["default"] is None and "work pool's working directory" in app_dir["description"]
