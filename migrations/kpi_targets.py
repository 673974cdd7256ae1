"""The checklist's KPIs with their targets, each marked met / not met, and the rollback criteria (pure)."""

from __future__ import annotations

import math

from om_runbook.migrations.report import KpiCheck, Kpis, LatencySummary, SystemMetrics

MAX_ERROR_RATE = 0.01
MIN_SUCCESS_RATE = 0.99
MAX_DOWNTIME_SECONDS = 2 * 3600
MAX_PERFORMANCE_IMPACT = 0.10
MAX_RESOURCE_SHARE = 0.80
# A rise of the median below this is noise, whatever its share: a loopback PING of 0.1 ms that becomes 0.13 ms is
# "30%" and nothing an application notices (one network round trip in a data centre is 0.2 to 0.5 ms).
NOISE_FLOOR_MS = 0.5


def summarize_latencies(milliseconds: list[float]) -> LatencySummary:
    """Nearest-rank percentiles of the samples."""
    if not milliseconds:
        return LatencySummary()
    ordered = sorted(milliseconds)

    def rank(share: float) -> float:
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    return LatencySummary(samples=len(ordered), p50_ms=rank(0.50), p99_ms=rank(0.99), max_ms=ordered[-1])


def performance_impact(baseline: LatencySummary, during: LatencySummary) -> float | None:
    """Relative growth of the median round trip while migrating (0.05 = 5% slower)."""
    if not baseline.samples or not during.samples or baseline.p50_ms <= 0:
        return None
    return max(0.0, during.p50_ms / baseline.p50_ms - 1.0)


def _share(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.2f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.1f} s" if minutes else f"{rest:.1f} s"


def _below(value: float | None, limit: float) -> bool | None:
    return None if value is None else value < limit


def within_target(before: LatencySummary, during: LatencySummary) -> tuple[float, float, bool, bool]:
    """(the median's relative rise, its rise in ms, whether that meets the < 10% target, whether only the noise floor
    made it meet it): the one rule for the performance KPI and the after-the-run item."""
    rise = during.p50_ms - before.p50_ms
    impact = performance_impact(before, during) or 0.0
    within_noise = impact >= MAX_PERFORMANCE_IMPACT and rise < NOISE_FLOOR_MS
    return impact, rise, impact < MAX_PERFORMANCE_IMPACT or within_noise, within_noise


def performance_check(system: SystemMetrics) -> KpiCheck:
    """The checklist's "Performance impact < 10%": the median of the application's own read (PING when no model key
    was found) during the run against before it; met when under 10%, or when the median rose by less than the
    noise floor. The value says the figures and, when the floor decided, that it did."""
    baseline, during, what = system.baseline_app_latency, system.migration_app_latency, "application read"
    if not (baseline and baseline.samples and during and during.samples):
        baseline, during, what = system.baseline_latency, system.migration_latency, "PING"
    target = f"< {100 * MAX_PERFORMANCE_IMPACT:g}% (a median rise under {NOISE_FLOOR_MS:g} ms is noise)"
    name = f"performance impact (median {what}, before vs during)"
    impact = performance_impact(baseline, during) if baseline and during else None
    if impact is None or baseline is None or during is None:
        return KpiCheck(name=name, value="not measured", target=target, met=None)
    impact, rise, met, within_noise = within_target(baseline, during)
    value = (
        f"{100 * impact:.2f}% (p50 {baseline.p50_ms:.3f} -> {during.p50_ms:.3f} ms, {rise:+.3f} ms; "
        f"p99 {baseline.p99_ms:.3f} -> {during.p99_ms:.3f} ms)" + (", under the noise floor" if within_noise else "")
    )
    return KpiCheck(name=name, value=value, target=target, met=met)


def evaluate_kpis(kpis: Kpis, system: SystemMetrics) -> list[KpiCheck]:
    """The checklist's "Key Performance Indicators" section, filled in."""
    return [
        KpiCheck(name="total keys migrated", value=f"{kpis.keys_migrated:,}", target="all planned keys", met=None),
        KpiCheck(name="migration duration", value=_duration(kpis.duration_seconds), target="(recorded)", met=None),
        KpiCheck(
            name="error rate",
            value=_share(kpis.error_rate),
            target=f"< {100 * MAX_ERROR_RATE:g}%",
            met=kpis.error_rate < MAX_ERROR_RATE,
        ),
        KpiCheck(
            name="success rate",
            value=_share(kpis.success_rate),
            target=f"> {100 * MIN_SUCCESS_RATE:g}%",
            met=kpis.success_rate > MIN_SUCCESS_RATE,
        ),
        KpiCheck(
            name="application downtime (go to acceptance)",
            value=_duration(system.downtime_seconds),
            target="< 2 hours",
            met=_below(system.downtime_seconds, MAX_DOWNTIME_SECONDS),
        ),
        performance_check(system),
        KpiCheck(
            name="resource peak: memory of maxmemory (or of system memory)",
            value=_share(system.memory_peak_share),
            target=f"< {100 * MAX_RESOURCE_SHARE:g}%",
            met=_below(system.memory_peak_share, MAX_RESOURCE_SHARE),
        ),
        KpiCheck(
            name="resource peak: Redis CPU (one core)",
            value=_share(system.cpu_peak_share),
            target=f"< {100 * MAX_RESOURCE_SHARE:g}%",
            met=_below(system.cpu_peak_share, MAX_RESOURCE_SHARE),
        ),
    ]


def rollback_reasons(kpis: Kpis, max_error_rate: float, verification_passed: bool) -> list[str]:
    """The checklist's rollback decision criteria that the measured outcome meets (empty: keep the data)."""
    reasons = []
    if kpis.error_rate > max_error_rate:
        reasons.append(f"error rate {100 * kpis.error_rate:.2f}% is above the threshold of {100 * max_error_rate:g}%")
    if not verification_passed:
        reasons.append("verification failed: data integrity issues discovered")
    return reasons


def kpi_lines(checks: list[KpiCheck]) -> list[str]:
    """The KPIs as markdown bullets with their targets and verdicts (sign-off forms, notices)."""
    marks = {True: "met", False: "NOT MET", None: "-"}
    return [f"- {c.name}: {c.value} (target {c.target}, {marks[c.met]})" for c in checks]
