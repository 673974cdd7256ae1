"""Does staging mirror production? The server facts the checklist item depends on, compared (pure): version, modules,
maxmemory policy, persistence, key counts per model prefix, search index definitions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from om_runbook.migrations.server_facts import ServerFacts

KEY_COUNT_TOLERANCE = 0.05  # a snapshot restored into staging is hours old: production's counts have moved a little


class MirrorFacts(BaseModel):
    """What the comparison reads of one server (read-only: INFO, CONFIG GET, MODULE LIST, SCAN, FT._LIST, FT.INFO)."""

    redis_version: str
    modules: list[str] | None  # None: the server would not say
    maxmemory_policy: str
    persistence: str
    keys_per_prefix: dict[str, int] = Field(default_factory=dict)
    index_definitions: dict[str, str] = Field(default_factory=dict)  # index name -> its FT.CREATE arguments


def mirror_facts(facts: ServerFacts, keys_per_prefix: dict[str, int], indexes: dict[str, str]) -> MirrorFacts:
    return MirrorFacts(
        redis_version=facts.redis_version,
        modules=sorted(facts.modules) if facts.modules is not None else None,
        maxmemory_policy=facts.maxmemory_policy,
        persistence=facts.persistence_text,
        keys_per_prefix=keys_per_prefix,
        index_definitions=indexes,
    )


def _counts_differ(staging: int, production: int) -> bool:
    return abs(staging - production) > KEY_COUNT_TOLERANCE * max(staging, production)


def mirror_differences(staging: MirrorFacts, production: MirrorFacts) -> list[str]:
    """Each way staging does not mirror production, one line each (empty: it mirrors it)."""
    found = []
    for label, ours, theirs in (
        ("Redis version", staging.redis_version, production.redis_version),
        ("modules", _modules(staging.modules), _modules(production.modules)),
        ("maxmemory-policy", staging.maxmemory_policy, production.maxmemory_policy),
        ("persistence", staging.persistence, production.persistence),
    ):
        if ours != theirs:
            found.append(f"{label}: staging {ours}, production {theirs}")
    for prefix in sorted(set(staging.keys_per_prefix) | set(production.keys_per_prefix)):
        ours_count, theirs_count = staging.keys_per_prefix.get(prefix, 0), production.keys_per_prefix.get(prefix, 0)
        if _counts_differ(ours_count, theirs_count):
            found.append(
                f"keys under {prefix}: staging {ours_count:,}, production {theirs_count:,} "
                f"(more than {100 * KEY_COUNT_TOLERANCE:g}% apart)"
            )
    for name in sorted(set(staging.index_definitions) | set(production.index_definitions)):
        ours_index, theirs_index = staging.index_definitions.get(name), production.index_definitions.get(name)
        if ours_index is None or theirs_index is None:
            found.append(f"index {name}: only on {'production' if ours_index is None else 'staging'}")
        elif ours_index != theirs_index:
            found.append(f"index {name}: defined differently (staging `{ours_index}`, production `{theirs_index}`)")
    return found


def _modules(modules: list[str] | None) -> str:
    if modules is None:
        return "unknown (MODULE LIST refused)"
    return ", ".join(modules) or "none"


def mirror_markdown(staging: MirrorFacts, production: MirrorFacts, differences: list[str]) -> list[str]:
    """The rehearsal artifact's lines: the checklist item ticked, or open with each difference."""
    if not differences:
        return [
            "- [x] Staging environment mirrors production: Redis version, modules, maxmemory-policy, persistence, "
            f"key counts per model prefix (within {100 * KEY_COUNT_TOLERANCE:g}%) and index definitions equal "
            f"(Redis {production.redis_version}, modules {_modules(production.modules)})"
        ]
    return [
        f"- [ ] Staging environment mirrors production: {len(differences)} differences",
        *[f"  - {difference}" for difference in differences],
    ]
