"""The staging rehearsal compares staging with production from the production Secret, reading only server facts:
equal facts tick "Staging environment mirrors production", each difference is listed; production is never written
(its keyspace, TTLs included, is the same after)."""

from __future__ import annotations

import pytest
from prefect.blocks.system import Secret
from pydantic import SecretStr

from om_runbook.flows.deployment_flows import staging_mirror_lines, staging_rehearsal
from om_runbook.tasks.io.local_redis import free_port
from tests.flows.helpers import keyspace, seed

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _secrets(staging_url: str, production_url: str) -> None:
    Secret(value=staging_url).save("mirror-staging-url", overwrite=True)
    Secret(value=production_url).save("mirror-production-url", overwrite=True)


def test_a_staging_like_production_ticks_the_item_and_production_is_only_read(redis_server_factory, tmp_path):
    staging, production = redis_server_factory(), redis_server_factory()
    seed(production.client(), 300)  # what the rehearsal seeds into staging: the same models and counts
    before = keyspace(production.client())
    _secrets(staging.url, production.url)
    result = staging_rehearsal(
        "mirror-staging-url", str(tmp_path), seed_count=300, production_redis_url_secret="mirror-production-url"
    )
    assert result.passed, result.criteria
    assert len(result.staging_mirror) == 1, result.staging_mirror
    assert result.staging_mirror[0].startswith("- [x] Staging environment mirrors production: Redis version, ")
    assert keyspace(production.client()) == before


def test_each_difference_from_production_is_listed_and_production_is_only_read(redis_server, redis_stack_server):
    production = redis_stack_server  # Redis 8.2 with modules and an index; staging is a plain Redis 7.0
    client = production.client()
    seed(client, 1000)
    client.config_set("maxmemory-policy", "volatile-lru")
    client.execute_command(
        "FT.CREATE", "shop:order", "ON", "HASH", "PREFIX", "1", ":om_runbook.migrations.sample_models.Order:",
        "SCHEMA", "placed_at", "TAG",
    )  # fmt: skip
    before = keyspace(client)
    seed(redis_server.client(), 300)  # staging as a rehearsal leaves it (the whole rehearsal is the test above)
    lines = staging_mirror_lines(SecretStr(redis_server.url), production.url, "om_runbook.migrations.sample_models")
    assert lines[0].startswith("- [ ] Staging environment mirrors production: ") and lines[0].endswith(" differences")
    shown = "\n".join(lines)
    assert "  - Redis version: staging 7.0." in shown and ", production 8.2." in shown
    assert "  - modules: staging none, production " in shown and "search" in shown
    assert "  - maxmemory-policy: staging noeviction, production volatile-lru" in shown
    assert "  - keys under :om_runbook.migrations.sample_models.Order:: staging 150, production 500" in shown
    assert "  - index shop:order: only on production" in shown
    assert keyspace(client) == before


def test_a_production_staging_cannot_reach_leaves_the_item_open_with_the_reason_and_the_rehearsal_passes(
    any_redis_server, tmp_path
):
    """Staging often cannot reach production: the comparison says why it was not made, without the password, and the
    rehearsal's own result stands (it failed the whole rehearsal, after it had passed, before)."""
    port = free_port()  # a loopback port nothing listens on
    _secrets(any_redis_server.url, f"redis://app:prod-pass-9@127.0.0.1:{port}/0")
    result = staging_rehearsal(
        "mirror-staging-url", str(tmp_path), seed_count=200, production_redis_url_secret="mirror-production-url"
    )
    assert result.passed, result.criteria
    assert len(result.staging_mirror) == 1, result.staging_mirror
    line = result.staging_mirror[0]
    assert line.startswith(
        "- [ ] Staging environment mirrors production: not compared (production could not be read: cannot connect "
        f"to Redis at redis://app:***@127.0.0.1:{port}/0: "
    ), line
    assert "Connection refused" in line and "prod-pass-9" not in line


def test_a_production_user_refused_scan_leaves_the_item_open_with_the_reason(any_redis_server):
    """An ACL refusal (here SCAN) is a reason, like an unreachable server: the item stays open, nothing is raised, and
    the user's password is not in the line."""
    client = any_redis_server.client()
    seed(client, 50)
    client.execute_command("ACL", "SETUSER", "prod", "on", ">prod-pass-7", "~*", "&*", "+@all", "-scan")
    production = f"redis://prod:prod-pass-7@127.0.0.1:{any_redis_server.port}/0"
    lines = staging_mirror_lines(SecretStr(any_redis_server.url), production, "om_runbook.migrations.sample_models")
    assert len(lines) == 1 and lines[0].startswith(
        "- [ ] Staging environment mirrors production: not compared (production could not be read: "
    ), lines
    assert "no permissions to run the 'scan' command" in lines[0] and "prod-pass-7" not in lines[0], lines
