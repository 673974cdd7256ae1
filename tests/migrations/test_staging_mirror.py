"""Staging against production: every fact the checklist item depends on, compared (pure)."""

from __future__ import annotations

from om_runbook.migrations.server_facts import ServerFacts
from om_runbook.migrations.staging_mirror import MirrorFacts, mirror_differences, mirror_facts, mirror_markdown

PRODUCTION = MirrorFacts(
    redis_version="8.2.1",
    modules=["ReJSON", "search"],
    maxmemory_policy="noeviction",
    persistence="RDB saves on, AOF on",
    keys_per_prefix={":app.Order:": 10_000, ":app.Customer:": 4_000},
    index_definitions={"app:order:index": "ON HASH PREFIX 1 :app.Order: SCHEMA placed_at NUMERIC"},
)


def test_a_staging_that_mirrors_production_ticks_the_item():
    staging = PRODUCTION.model_copy(update={"keys_per_prefix": {":app.Order:": 9_600, ":app.Customer:": 4_100}})
    assert mirror_differences(staging, PRODUCTION) == []  # a snapshot a few hours old: within 5%
    (line,) = mirror_markdown(staging, PRODUCTION, [])
    assert line.startswith("- [x] Staging environment mirrors production: Redis version, modules, maxmemory-policy")
    assert "(Redis 8.2.1, modules ReJSON, search)" in line


def test_every_difference_is_listed_one_line_each():
    staging = MirrorFacts(
        redis_version="7.0.15",
        modules=[],
        maxmemory_policy="allkeys-lru",
        persistence="RDB saves off, AOF off",
        keys_per_prefix={":app.Order:": 9_400, ":app.Customer:": 4_000, ":app.Old:": 3},
        index_definitions={"app:order:index": "ON HASH PREFIX 1 :app.Order: SCHEMA placed_at TAG", "x": "ON HASH"},
    )
    differences = mirror_differences(staging, PRODUCTION)
    assert differences == [
        "Redis version: staging 7.0.15, production 8.2.1",
        "modules: staging none, production ReJSON, search",
        "maxmemory-policy: staging allkeys-lru, production noeviction",
        "persistence: staging RDB saves off, AOF off, production RDB saves on, AOF on",
        "keys under :app.Old:: staging 3, production 0 (more than 5% apart)",
        "keys under :app.Order:: staging 9,400, production 10,000 (more than 5% apart)",
        "index app:order:index: defined differently (staging `ON HASH PREFIX 1 :app.Order: SCHEMA placed_at TAG`, "
        "production `ON HASH PREFIX 1 :app.Order: SCHEMA placed_at NUMERIC`)",
        "index x: only on staging",
    ]
    lines = mirror_markdown(staging, PRODUCTION, differences)
    assert lines[0] == "- [ ] Staging environment mirrors production: 8 differences"
    assert lines[1] == "  - Redis version: staging 7.0.15, production 8.2.1"
    unknown = staging.model_copy(update={"modules": None})
    assert "modules: staging unknown (MODULE LIST refused), production ReJSON, search" in mirror_differences(
        unknown, PRODUCTION
    )


def test_the_facts_read_from_a_server_say_its_persistence_in_words():
    facts = ServerFacts(
        redis_version="7.0.15",
        role="master",
        cluster_enabled=False,
        modules=["search"],
        used_memory=1,
        maxmemory=0,
        rdb_enabled=None,
        aof_enabled=False,
        total_keys=5,
    )
    mirrored = mirror_facts(facts, {":a:": 5}, {})
    assert mirrored.persistence == "RDB saves unknown (CONFIG refused), AOF off"
    assert mirrored.modules == ["search"] and mirrored.keys_per_prefix == {":a:": 5}
