"""How many worker processes a CPU-bound phase (the one scan, the read-back checks) runs in (pure)."""

from __future__ import annotations

# Below this many keys, starting the processes (each imports redis, pydantic and the checks) costs about what a
# second core saves (README, "Speed and memory").
MIN_KEYS_FOR_WORKERS = 200_000


def worker_count(keys: int, chunks: int, cpus: int | None, requested: int | None = None) -> int:
    """One process per core, never more than there are chunks; 1 (this process only) for a small phase. `requested`
    (--workers) overrides the core count and the size rule."""
    if requested is not None:
        return max(1, min(requested, chunks))
    if keys < MIN_KEYS_FOR_WORKERS:
        return 1
    return max(1, min(cpus or 1, chunks))
