"""How far a phase is, as a person reads it: done of total, rate, ETA, durations in words (pure)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_SECONDS_FOR_RATE = 0.5  # before that a rate (and an ETA) would be noise


def human_duration(seconds: float | None) -> str:
    """'under a second', 'about 40 s', 'about 3 min', 'about 2 h 5 min'; 'unknown' for None or negative."""
    if seconds is None or seconds < 0:
        return "unknown"
    if seconds < 1:
        return "under a second"
    if seconds < 60:
        return f"about {seconds:.0f} s"
    if seconds < 3600:
        return f"about {seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")


def clock(seconds: float) -> str:
    """H:MM:SS, for an ETA that counts down."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True)
class PhaseFigures:
    """`done` of `total` units after `seconds`; rate and ETA once the phase has run long enough to tell. `start`
    units were done before (by a process before a resume): the rate counts only what was done in `seconds`."""

    done: int
    total: int
    seconds: float
    unit: str = "keys"
    start: int = 0

    @property
    def rate(self) -> float | None:
        if self.seconds < MIN_SECONDS_FOR_RATE or self.done <= self.start:
            return None
        return (self.done - self.start) / self.seconds

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        if rate is None:
            return None
        return max(0, self.total - self.done) / rate

    @property
    def share(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def text(self) -> str:
        """'120,000 of 400,000 keys (30.0%), 35,000 keys/s, ETA 0:00:08'."""
        rate, eta = self.rate, self.eta_seconds
        return ", ".join(
            [
                f"{_amount(self.done, self.unit, with_unit=False)} of {_amount(self.total, self.unit)} "
                f"({100 * self.share:.1f}%)",
                f"{_amount(round(rate), self.unit)}/s" if rate is not None else "measuring rate",
                f"ETA {clock(eta)}" if eta is not None else "ETA measuring",
            ]
        )

    def phase_rate(self) -> float | None:
        """The rate of a phase that ended, however short: what it did over the whole time it ran."""
        return (self.done - self.start) / self.seconds if self.seconds > 0 else None

    def done_text(self) -> str:
        """'100,000 keys in 2.1 s (47,000 keys/s)' for a phase that ended; a resumed one says what it did itself:
        '100,000 keys (40,000 in this process) in 0.9 s (44,000 keys/s)'."""
        rate = self.phase_rate()
        rate_text = f" ({_amount(round(rate), self.unit)}/s)" if rate is not None else ""
        own = f" ({_amount(self.done - self.start, self.unit, with_unit=False)} in this process)" if self.start else ""
        return f"{_amount(self.done, self.unit)}{own} in {self.seconds:.1f} s{rate_text}"


def _amount(value: int, unit: str, with_unit: bool = True) -> str:
    if unit == "bytes":
        return f"{value / 1e6:,.1f}" + (" MB" if with_unit else "")
    return f"{value:,}" + (f" {unit}" if with_unit else "")
